"""Streams through ``router.wrap()`` (issue 13, defect 6): usage read from the events, the
attempt charged and its span ended when the stream ends, the caller's type contract kept.

Driven with the official ``openai`` and ``anthropic`` SDKs against the simulator over HTTP
(Chat Completions and Anthropic Messages, raw streams and the SDKs' ``.stream()`` helpers, in
tool-calling loops with tool errors), and with ``httpx2.MockTransport`` SSE bodies for the
Responses API. Every figure is checked against what the simulator recorded for the request.
"""

from __future__ import annotations

import gc
import json
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import httpx2
import openai
import pytest
from anthropic.lib.streaming import AsyncMessageStream
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from agentroute import ConfigurationError, Router, Usage
from agentroute.sim.cache import MarkedOutcome
from agentroute.sim.scenario import SYSTEM_PROMPT, TOOLS, USER_REQUEST, run_tool
from agentroute.sim.server import Simulator
from agentroute.telemetry import attributes as A
from agentroute.testing import FakeClock, capture_logs
from tests.helpers import CONVERSATION, config_dict, simulator_fixture

pytestmark = [
    pytest.mark.anyio,
    # The SDKs stop reading at their stream's last event and leave their chain of async
    # generators (SSE decoder, body iterator) to the finalizer; trio warns about each.
    pytest.mark.filterwarnings("ignore:Async generator '.*':ResourceWarning"),
]

PRICES = {
    "small": {"input": 1.0, "output": 2.0, "cache_read": 0.1, "cache_write": 1.25},
    "big": {"input": 10.0, "output": 30.0, "cache_read": 1.0, "cache_write": 12.5},
}
SIM: dict[str, Any] = {
    "instances": {
        # the airline agent: the cheap model keeps asking for a basic-economy change, which the
        # tool refuses; the strong one ("big-1") asks for economy, which works
        "oa": {"kind": "openai", "scenario": {"kind": "airline", "skills": {"big-1": 2}}},
        "claude": {"kind": "anthropic", "scenario": {"kind": "airline", "skills": {"big-1": 2}}},
        "claude_429": {"kind": "anthropic", "faults": {"schedule": {1: "rate_limit"}}},
        "claude_ok": {"kind": "anthropic"},
    }
}
A_TOOLS = [
    {
        "name": t["function"]["name"],
        "description": t["function"]["description"],
        "input_schema": t["function"]["parameters"],
    }
    for t in TOOLS
]
SYSTEM_BLOCKS = [{"type": "text", "text": SYSTEM_PROMPT, "cache_control": {"type": "ephemeral"}}]


sim = simulator_fixture(SIM)


def sim_router(sim: Simulator, instance: str, kind: str, **kwargs: Any) -> Router:
    """Two tiers on one simulator instance: ``small-1`` (cheap) and ``big-1`` (strong)."""
    data = {
        "providers": {"sim": {"kind": kind, "base_url": sim.base_url(instance)}},
        "models": {
            name: {
                "context_window": 200_000,
                "price": PRICES[name],
                "deployments": [{"provider": "sim", "name": f"{name}-1"}],
            }
            for name in ("small", "big")
        },
        "tiers": {"simple": ["small"], "complex": ["big"]},
        "telemetry": {"log_events": True},
        "resilience": {"max_retries": 0},
    }
    return Router(data, clock=FakeClock(), **kwargs)


def openai_client(sim: Simulator, name: str = "oa") -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=sim.base_url(name), api_key="k", max_retries=0)


def anthropic_client(sim: Simulator, name: str = "claude") -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=sim.base_url(name), api_key="k", max_retries=0)


def openai_usage(record: MarkedOutcome, output_tokens: int) -> Usage:
    """What an OpenAI-shaped simulator answer reports (automatic caching: reads only)."""
    return Usage(record.prompt_tokens, output_tokens, cache_read_tokens=record.read_tokens)


def anthropic_usage(record: MarkedOutcome, output_tokens: int) -> Usage:
    return Usage(
        record.prompt_tokens,
        output_tokens,
        cache_read_tokens=record.read_tokens,
        cache_write_tokens=record.written_tokens,
        cache_write_1h_tokens=record.written_1h_tokens,
    )


