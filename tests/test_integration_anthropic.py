"""The routed ``anthropic.AsyncAnthropic`` (``router.anthropic_client()``), against the simulator.

The airline agent loop (tests/sdk_harness.py) through ``messages.create`` (plain and
``stream=True``), the ``messages.stream()`` helper and ``with_raw_response``: one
``agentroute.route`` span per model call, the escalation after the tool error, the model the
router chose in every request, exact usage (cache writes included), one session. Then: a named
session, an overload failed over with no SDK retry, what is refused when the client is built,
and the key never shown.
"""

from __future__ import annotations

import json
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

anthropic = require_extra("anthropic", "anthropic")

from agentroute.integrations.anthropic import RoutedAsyncAnthropic  # noqa: E402

pytestmark = [
    pytest.mark.anyio,
    # The SDK stops reading at its stream's last event and leaves its chain of async
    # generators (SSE decoder, body iterator) to the finalizer; trio warns about each.
    pytest.mark.filterwarnings("ignore:Async generator '.*':ResourceWarning"),
]

TOOLS = [
    {
        "name": t["function"]["name"],
        "description": t["function"]["description"],
        "input_schema": t["function"]["parameters"],
    }
    for t in CHAT_TOOLS
]


sim = simulator_fixture(SIM_CONFIG)


def start() -> list[dict[str, Any]]:
    return [{"role": "user", "content": USER_REQUEST}]


async def step(client: RoutedAsyncAnthropic, messages: list[Any], mode: str) -> list[Any]:
    """One model call the way ``mode`` makes it; the content blocks it answered."""
    args: dict[str, Any] = {
        "model": "claude-whatever",
        "max_tokens": 1024,
        "system": SYSTEM_PROMPT,
        "messages": messages,
        "tools": TOOLS,
    }
    if mode == "plain":
        message = await client.messages.create(**args)
        assert isinstance(message, anthropic.types.Message)
    elif mode == "raw":
        raw = await client.messages.with_raw_response.create(**args)
        assert raw.headers["content-type"].startswith("application/json")
        message = await raw.parse()  # the anthropic SDK's raw response parses async
    elif mode == "helper":
        async with client.messages.stream(**args) as stream:
            assert isinstance(stream, anthropic.lib.streaming.AsyncMessageStream)
            async for _ in stream.text_stream:
                pass
            message = await stream.get_final_message()
    else:  # a raw event stream, assembled here
        events = await client.messages.create(**args, stream=True)
        assert isinstance(events, anthropic.AsyncStream)
        blocks: list[dict[str, Any]] = []
        partial: list[str] = []
        async for event in events:
            if event.type == "content_block_start":
                blocks.append(event.content_block.model_dump(exclude_none=True))
                partial.append("")
            elif event.type == "content_block_delta":
                delta = event.delta
                if delta.type == "text_delta":
                    blocks[-1]["text"] += delta.text
                elif delta.type == "input_json_delta":
                    partial[-1] += delta.partial_json
        for block, text in zip(blocks, partial, strict=True):
            if block["type"] == "tool_use" and text:
                block["input"] = json.loads(text)
        return blocks
    return [block.model_dump(exclude_none=True) for block in message.content]


async def loop(client: RoutedAsyncAnthropic, mode: str) -> int:
    """The agent loop: call, run the tools asked for, until an answer. The number of calls."""
    messages = start()
    for calls in range(1, 10):
        content = await step(client, messages, mode)
        messages.append({"role": "assistant", "content": content})
        uses = [block for block in content if block["type"] == "tool_use"]
        if not uses:
            return calls
        results = [
            {
                "type": "tool_result",
                "tool_use_id": use["id"],
                "content": run_tool(use["name"], use["input"]),
            }
            for use in uses
        ]
        messages.append({"role": "user", "content": results})
    raise AssertionError("the agent never answered")


@pytest.mark.parametrize("mode", ["plain", "stream", "helper", "raw"])
async def test_messages_loop_escalates_with_exact_usage(sim: Simulator, mode: str) -> None:
    spans = Spans()
    router = Router(router_config(sim, "anthropic"), tracer_provider=spans.provider)
    async with router.anthropic_client() as client:
        calls = await loop(client, mode)
    check_loop(spans, sim.records("claude"), calls, "anthropic")


