"""agentroute.testing's streaming double: StreamingProvider plays its scripts as chunks (text,
tool-call pieces, usage), fails where its script says (before or after the first chunk), and
closes every stream; chunks_for cuts a result into a script that router.stream() assembles back
into the same answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import pytest

from agentroute import (
    ModelCall,
    ModelResult,
    ProviderConnectionError,
    ProviderTimeout,
    ProviderUnavailable,
    Router,
    StreamChunk,
    StreamInterrupted,
    Target,
    ToolCallDelta,
    Usage,
)
from agentroute.testing import (
    FakeClock,
    ScriptExhausted,
    StreamingProvider,
    chunks_for,
    text_result,
    tool_call_result,
)
from tests.helpers import CONVERSATION, config_dict

pytestmark = pytest.mark.anyio

MEDIUM = {"min_tier": "medium"}  # model mid: alpha/mid-1, then beta/mid-b
USAGE = Usage(1000, 20, cache_read_tokens=400)
CALL = ModelCall(messages=CONVERSATION, target=Target("mid", "medium", "alpha", "openai", "m", 1))


def router(alpha: StreamingProvider, beta: StreamingProvider, **resilience: Any) -> Router:
    data = config_dict(telemetry={"log_events": False})
    data["resilience"] = {"max_retries": 0, **resilience}
    return Router(data, providers={"alpha": alpha, "beta": beta}, clock=FakeClock())


async def read_into(r: Router, received: list[str]) -> None:
    """Read a routed stream to its end (or its error), keeping each chunk's text."""
    async with r.stream(CONVERSATION, hints=MEDIUM) as stream:
        async for chunk in stream:
            received.append(chunk.text)


async def collect(chunks: AsyncIterator[StreamChunk]) -> list[StreamChunk]:
    async with aclosing(chunks) as stream:  # type: ignore[type-var]
        return [chunk async for chunk in stream]


# The provider on its own ---------------------------------------------------------------------


async def test_each_piece_becomes_a_chunk_in_order() -> None:
    delta = ToolCallDelta(0, id="call_1", name="lookup", arguments="{}")
    finish = StreamChunk(finish_reason="tool_calls")
    provider = StreamingProvider(["Hel", "lo", delta, finish, USAGE])
    chunks = await collect(provider.stream(CALL))
    assert chunks == [
        StreamChunk(text="Hel"),
        StreamChunk(text="lo"),
        StreamChunk(tool_calls=(delta,)),
        finish,
        StreamChunk(usage=USAGE),
    ]
    assert provider.calls == [CALL]
    assert provider.closed == 1 and provider.remaining == 0


async def test_one_script_per_call_then_the_default_then_script_exhausted() -> None:
    provider = StreamingProvider(["a"], ["b"])
    assert [c.text for c in await collect(provider.stream(CALL))] == ["a"]
    assert [c.text for c in await collect(provider.stream(CALL))] == ["b"]
    with pytest.raises(ScriptExhausted, match="call #3"):
        await collect(provider.stream(CALL))
    provider.push(["c"])
    assert [c.text for c in await collect(provider.stream(CALL))] == ["c"]
    fallback = StreamingProvider(default=["again"])
    for _ in range(3):
        assert [c.text for c in await collect(fallback.stream(CALL))] == ["again"]


async def test_send_refuses_a_plain_call() -> None:
    with pytest.raises(AssertionError, match="streamed calls only"):
        await StreamingProvider(["a"]).send(CALL)


async def test_a_piece_of_another_type_is_refused_naming_it() -> None:
    provider = StreamingProvider([{"text": "hi"}])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="not dict"):
        await collect(provider.stream(CALL))