class Ledger:
    """Per step: the attempts' records; the session's cost must be their sum."""

    def __init__(self) -> None:
        self.attempts: list[Any] = []

    def add(self, attempts: tuple[Any, ...]) -> None:
        self.attempts.extend(attempts)

    @property
    def cost(self) -> float:
        return sum(a.cost_usd for a in self.attempts)


# The openai SDK ------------------------------------------------------------------------------


async def read_chat_stream(stream: Any) -> dict[str, Any]:
    """The assistant message a Chat Completions stream assembles to."""
    text, calls = "", {}
    async with stream:
        async for chunk in stream:
            for choice in chunk.choices:
                delta = choice.delta
                text += delta.content or ""
                for tc in delta.tool_calls or ():
                    call = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                    call["id"] = tc.id or call["id"]
                    call["name"] = (tc.function and tc.function.name) or call["name"]
                    call["arguments"] += (tc.function and tc.function.arguments) or ""
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = [
            {
                "id": c["id"],
                "type": "function",
                "function": {"name": c["name"], "arguments": c["arguments"]},
            }
            for c in calls.values()
        ]
    return message


async def test_openai_chat_stream_loop_charges_exact_usage(sim: Simulator) -> None:
    router = sim_router(sim, "oa", "openai")
    client = openai_client(sim)

    async def call_llm(messages: list[Any], *, model: str, **kw: Any) -> Any:
        return await client.chat.completions.create(
            model=model,
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
            **kw,
        )

    routed = router.wrap(call_llm)
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": USER_REQUEST},
    ]
    ledger, tool_errors, tiers = Ledger(), 0, []
    async with client, router.session("chat-run") as s:
        for _ in range(12):
            stream = await routed(messages, tools=TOOLS)
            # the caller's type contract: the SDK's own stream, as far as it can tell
            assert isinstance(stream, openai.AsyncStream)
            assert stream.response.status_code == 200
            assert s.state.last_attempts[-1].usage is None  # not charged before it is read
            reply = await read_chat_stream(stream)

            record = sim.records("oa")[-1]
            assert record.usage is not None
            attempt = s.state.last_attempts[-1]
            decision = s.decisions[-1]
            tiers.append(decision.tier)
            assert attempt.target.tier == decision.tier
            assert attempt.target.deployment == record.model
            assert attempt.outcome == "ok"
            assert attempt.usage == openai_usage(record.usage, record.output_tokens)
            ledger.add(s.state.last_attempts)
            assert s.cost_usd == pytest.approx(ledger.cost)
            assert s.usage.output_tokens == sum(a.usage.output_tokens for a in ledger.attempts)

            messages.append(reply)
            if "tool_calls" not in reply:
                break
            for tc in reply["tool_calls"]:
                result = run_tool(tc["function"]["name"], json.loads(tc["function"]["arguments"]))
                tool_errors += result.startswith("Error")
                messages.append({"role": "tool", "tool_call_id": tc["id"], "content": result})
    assert "Done" in (messages[-1]["content"] or "")
    assert tool_errors >= 1
    assert tiers[0] == "simple" and tiers[-1] == "complex"  # the tool error moved it up
    assert any(a.usage.cache_read_tokens for a in ledger.attempts)


async def test_openai_stream_helper_keeps_its_type_and_is_charged(sim: Simulator) -> None:
    router = sim_router(sim, "oa", "openai")
    client = openai_client(sim)

    async def call_llm(messages: list[Any], *, model: str, **kw: Any) -> Any:
        return client.chat.completions.stream(
            model=model, messages=messages, stream_options={"include_usage": True}, **kw
        )

    routed = router.wrap(call_llm)
    async with client, router.session("helper") as s:
        async with await routed(CONVERSATION) as stream:
            assert type(stream).__name__ == "AsyncChatCompletionStream"
            completion = await stream.get_final_completion()
        record = sim.records("oa")[-1]
        assert record.usage is not None
        expected = openai_usage(record.usage, record.output_tokens)
        assert s.state.last_attempts[-1].usage == expected
        assert completion.usage is not None
        assert completion.usage.completion_tokens == expected.output_tokens
        assert s.cost_usd == pytest.approx(s.state.last_attempts[-1].cost_usd)
        assert s.cost_usd > 0