async def test_a_call_names_its_session(sim: Simulator) -> None:
    spans = Spans()
    router = Router(router_config(sim, "anthropic"), tracer_provider=spans.provider)
    client = router.anthropic_client()
    args: dict[str, Any] = {"model": "m", "max_tokens": 100, "messages": start()}
    await client.messages.create(**args, agentroute_session="run-1")
    async with client.messages.stream(**args, agentroute_session="run-2") as stream:
        await stream.get_final_message()
    with router.bind_session("thread-7"):
        await client.messages.create(**args)
    await client.aclose()
    ids = [(r.attributes or {})[A.GEN_AI_CONVERSATION_ID] for r in spans.routes]
    assert ids == ["run-1", "run-2", "thread-7"]


@pytest.mark.parametrize("helper", [False, True], ids=["create", "stream-helper"])
async def test_an_overload_fails_over_without_an_sdk_retry(sim: Simulator, helper: bool) -> None:
    spans = Spans()
    router = Router(router_config(sim, "anthropic", flaky=True), tracer_provider=spans.provider)
    args: dict[str, Any] = {"model": "m", "max_tokens": 100, "messages": start()}
    async with router.anthropic_client() as client:
        if helper:  # the stream is opened inside the attempt: its 529 fails over too
            async with client.messages.stream(**args) as stream:
                answer = await stream.get_final_message()
        else:
            answer = await client.messages.create(**args)
    assert isinstance(answer, anthropic.types.Message)
    (failed,) = sim.records("flaky-claude")  # one request: the SDK did not retry it
    assert failed.status == 529
    (route,) = spans.routes
    assert (route.attributes or {})[A.ATTEMPT_COUNT] == 2
    first, second = spans.chats
    assert A.ERROR_TYPE in (first.attributes or {})
    assert (second.attributes or {})[A.DEPLOYMENT] == "main/small-model"
    check_usage(spans.chats, sim.records("claude"), "anthropic")


async def test_the_key_never_shows(sim: Simulator) -> None:
    spans = Spans()
    config = router_config(sim, "anthropic")
    config["providers"]["main"]["base_url"] = f"{sim.url}/nowhere"  # every call: a 404
    router = Router(config, tracer_provider=spans.provider)
    client = router.anthropic_client()
    assert SECRET not in repr(client)
    with pytest.raises(AllAttemptsFailed) as caught:
        await client.messages.create(model="m", max_tokens=10, messages=start())
    seen: list[BaseException | None] = [a.error for a in caught.value.attempts]
    chain: BaseException | None = caught.value
    while chain is not None:
        seen.append(chain)
        chain = chain.__cause__ or chain.__context__
    for exc in seen:
        assert SECRET not in f"{exc!s} {exc!r} {getattr(exc, 'body', '')}"
    assert SECRET not in spans.text()
    await client.close()


async def test_what_is_refused_when_the_client_is_built(sim: Simulator) -> None:
    mixed = router_config(sim, "anthropic")
    mixed["providers"]["cheap"] = {"kind": "openai", "base_url": sim.base_url("cheap")}
    mixed["models"]["small-model"]["deployments"] = [{"provider": "cheap", "name": "small-model"}]
    with pytest.raises(ConfigurationError, match=r"small-model on cheap \(kind openai, tier s"):
        Router(mixed).anthropic_client()
    router = Router(router_config(sim, "anthropic"))
    with pytest.raises(ConfigurationError, match="max_retries=3 is refused"):
        router.anthropic_client(max_retries=3)
    with pytest.raises(ConfigurationError, match="api_key comes from each deployment"):
        router.anthropic_client(api_key="x")
    configured = Router(router_config(sim, "anthropic", provider_kwargs={"api_key": "x"}))
    with pytest.raises(ConfigurationError, match=r"providers.main.kwargs.api_key"):
        configured.anthropic_client()


async def test_the_key_and_headers_reach_the_server(sim: Simulator) -> None:
    router = Router(router_config(sim, "anthropic"))
    async with router.anthropic_client(default_headers={"x-app": "t"}) as client:
        raw = await client.messages.with_raw_response.create(
            model="m", max_tokens=10, messages=start()
        )
    assert raw.http_request.headers["x-app"] == "t"
    # this SDK sends an API key as a bearer token
    assert raw.http_request.headers["authorization"] == f"Bearer {SECRET}"