@pytest.mark.parametrize(
    "result",
    [
        text_result("Your flight is rebooked.", usage=USAGE),
        tool_call_result("lookup", {"booking": "B1"}, id="c7", usage=USAGE),
        ModelResult(
            text="Two lookups.",
            tool_calls=(
                *tool_call_result("lookup", {"booking": "B1"}, id="c1").tool_calls,
                *tool_call_result("search", {"to": "SFO"}, id="c2").tool_calls,
            ),
            finish_reason="tool_calls",
            usage=USAGE,
        ),
        ModelResult(usage=Usage(5, 0)),  # nothing but usage
    ],
    ids=["text", "tool-call", "text-and-two-tool-calls", "empty"],
)
@pytest.mark.parametrize("pieces", [1, 2, 5])
async def test_a_result_streamed_by_chunks_for_is_assembled_back(
    result: ModelResult, pieces: int
) -> None:
    chunks = chunks_for(result, pieces=pieces)
    texts = [c.text for c in chunks if c.text]
    assert len(texts) <= pieces and "".join(texts) == (result.text or "")
    assert chunks[-1] == StreamChunk(usage=result.usage)
    r = router(StreamingProvider(chunks), StreamingProvider())
    async with r.stream(CONVERSATION, hints=MEDIUM) as stream:
        assert [c async for c in stream] == chunks
    got = stream.result
    assert (got.text, got.tool_calls, got.finish_reason, got.usage) == (
        result.text,
        result.tool_calls,
        result.finish_reason,
        result.usage,
    )


def test_chunks_for_needs_at_least_one_piece() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        chunks_for(text_result("hi"), pieces=0)


# Through router.stream() ---------------------------------------------------------------------


async def test_a_scripted_text_is_streamed_assembled_and_charged() -> None:
    alpha = StreamingProvider("Hello there")
    r = router(alpha, StreamingProvider())
    async with r.session("s1") as session, r.stream(CONVERSATION, hints=MEDIUM) as stream:
        texts = [chunk.text async for chunk in stream]
    assert texts == ["Hello ", "there", "", ""]  # two text chunks, the finish, the usage
    assert stream.result.text == "Hello there" and stream.result.finish_reason == "stop"
    assert stream.result.usage == Usage(10, 5)  # text_result's default usage
    assert session.usage == Usage(10, 5)
    assert session.cost_usd == pytest.approx((10 * 2.0 + 5 * 4.0) / 1e6)  # mid's prices
    (call,) = alpha.calls
    assert call.mode == "stream" and call.target is not None and call.target.deployment == "mid-1"
    assert alpha.closed == 1


@pytest.mark.parametrize(
    "script",
    [
        ProviderUnavailable("busy", status_code=503),
        [ProviderUnavailable("busy", status_code=503), "never sent"],
    ],
    ids=["whole-script", "first-piece"],
)
async def test_a_failure_before_the_first_chunk_falls_back_to_the_next_deployment(
    script: Any,
) -> None:
    alpha, beta = StreamingProvider(script), StreamingProvider(["Hel", "lo", USAGE])
    async with router(alpha, beta).stream(CONVERSATION, hints=MEDIUM) as stream:
        assert [chunk.text async for chunk in stream] == ["Hel", "lo", ""]
    result = stream.result
    assert [(a.target.key, a.outcome, a.error_type) for a in result.attempts] == [
        ("alpha/mid-1", "error", "ProviderUnavailable"),
        ("beta/mid-b", "ok", None),
    ]
    assert result.text == "Hello" and result.usage == USAGE
    assert (alpha.closed, beta.closed) == (1, 1)


async def test_a_failure_after_the_first_chunk_interrupts_the_stream_with_the_partial() -> None:
    alpha = StreamingProvider(["Hel", ProviderConnectionError("connection reset"), "lo"])
    beta = StreamingProvider()
    received: list[str] = []
    with pytest.raises(StreamInterrupted) as info:
        await read_into(router(alpha, beta), received)
    assert received == ["Hel"]
    assert info.value.partial.text == "Hel"
    assert isinstance(info.value.error, ProviderConnectionError)
    assert (alpha.closed, beta.calls) == (1, [])  # nothing is retried behind the caller's back


async def test_a_wait_longer_than_the_chunk_timeout_breaks_the_stream() -> None:
    alpha = StreamingProvider(["Hel", 30, "lo"])
    r = router(alpha, StreamingProvider(), attempt_timeout_s=0.05)
    received: list[str] = []
    with pytest.raises(StreamInterrupted) as info:
        await read_into(r, received)
    assert received == ["Hel"]
    assert isinstance(info.value.error, ProviderTimeout)
    assert info.value.partial.text == "Hel"
    assert alpha.closed == 1


async def test_a_reader_leaving_early_closes_the_stream() -> None:
    alpha = StreamingProvider(["Hel", "lo", USAGE])
    async with router(alpha, StreamingProvider()).stream(CONVERSATION, hints=MEDIUM) as stream:
        async for chunk in stream:
            assert chunk.text == "Hel"
            break
    assert alpha.closed == 1