async def test_openai_raw_response_stream_parses_to_a_watched_stream(sim: Simulator) -> None:
    # LangChain's ChatOpenAI calls with_raw_response.create(..., stream=True), then parse()
    router = sim_router(sim, "oa", "openai")
    client = openai_client(sim)

    async def call_llm(messages: list[Any], *, model: str, **kw: Any) -> Any:
        return await client.chat.completions.with_raw_response.create(
            model=model,
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
            **kw,
        )

    routed = router.wrap(call_llm)
    async with client, router.session("raw") as s:
        raw = await routed(CONVERSATION)
        assert raw.headers["content-type"].startswith("text/event-stream")
        stream = raw.parse()
        assert isinstance(stream, openai.AsyncStream)
        await read_chat_stream(stream)
    record = sim.records("oa")[-1]
    assert record.usage is not None
    assert s.state.last_attempts[-1].usage == openai_usage(record.usage, record.output_tokens)


async def test_openai_raw_response_is_charged_its_usage(sim: Simulator) -> None:
    # defect 8: LangChain's ChatOpenAI gets a LegacyAPIResponse; it was charged the estimate
    router = sim_router(sim, "oa", "openai")
    client = openai_client(sim)

    async def call_llm(messages: list[Any], *, model: str, **kw: Any) -> Any:
        return await client.chat.completions.with_raw_response.create(
            model=model, messages=messages, **kw
        )

    routed = router.wrap(call_llm)
    async with client, router.session("raw-plain") as s:
        raw = await routed(CONVERSATION)
        assert raw.parse().choices[0].message.role == "assistant"
    record = sim.records("oa")[-1]
    assert record.usage is not None
    assert s.state.last_attempts[-1].usage == openai_usage(record.usage, record.output_tokens)


async def test_a_stream_closed_early_is_charged_the_estimate(sim: Simulator) -> None:
    router = sim_router(sim, "oa", "openai")
    client = openai_client(sim)

    async def call_llm(messages: list[Any], *, model: str, **kw: Any) -> Any:
        return await client.chat.completions.create(
            model=model,
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
            **kw,
        )

    routed = router.wrap(call_llm)
    async with client, router.session("early") as s:
        stream = await routed(CONVERSATION)
        async with stream:
            async for _ in stream:
                break  # the usage chunk never arrives
        attempt = s.state.last_attempts[-1]
        counted = s.decisions[-1].signals.context_tokens  # type: ignore[union-attr]
        assert attempt.outcome == "cancelled"
        assert attempt.usage == Usage(input_tokens=counted)
        assert s.cost_usd == pytest.approx(attempt.cost_usd)
        assert s.cost_usd > 0


async def test_a_stream_without_usage_is_estimated_and_said_once(sim: Simulator) -> None:
    router = sim_router(sim, "oa", "openai")
    client = openai_client(sim)

    async def call_llm(messages: list[Any], *, model: str, **kw: Any) -> Any:
        return await client.chat.completions.create(
            model=model, messages=messages, stream=True, **kw
        )

    routed = router.wrap(call_llm)
    with capture_logs() as events:
        async with client, router.session("no-usage") as s:
            for _ in range(2):
                await read_chat_stream(await routed(CONVERSATION))
                attempt = s.state.last_attempts[-1]
                assert attempt.outcome == "ok"
                signals = s.decisions[-1].signals
                assert signals is not None
                assert attempt.usage == Usage(input_tokens=signals.context_tokens)
    unknown = [e for e in events if e["event"] == "route.usage_unknown"]
    assert len(unknown) == 1  # once per type
    assert unknown[0]["response_type"] == "openai.AsyncStream"
    assert unknown[0]["streamed"] is True
    assert "include_usage" in unknown[0]["hint"]


