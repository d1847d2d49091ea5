"""The routed ``openai.AsyncOpenAI`` (``router.openai_client()``), against the simulator.

The airline agent loop (tests/sdk_harness.py) through Chat Completions (plain, ``stream=True``,
the ``stream()`` helper, ``with_raw_response``) and the Responses API (plain and streamed):
one ``agentroute.route`` span per model call, the escalation after the tool error, the model
the router chose in every request, exact usage, one session. Then: a named session, a rate
limit failed over with no SDK retry, what is refused when the client is built, and the key
never shown.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from agentroute import AllAttemptsFailed, ConfigurationError, Router
from agentroute.sim.scenario import run_tool
from agentroute.sim.server import Simulator
from agentroute.telemetry import attributes as A
from tests.helpers import require_extra, simulator_fixture
from tests.sdk_harness import (
    CHAT_TOOLS,
    SECRET,
    SIM_CONFIG,
    SYSTEM_PROMPT,
    USER_REQUEST,
    Spans,
    check_loop,
    check_usage,
    router_config,
)

openai = require_extra("openai", "openai")

from agentroute.integrations.openai import RoutedAsyncOpenAI  # noqa: E402

pytestmark = [
    pytest.mark.anyio,
    # The SDK stops reading at its stream's last event and leaves its chain of async
    # generators (SSE decoder, body iterator) to the finalizer; trio warns about each.
    pytest.mark.filterwarnings("ignore:Async generator '.*':ResourceWarning"),
]


sim = simulator_fixture(SIM_CONFIG)


def start() -> list[dict[str, Any]]:
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": USER_REQUEST}]


async def chat_step(client: RoutedAsyncOpenAI, messages: list[Any], mode: str) -> dict[str, Any]:
    """One model call the way ``mode`` makes it; the assistant message it answered."""
    args: dict[str, Any] = {"model": "gpt-whatever", "messages": messages, "tools": CHAT_TOOLS}
    if mode == "plain":
        response = await client.chat.completions.create(**args)
        assert isinstance(response, openai.types.chat.ChatCompletion)
    elif mode == "raw":
        raw = await client.chat.completions.with_raw_response.create(**args)
        assert raw.headers["content-type"].startswith("application/json")
        response = raw.parse()
    elif mode == "helper":
        async with client.chat.completions.stream(**args) as stream:
            async for _ in stream:
                pass
            response = await stream.get_final_completion()
    else:  # a raw stream, assembled here
        stream = await client.chat.completions.create(**args, stream=True)
        assert isinstance(stream, openai.AsyncStream)
        text, calls = "", {}
        async for chunk in stream:
            for choice in chunk.choices:
                text += choice.delta.content or ""
                for call in choice.delta.tool_calls or ():
                    got = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                    got["id"] += call.id or ""
                    got["name"] += call.function.name or ""
                    got["arguments"] += call.function.arguments or ""
        message: dict[str, Any] = {"role": "assistant", "content": text or None}
        if calls:
            message["tool_calls"] = [
                {"id": c["id"], "type": "function", "function": {k: c[k] for k in c if k != "id"}}
                for c in calls.values()
            ]
        return message
    return dict(response.choices[0].message.model_dump(exclude_none=True))


async def chat_loop(client: RoutedAsyncOpenAI, mode: str) -> int:
    """The agent loop: call, run the tools asked for, until an answer. The number of calls."""
    messages = start()
    for calls in range(1, 10):
        message = await chat_step(client, messages, mode)
        messages.append(message)
        if not message.get("tool_calls"):
            return calls
        for call in message["tool_calls"]:
            output = run_tool(call["function"]["name"], json.loads(call["function"]["arguments"]))
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": output})
    raise AssertionError("the agent never answered")


@pytest.mark.parametrize("mode", ["plain", "stream", "helper", "raw"])
async def test_chat_completions_loop_escalates_with_exact_usage(sim: Simulator, mode: str) -> None:
    spans = Spans()
    router = Router(router_config(sim, "openai"), tracer_provider=spans.provider)
    async with router.openai_client(stream_usage=True) as client:
        calls = await chat_loop(client, mode)
    check_loop(spans, sim.records("cheap"), calls, "openai")


async def test_a_stream_without_usage_is_charged_the_estimate(sim: Simulator) -> None:
    """Without stream_usage the request is sent as the caller wrote it: no usage chunk."""
    spans = Spans()
    router = Router(router_config(sim, "openai"), tracer_provider=spans.provider)
    async with router.openai_client() as client:
        stream = await client.chat.completions.create(model="m", messages=start(), stream=True)
        chunks = [chunk async for chunk in stream]
    assert all(chunk.choices for chunk in chunks)  # no usage chunk was asked for
    (chat,) = spans.chats
    assert (chat.attributes or {})[A.USAGE_ESTIMATED] is True


async def responses_loop(client: RoutedAsyncOpenAI, stream: bool) -> int:
    tools = [{"type": "function", **t["function"]} for t in CHAT_TOOLS]
    items: list[Any] = [{"role": "user", "content": USER_REQUEST}]
    for calls in range(1, 10):
        args = {"model": "m", "input": items, "instructions": SYSTEM_PROMPT, "tools": tools}
        if stream:
            events = await client.responses.create(**args, stream=True)
            done = [e async for e in events if e.type == "response.completed"]
            response = done[0].response
        else:
            response = await client.responses.create(**args)
            assert isinstance(response, openai.types.responses.Response)
        asked = [item for item in response.output if item.type == "function_call"]
        items += [item.model_dump(exclude_none=True) for item in response.output]
        if not asked:
            return calls
        for call in asked:
            output = run_tool(call.name, json.loads(call.arguments))
            items.append(
                {"type": "function_call_output", "call_id": call.call_id, "output": output}
            )
    raise AssertionError("the agent never answered")


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_responses_loop_escalates_with_exact_usage(sim: Simulator, stream: bool) -> None:
    spans = Spans()
    router = Router(router_config(sim, "openai"), tracer_provider=spans.provider)
    async with router.openai_client() as client:
        calls = await responses_loop(client, stream)
    check_loop(spans, sim.records("cheap"), calls, "openai")


async def test_a_call_names_its_session(sim: Simulator) -> None:
    spans = Spans()
    router = Router(router_config(sim, "openai"), tracer_provider=spans.provider)
    client = router.openai_client()
    await client.chat.completions.create(model="m", messages=start(), agentroute_session="run-1")
    with router.bind_session("thread-7"):
        await client.chat.completions.create(model="m", messages=start())
    async with router.session(id="explicit"):
        await client.responses.create(model="m", input=USER_REQUEST, instructions=SYSTEM_PROMPT)
    await client.close()
    ids = [(r.attributes or {})[A.GEN_AI_CONVERSATION_ID] for r in spans.routes]
    assert ids == ["run-1", "thread-7", "explicit"]
    with pytest.raises(ConfigurationError):  # bind_session's check: a non-empty string
        await client.chat.completions.create(model="m", messages=start(), agentroute_session="")


async def test_a_rate_limit_fails_over_without_an_sdk_retry(sim: Simulator) -> None:
    spans = Spans()
    router = Router(router_config(sim, "openai", flaky=True), tracer_provider=spans.provider)
    async with router.openai_client() as client:
        answer = await client.chat.completions.create(model="m", messages=start())
    assert isinstance(answer, openai.types.chat.ChatCompletion)
    (failed,) = sim.records("flaky")  # one request: the SDK did not retry it
    assert failed.status == 429
    (route,) = spans.routes
    assert (route.attributes or {})[A.ATTEMPT_COUNT] == 2
    first, second = spans.chats
    assert (first.attributes or {})[A.ERROR_TYPE] == "RateLimited"
    assert (second.attributes or {})[A.DEPLOYMENT] == "main/small-model"
    check_usage(spans.chats, sim.records("cheap"), "openai")


async def test_the_key_never_shows(sim: Simulator) -> None:
    spans = Spans()
    config = router_config(sim, "openai")
    config["providers"]["main"]["base_url"] = f"{sim.url}/nowhere/v1"  # every call: a 404
    router = Router(config, tracer_provider=spans.provider)
    client = router.openai_client()
    assert SECRET not in repr(client)
    with pytest.raises(AllAttemptsFailed) as caught:
        await client.chat.completions.create(model="m", messages=start())
    seen, err = [], caught.value
    for attempt in err.attempts:
        seen.append(attempt.error)
    chain: BaseException | None = err
    while chain is not None:
        seen.append(chain)
        chain = chain.__cause__ or chain.__context__
    assert len(seen) > 1
    for exc in seen:
        assert SECRET not in f"{exc!s} {exc!r} {getattr(exc, 'body', '')}"
    assert SECRET not in spans.text()
    await client.close()


async def test_what_is_refused_when_the_client_is_built(sim: Simulator) -> None:
    mixed = router_config(sim, "openai")
    mixed["providers"]["claude"] = {"kind": "anthropic", "base_url": sim.base_url("claude")}
    mixed["models"]["big-model"]["deployments"] = [{"provider": "claude", "name": "big-model"}]
    with pytest.raises(ConfigurationError, match=r"big-model on claude \(kind anthropic, tier c"):
        Router(mixed).openai_client()
    router = Router(router_config(sim, "openai"))
    with pytest.raises(ConfigurationError, match="max_retries=2 is refused"):
        router.openai_client(max_retries=2)
    for name in ("api_key", "base_url"):
        with pytest.raises(ConfigurationError, match=f"{name} comes from each deployment"):
            router.openai_client(**{name: "x"})
    with pytest.raises(ConfigurationError, match="takes no option 'retries'"):
        router.openai_client(retries=0)
    router.openai_client(max_retries=0, timeout=5)  # accepted
    configured = Router(router_config(sim, "openai", provider_kwargs={"base_url": "x"}))
    with pytest.raises(ConfigurationError, match=r"providers.main.kwargs.base_url"):
        configured.openai_client()


async def test_default_headers_and_a_given_http_client(sim: Simulator) -> None:
    """The caller's options reach every SDK client; its http_client is left open."""
    import httpx2

    http = httpx2.AsyncClient()
    router = Router(router_config(sim, "openai"))
    async with router.openai_client(http_client=http, default_headers={"x-app": "t"}) as client:
        raw = await client.chat.completions.with_raw_response.create(model="m", messages=start())
    assert raw.http_request.headers["x-app"] == "t"
    assert raw.http_request.headers["authorization"] == f"Bearer {SECRET}"
    assert not http.is_closed
    await http.aclose()


def test_the_router_module_does_not_import_the_sdk() -> None:
    code = "import sys, agentroute.router; print('openai' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
