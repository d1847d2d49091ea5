"""Router.stream(): fallback before the first chunk, StreamInterrupted after it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import anyio
import httpx
import pytest

from agentroute import (
    AllAttemptsFailed,
    ConfigurationError,
    ModelCall,
    ModelResult,
    ProviderConnectionError,
    ProviderUnavailable,
    Router,
    StreamChunk,
    StreamInterrupted,
    Usage,
)
from agentroute._types import ToolCallDelta
from agentroute.testing import FakeClock
from tests.helpers import CONVERSATION, config_dict

pytestmark = pytest.mark.anyio

MEDIUM = {"min_tier": "medium"}  # tier "medium": model mid on alpha/mid-1, then beta/mid-b

Piece = StreamChunk | BaseException | float
"""A scripted stream item: a chunk, an exception to raise, or seconds to wait first."""


class StreamingProvider:
    """A provider whose ``stream`` plays one scripted item list per call."""

    def __init__(self, *scripts: BaseException | Sequence[Piece]) -> None:
        self.scripts = list(scripts)
        self.calls: list[ModelCall] = []
        self.closed = 0

    async def send(self, call: ModelCall, /) -> ModelResult:
        raise AssertionError("a streamed call must not use send()")

    async def stream(self, call: ModelCall, /) -> AsyncIterator[StreamChunk]:
        self.calls.append(call)
        script = self.scripts.pop(0)
        if isinstance(script, BaseException):
            raise script
        try:
            for piece in script:
                if isinstance(piece, BaseException):
                    raise piece
                if isinstance(piece, float):
                    await anyio.sleep(piece)
                    continue
                yield piece
        finally:
            self.closed += 1


USAGE = Usage(input_tokens=1000, output_tokens=20)
ANSWER: list[Piece] = [
    StreamChunk(text="Hel"),
    StreamChunk(text="lo"),
    StreamChunk(tool_calls=(ToolCallDelta(0, id="call_1", name="lookup", arguments='{"q"'),)),
    StreamChunk(tool_calls=(ToolCallDelta(0, arguments=': "x"}'),)),
    StreamChunk(finish_reason="tool_calls"),
    StreamChunk(usage=USAGE),
]


def router(alpha: Any, beta: Any, **resilience: Any) -> Router:
    data = config_dict()
    data["resilience"] = {"max_retries": 0, **resilience}
    return Router(data, providers={"alpha": alpha, "beta": beta}, clock=FakeClock())


async def read_all(r: Router, **kwargs: Any) -> tuple[list[StreamChunk], Any]:
    async with r.session("s1") as session, r.stream(CONVERSATION, hints=MEDIUM, **kwargs) as s:
        chunks = [chunk async for chunk in s]
    return chunks, (s, session)


async def test_a_failure_before_the_first_chunk_falls_back_and_the_answer_is_assembled() -> None:
    alpha = StreamingProvider(ProviderUnavailable("busy", status_code=503))
    beta = StreamingProvider(ANSWER)
    chunks, (stream, session) = await read_all(router(alpha, beta))
    assert [c.text for c in chunks[:2]] == ["Hel", "lo"]
    result = stream.result
    assert result.text == "Hello"
    assert [(t.id, t.name, t.arguments) for t in result.tool_calls] == [
        ("call_1", "lookup", '{"q": "x"}')
    ]
    assert result.finish_reason == "tool_calls"
    assert result.target is not None and result.target.key == "beta/mid-b"
    assert [(a.target.key, a.outcome) for a in result.attempts] == [
        ("alpha/mid-1", "error"),
        ("beta/mid-b", "ok"),
    ]
    # mid costs $2/M input and $4/M output: 1000 × 2e-6 + 20 × 4e-6
    assert result.cost_usd == pytest.approx(0.00208)
    assert result.attempts[-1].usage == USAGE
    assert session.state.cost_usd == pytest.approx(0.00208)  # charged once, at the end
    assert session.state.usage == USAGE
    assert beta.closed == 1


async def test_a_stream_ending_before_its_first_chunk_is_a_failed_attempt() -> None:
    alpha = StreamingProvider([])
    beta = StreamingProvider(ANSWER)
    _, (stream, _) = await read_all(router(alpha, beta))
    first = stream.result.attempts[0]
    assert first.error_type == "ProviderConnectionError"
    assert stream.result.text == "Hello"


async def test_every_deployment_failing_before_output_raises_the_group() -> None:
    alpha = StreamingProvider(ProviderUnavailable("busy", status_code=503))
    beta = StreamingProvider(httpx.ConnectError("refused"))
    with pytest.raises(AllAttemptsFailed) as info:
        await read_all(router(alpha, beta, escalate_on_exhaustion=False))
    assert [a.error_type for a in info.value.attempts] == [
        "ProviderUnavailable",
        "ProviderConnectionError",
    ]


async def test_a_failure_after_the_first_chunk_raises_stream_interrupted_with_the_partial() -> None:
    alpha = StreamingProvider([ANSWER[0], ANSWER[2], ProviderConnectionError("reset")])
    beta = StreamingProvider(ANSWER)
    received: list[str] = []
    r = router(alpha, beta)

    async def consume() -> None:
        async with r.stream(CONVERSATION, hints=MEDIUM) as s:
            async for chunk in s:
                received.append(chunk.text)

    async with r.session("s1") as session:
        with pytest.raises(StreamInterrupted) as info:
            await consume()
    err = info.value
    assert isinstance(err.error, ProviderConnectionError)
    assert err.__cause__ is err.error
    assert err.error.deployment == "mid-1"
    assert err.partial.text == "Hel" == "".join(received)
    assert err.partial.tool_calls[0].name == "lookup"  # what arrived of it
    assert [(a.target.key, a.outcome, a.error_type) for a in err.partial.attempts] == [
        ("alpha/mid-1", "error", "ProviderConnectionError")
    ]
    assert beta.calls == []  # output was delivered: never re-sent behind the caller's back
    assert session.state.last_attempts == err.partial.attempts
    assert alpha.closed == 1


async def test_a_foreign_error_mid_stream_is_translated_and_a_bug_is_not() -> None:
    alpha = StreamingProvider([ANSWER[0], httpx.ReadError("peer closed")])
    with pytest.raises(StreamInterrupted) as info:
        await read_all(router(alpha, StreamingProvider()))
    assert isinstance(info.value.error, ProviderConnectionError)

    buggy = StreamingProvider([ANSWER[0], ValueError("bug in my provider")])
    with pytest.raises(ValueError, match="bug in my provider"):
        await read_all(router(buggy, StreamingProvider()))


async def test_a_silent_stream_times_out_between_chunks() -> None:
    alpha = StreamingProvider([ANSWER[0], 30.0, ANSWER[1]])
    r = router(alpha, StreamingProvider(), attempt_timeout_s=0.05)
    with pytest.raises(StreamInterrupted) as info:
        await read_all(r)
    assert info.value.error.__class__.__name__ == "ProviderTimeout"
    assert "no chunk within 0.05s" in str(info.value)
    assert info.value.partial.text == "Hel"


async def test_leaving_a_stream_early_closes_it_and_records_the_attempt_as_cancelled() -> None:
    alpha = StreamingProvider(ANSWER)
    r = router(alpha, StreamingProvider())
    async with r.session("s1") as session:
        async with r.stream(CONVERSATION, hints=MEDIUM) as s:
            async for _ in s:
                break
        with pytest.raises(ConfigurationError, match="has not ended"):
            _ = s.result
    assert alpha.closed == 1
    assert [a.outcome for a in session.state.last_attempts] == ["cancelled"]
    assert session.state.last_attempts[0].cancelled


async def test_a_provider_without_stream_is_a_configuration_error() -> None:
    from agentroute.testing import ScriptedProvider

    r = router(ScriptedProvider(["hi"]), StreamingProvider())
    with pytest.raises(ConfigurationError, match="cannot stream"):
        await read_all(r)


async def test_iterating_outside_async_with_is_a_clear_error() -> None:
    r = router(StreamingProvider(ANSWER), StreamingProvider())
    stream = r.stream(CONVERSATION)
    with pytest.raises(ConfigurationError, match="async with"):
        await stream.__anext__()


async def test_a_configured_restart_starts_over_on_the_other_deployment() -> None:
    alpha = StreamingProvider([ANSWER[0], ProviderConnectionError("reset")])
    beta = StreamingProvider(ANSWER)
    r = router(alpha, beta, stream_restarts=1)
    chunks, (stream, session) = await read_all(r)
    assert [(c.text, c.restarted) for c in chunks[:3]] == [
        ("Hel", False),
        ("Hel", True),  # the new answer starts over: discard what came before
        ("lo", False),
    ]
    result = stream.result
    assert result.text == "Hello"  # the assembled answer is the restarted one only
    assert [(a.number, a.target.key, a.outcome) for a in result.attempts] == [
        (1, "alpha/mid-1", "error"),
        (2, "beta/mid-b", "ok"),
    ]
    assert session.state.last_attempts == result.attempts
    assert len(session.state.decisions) == 1  # the same step, not a new routing decision


async def test_restarts_are_bounded_then_the_stream_is_interrupted() -> None:
    alpha = StreamingProvider([ANSWER[0], ProviderConnectionError("reset")])
    beta = StreamingProvider([ANSWER[0], ANSWER[1], ProviderConnectionError("reset again")])
    r = router(alpha, beta, stream_restarts=1)
    with pytest.raises(StreamInterrupted) as info:
        await read_all(r)
    assert info.value.partial.text == "Hello"
    assert [(a.target.key, a.outcome) for a in info.value.partial.attempts] == [
        ("alpha/mid-1", "error"),
        ("beta/mid-b", "error"),
    ]