# The anthropic SDK ---------------------------------------------------------------------------


async def read_message_events(stream: Any) -> dict[str, Any]:
    """The assistant message a raw Anthropic event stream assembles to."""
    blocks: dict[int, dict[str, Any]] = {}
    arguments: dict[int, str] = {}
    async for event in stream:
        if event.type == "content_block_start":
            blocks[event.index] = event.content_block.model_dump(exclude_none=True)
        elif event.type == "content_block_delta":
            if event.delta.type == "text_delta":
                blocks[event.index]["text"] += event.delta.text
            elif event.delta.type == "input_json_delta":
                arguments[event.index] = arguments.get(event.index, "") + event.delta.partial_json
    for index, text in arguments.items():
        blocks[index]["input"] = json.loads(text) if text else {}
    content = [blocks[i] for i in sorted(blocks)]
    for block in content:
        block.pop("citations", None)
    return {"role": "assistant", "content": content}


def tool_results(reply: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    results, errors = [], 0
    for block in reply["content"]:
        if block["type"] == "tool_use":
            text = run_tool(block["name"], block["input"])
            failed = text.startswith("Error")
            errors += failed
            results.append(
                {"type": "tool_result", "tool_use_id": block["id"], "content": text}
                | ({"is_error": True} if failed else {})
            )
    return results, errors


async def test_anthropic_stream_loop_charges_exact_usage_with_cache(sim: Simulator) -> None:
    router = sim_router(sim, "claude", "anthropic")
    client = anthropic_client(sim)

    async def call_claude(messages: list[Any], *, model: str, **kw: Any) -> Any:
        return await client.messages.create(
            model=model, max_tokens=1024, messages=messages, stream=True, **kw
        )

    routed = router.wrap(call_claude)
    messages: list[dict[str, Any]] = [{"role": "user", "content": USER_REQUEST}]
    ledger, tool_errors, deployments = Ledger(), 0, []
    async with client, router.session("claude-run") as s:
        for _ in range(12):
            stream = await routed(messages, tools=A_TOOLS, system=SYSTEM_BLOCKS)
            assert isinstance(stream, anthropic.AsyncStream)
            reply = await read_message_events(stream)

            record = sim.records("claude")[-1]
            assert record.usage is not None
            attempt = s.state.last_attempts[-1]
            assert attempt.target.tier == s.decisions[-1].tier
            assert attempt.outcome == "ok"
            assert attempt.usage == anthropic_usage(record.usage, record.output_tokens)
            if deployments and deployments[-1] == record.model:  # a warm cache after step 1
                assert attempt.usage.cache_read_tokens > 0
            deployments.append(record.model)
            ledger.add(s.state.last_attempts)
            assert s.cost_usd == pytest.approx(ledger.cost)

            messages.append(reply)
            results, errors = tool_results(reply)
            tool_errors += errors
            if not results:
                break
            messages.append({"role": "user", "content": results})
    assert tool_errors >= 1
    assert deployments[0] == "small-1" and deployments[-1] == "big-1"
    assert len(deployments) > len(set(deployments))  # some steps read the cache


async def test_anthropic_messages_stream_helper(sim: Simulator) -> None:
    router = sim_router(sim, "claude", "anthropic")
    client = anthropic_client(sim)

    async def call_claude(messages: list[Any], *, model: str, **kw: Any) -> Any:
        return client.messages.stream(model=model, max_tokens=1024, messages=messages, **kw)

    routed = router.wrap(call_claude)
    messages: list[dict[str, Any]] = [{"role": "user", "content": USER_REQUEST}]
    ledger = Ledger()
    async with client, router.session("helper-run") as s:
        for step in range(12):
            manager = await routed(messages, tools=A_TOOLS, system=SYSTEM_BLOCKS)
            async with manager as stream:
                assert isinstance(stream, AsyncMessageStream)  # the SDK's own, untouched
                if step == 0:
                    async for _ in stream.text_stream:
                        pass
                final = await stream.get_final_message()
            record = sim.records("claude")[-1]
            assert record.usage is not None
            attempt = s.state.last_attempts[-1]
            assert attempt.usage == anthropic_usage(record.usage, record.output_tokens)
            assert final.usage.output_tokens == record.output_tokens
            ledger.add(s.state.last_attempts)
            assert s.cost_usd == pytest.approx(ledger.cost)
            reply = {
                "role": "assistant",
                "content": [b.model_dump(exclude_none=True) for b in final.content],
            }
            for block in reply["content"]:
                block.pop("citations", None)
            messages.append(reply)
            results, _ = tool_results(reply)
            if not results:
                break
            messages.append({"role": "user", "content": results})
    assert "Done" in messages[-1]["content"][0]["text"]


async def test_a_helper_stream_entered_by_the_function_keeps_its_type(sim: Simulator) -> None:
    router = sim_router(sim, "claude_ok", "anthropic")
    client = anthropic_client(sim, "claude_ok")

    async def call_claude(messages: list[Any], *, model: str, **kw: Any) -> Any:
        manager = client.messages.stream(model=model, max_tokens=256, messages=messages, **kw)
        return await manager.__aenter__()  # the function hands out the entered stream

    routed = router.wrap(call_claude)
    async with client, router.session("entered") as s:
        stream = await routed([{"role": "user", "content": "hello"}])
        assert type(stream) is AsyncMessageStream
        final = await stream.get_final_message()  # reads the stream itself, not a proxy
        await stream.close()
    record = sim.records("claude_ok")[-1]
    assert record.usage is not None
    assert final.usage.output_tokens == record.output_tokens
    assert s.state.last_attempts[-1].usage == anthropic_usage(record.usage, record.output_tokens)
    assert s.state.last_attempts[-1].outcome == "ok"


async def test_a_stream_manager_that_fails_to_open_falls_back(sim: Simulator) -> None:
    # messages.stream() sends its request on entering: entered inside the attempt, a 429 there
    # is a failed attempt like any other, and the call moves to the next deployment.
    data = config_dict()
    data["providers"] = {
        "first": {"kind": "anthropic", "base_url": sim.base_url("claude_429")},
        "second": {"kind": "anthropic", "base_url": sim.base_url("claude_ok")},
    }
    data["models"]["small"]["deployments"] = [
        {"provider": provider, "name": name, "kwargs": {"base_url": sim.base_url(instance)}}
        for provider, name, instance in [
            ("first", "small-1", "claude_429"),
            ("second", "small-2", "claude_ok"),
        ]
    ]
    data["models"]["mid"]["deployments"] = [{"provider": "second", "name": "mid-1"}]
    data["models"]["big"]["deployments"] = [{"provider": "second", "name": "big-1"}]
    router = Router(data, clock=FakeClock())
    clients = {
        name: anthropic.AsyncAnthropic(base_url=sim.base_url(name), api_key="k", max_retries=0)
        for name in ("claude_429", "claude_ok")
    }
    by_url = {sim.base_url(name): c for name, c in clients.items()}

    async def call_claude(messages: list[Any], *, model: str, base_url: str, **kw: Any) -> Any:
        return by_url[base_url].messages.stream(
            model=model, max_tokens=256, messages=messages, **kw
        )

    routed = router.wrap(call_claude)
    async with (
        router.session("fallback") as s,
        await routed([{"role": "user", "content": "hello"}]) as stream,
    ):
        text = await stream.get_final_text()
    assert text
    first, second = s.state.last_attempts
    assert (first.outcome, first.error_type, first.status_code) == ("error", "RateLimited", 429)
    assert second.outcome == "ok" and second.target.deployment == "small-2"
    record = sim.records("claude_ok")[-1]
    assert record.usage is not None
    assert second.usage == anthropic_usage(record.usage, record.output_tokens)
    assert s.cost_usd == pytest.approx(first.cost_usd + second.cost_usd)
    for c in clients.values():
        await c.close()


# The Responses API (httpx2.MockTransport, real SSE bodies) -----------------------------------

RESPONSE_BASE: dict[str, Any] = {
    "id": "resp_1",
    "object": "response",
    "created_at": 1_700_000_000,
    "model": "small-1",
    "output": [],
    "parallel_tool_calls": True,
    "tool_choice": "auto",
    "tools": [],
    "error": None,
    "incomplete_details": None,
    "instructions": None,
    "metadata": {},
    "temperature": 1.0,
    "top_p": 1.0,
}
RESPONSES_USAGE = {
    "input_tokens": 1_200,
    "input_tokens_details": {"cached_tokens": 1_024},
    "output_tokens": 48,
    "output_tokens_details": {"reasoning_tokens": 16},
    "total_tokens": 1_248,
}
MESSAGE_ITEM = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "status": "completed",
    "content": [{"type": "output_text", "text": "Hello there", "annotations": []}],
}


def responses_sse() -> bytes:
    events = [
        {
            "type": "response.created",
            "response": {**RESPONSE_BASE, "status": "in_progress", "usage": None},
        },
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {**MESSAGE_ITEM, "status": "in_progress", "content": []},
        },
        {
            "type": "response.content_part.added",
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "part": {"type": "output_text", "text": "", "annotations": []},
        },
        {
            "type": "response.output_text.delta",
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "delta": "Hello there",
            "logprobs": [],
        },
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": MESSAGE_ITEM,
        },
        {
            "type": "response.completed",
            "response": {
                **RESPONSE_BASE,
                "status": "completed",
                "output": [MESSAGE_ITEM],
                "usage": RESPONSES_USAGE,
            },
        },
    ]
    body = b""
    for number, event in enumerate(events):
        data = json.dumps({**event, "sequence_number": number})
        body += f"event: {event['type']}\ndata: {data}\n\n".encode()
    return body


def responses_client() -> openai.AsyncOpenAI:
    def answer(request: httpx2.Request) -> httpx2.Response:
        assert request.url.path.endswith("/responses")
        return httpx2.Response(
            200, content=responses_sse(), headers={"content-type": "text/event-stream"}
        )

    return openai.AsyncOpenAI(
        api_key="k",
        base_url="http://127.0.0.1:9/v1",
        max_retries=0,
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(answer)),
    )


RESPONSES_EXPECTED = Usage(1_200, 48, cache_read_tokens=1_024, reasoning_tokens=16)
# model "small": 176 fresh x $1 + 1,024 cached x $0.1 + 48 out x $2
RESPONSES_COST = (176 * 1.0 + 1_024 * 0.1 + 48 * 2.0) / 1e6


@pytest.mark.parametrize("helper", [False, True], ids=["create-stream", "responses-stream"])
async def test_responses_stream_usage_from_response_completed(helper: bool) -> None:
    router = Router(config_dict(), clock=FakeClock())
    client = responses_client()

    async def call_llm(messages: list[Any], *, model: str, **kw: Any) -> Any:
        if helper:
            return client.responses.stream(model=model, input=messages)
        return await client.responses.create(model=model, input=messages, stream=True)

    routed = router.wrap(call_llm)
    async with client, router.session("responses") as s:
        if helper:
            async with await routed(CONVERSATION) as stream:
                final = await stream.get_final_response()
            assert final.output_text == "Hello there"
        else:
            stream = await routed(CONVERSATION)
            assert isinstance(stream, openai.AsyncStream)
            kinds = [event.type async for event in stream]
            assert kinds[-1] == "response.completed"
    attempt = s.state.last_attempts[-1]
    assert attempt.usage == RESPONSES_EXPECTED
    assert attempt.cost_usd == pytest.approx(RESPONSES_COST)
    assert s.cost_usd == pytest.approx(RESPONSES_COST)


# Any async iterable, the span, the ways a stream ends ----------------------------------------

CHAT_CHUNKS = [
    {"choices": [{"index": 0, "delta": {"content": "hel"}}], "usage": None},
    {"choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]},
    {"choices": [], "usage": {"prompt_tokens": 5000, "completion_tokens": 300}},
]
CHAT_COST = (5000 * 1.0 + 300 * 2.0) / 1e6  # model "small"


def generator_fn(chunks: list[Any], fail_after: int | None = None) -> Any:
    async def call_llm(messages: list[Any], *, model: str, **kw: Any) -> Any:
        async def chunks_of() -> AsyncIterator[Any]:
            for i, chunk in enumerate(chunks):
                if i == fail_after:
                    raise openai.APIConnectionError(request=httpx2.Request("POST", "http://x"))
                yield chunk

        return chunks_of()

    return call_llm


class Traced:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.router = Router(config_dict(), clock=FakeClock(), tracer_provider=provider)

    def chats(self) -> list[ReadableSpan]:
        return [
            s
            for s in self.spans.get_finished_spans()
            if (s.attributes or {}).get(A.GEN_AI_OPERATION_NAME) == "chat"
        ]


async def test_the_chat_span_ends_with_the_stream_and_carries_its_usage() -> None:
    traced = Traced()
    routed = traced.router.wrap(generator_fn(CHAT_CHUNKS))
    async with traced.router.session("span") as s:
        stream = await routed(CONVERSATION)
        assert traced.chats() == []  # still open while the caller reads
        got = [chunk async for chunk in stream]
    assert got == CHAT_CHUNKS  # handed through untouched
    (span,) = traced.chats()
    attrs = span.attributes or {}
    assert attrs[A.GEN_AI_USAGE_INPUT_TOKENS] == 5000
    assert attrs[A.GEN_AI_USAGE_OUTPUT_TOKENS] == 300
    assert attrs[A.COST_USD] == pytest.approx(CHAT_COST)
    assert A.USAGE_ESTIMATED not in attrs
    assert span.status.status_code is StatusCode.UNSET
    assert s.cost_usd == pytest.approx(CHAT_COST)


async def test_a_stream_that_breaks_ends_its_attempt_and_span_with_the_error() -> None:
    traced = Traced()
    routed = traced.router.wrap(generator_fn(CHAT_CHUNKS, fail_after=1))
    async with traced.router.session("broken") as s:
        stream = await routed(CONVERSATION)
        with pytest.raises(openai.APIConnectionError):  # the caller's own error, unchanged
            async for _ in stream:
                pass
    attempt = s.state.last_attempts[-1]
    assert (attempt.outcome, attempt.error_type) == ("error", "ProviderConnectionError")
    signals = s.decisions[-1].signals
    assert signals is not None
    assert attempt.usage == Usage(input_tokens=signals.context_tokens)  # nothing reported
    assert s.cost_usd == pytest.approx(attempt.cost_usd) and s.cost_usd > 0
    (span,) = traced.chats()
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})[A.USAGE_ESTIMATED] is True


async def test_a_stream_closed_after_its_usage_is_complete() -> None:
    traced = Traced()
    routed = traced.router.wrap(generator_fn([*CHAT_CHUNKS, {"choices": [], "usage": None}]))
    async with traced.router.session("closed") as s:
        stream = await routed(CONVERSATION)
        async for chunk in stream:
            if chunk.get("usage"):
                break
        await stream.aclose()
    attempt = s.state.last_attempts[-1]
    assert attempt.outcome == "ok"
    assert attempt.usage == Usage(5000, 300)
    (span,) = traced.chats()
    assert span.status.status_code is StatusCode.UNSET


async def test_a_stream_dropped_unread_is_charged_when_collected() -> None:
    router = Router(config_dict(), clock=FakeClock())
    routed = router.wrap(generator_fn(CHAT_CHUNKS))
    async with router.session("dropped") as s:
        stream = await routed(CONVERSATION)
        assert s.cost_usd == 0
        del stream
        gc.collect()
        attempt = s.state.last_attempts[-1]
        assert attempt.outcome == "cancelled"
        assert attempt.usage is not None and attempt.usage.input_tokens > 0
        assert s.cost_usd == pytest.approx(attempt.cost_usd) and s.cost_usd > 0


async def test_usage_of_is_asked_about_each_event() -> None:
    router = Router(config_dict(), clock=FakeClock())
    events = [{"n": 1}, {"tokens": (10, 2)}, {"n": 2}, {"tokens": (10, 7)}]
    routed = router.wrap(
        generator_fn(events),
        usage_of=lambda e: Usage(*e["tokens"]) if "tokens" in e else None,
    )
    async with router.session("custom") as s:
        assert [e async for e in await routed(CONVERSATION)] == events
    assert s.state.last_attempts[-1].usage == Usage(10, 7)


async def test_garbage_usage_in_a_stream_is_a_configuration_error() -> None:
    router = Router(config_dict(), clock=FakeClock())
    chunks = [{"choices": [], "usage": {"prompt_tokens": "many", "completion_tokens": 1}}]
    routed = router.wrap(generator_fn(chunks))
    async with router.session("garbage") as s:
        stream = await routed(CONVERSATION)
        with pytest.raises(ConfigurationError, match=r"usage\.prompt_tokens is not an integer"):
            async for _ in stream:
                pass
    assert s.state.last_attempts[-1].outcome == "error"


async def test_anthropic_event_dicts_merge_start_and_delta() -> None:
    events = [
        {
            "type": "message_start",
            "message": {
                "usage": {
                    "input_tokens": 50,
                    "cache_read_input_tokens": 3000,
                    "cache_creation_input_tokens": 1000,
                    "output_tokens": 1,
                }
            },
        },
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "x"}},
        {"type": "message_delta", "delta": {"stop_reason": "x"}, "usage": {"output_tokens": 200}},
        {"type": "message_stop"},
    ]
    router = Router(config_dict(), clock=FakeClock())
    routed = router.wrap(generator_fn(events))
    async with router.session("a-dicts", metadata={"min_tier": "complex"}) as s:
        async for _ in await routed(CONVERSATION):
            pass
    assert s.state.last_attempts[-1].usage == Usage(
        4050, 200, cache_read_tokens=3000, cache_write_tokens=1000
    )
    # model "big": 50 x $10 + 3000 x $1 + 1000 written x $12.5 + 200 out x $30
    assert s.cost_usd == pytest.approx((50 * 10.0 + 3000 * 1.0 + 1000 * 12.5 + 200 * 30.0) / 1e6)


# Complete answers of the frameworks (defect 8), through wrap() --------------------------------


async def test_an_unknown_answer_is_estimated_and_its_type_named_once() -> None:
    class Reply:
        text = "hi"

    router = Router(config_dict(), clock=FakeClock())

    async def call_llm(messages: list[Any], *, model: str, **kw: Any) -> Any:
        return Reply()

    routed = router.wrap(call_llm)
    with capture_logs() as events:
        for _ in range(3):
            await routed(CONVERSATION)
    unknown = [e for e in events if e["event"] == "route.usage_unknown"]
    assert len(unknown) == 1
    assert unknown[0]["response_type"].endswith("Reply")
    assert unknown[0]["streamed"] is False


async def test_an_anthropic_raw_response_is_parsed_for_its_usage() -> None:
    # anthropic's with_raw_response gives an AsyncAPIResponse, whose parse() is async
    body = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "small-1",
        "content": [{"type": "text", "text": "hi"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 904, "cache_read_input_tokens": 4096, "output_tokens": 300},
    }

    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json=body)

    client = anthropic.AsyncAnthropic(
        api_key="k",
        base_url="http://127.0.0.1:9",
        max_retries=0,
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(answer)),
    )
    router = Router(config_dict(), clock=FakeClock())

    async def call_llm(messages: list[Any], *, model: str, **kw: Any) -> Any:
        return await client.messages.with_raw_response.create(
            model=model, max_tokens=64, messages=messages
        )

    routed = router.wrap(call_llm)
    async with client, router.session("a-raw") as s:
        raw = await routed([{"role": "user", "content": "hi"}])
        message = await raw.parse()
    assert message.content[0].text == "hi"
    assert s.state.last_attempts[-1].usage == Usage(5000, 300, cache_read_tokens=4096)
    # model "small": 904 x $1 + 4096 cached x $0.1 + 300 out x $2
    assert s.cost_usd == pytest.approx((904 * 1.0 + 4096 * 0.1 + 300 * 2.0) / 1e6)
