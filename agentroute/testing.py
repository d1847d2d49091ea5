"""Test doubles for code that uses agentroute. Nothing here touches the network.

* :class:`ScriptedProvider` answers each call with the next item of a script: a result, a
  text, a raw response, or an exception to raise — to drive retry and fallback sequences.
* :class:`MockProvider` answers through a handler function you write.
* :class:`StreamingProvider` streams: each call plays a script of chunks (text, tool-call
  pieces, usage), optionally failing before or after its first chunk — for ``router.stream()``.
  :func:`chunks_for` cuts a result into such a script.
* :class:`CallRecorder` is a middleware that records every call and result passing through.
* :class:`FakeClock` stands in for the real clock: backoff "sleeps" advance it at once, so
  retry tests never wait (``Router(config, clock=FakeClock())``).
* :func:`capture_logs` is structlog's log capture, re-exported.
* :func:`text_result`, :func:`tool_call_result` and :func:`openai_response` build answers.

Register providers under the config's provider names::

    router = Router(config, providers={"openai": ScriptedProvider(["hi", RateLimited("slow")])})
"""

from __future__ import annotations

import inspect
import json
import random
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeAlias

import anyio
from anyio.lowlevel import checkpoint
from structlog.testing import capture_logs

from agentroute._types import (
    CallNext,
    Message,
    ModelCall,
    ModelResult,
    StreamChunk,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from agentroute.providers.base import BaseProvider

__all__ = [
    "CallRecorder",
    "FakeClock",
    "MockProvider",
    "ScriptExhausted",
    "ScriptedProvider",
    "StreamPiece",
    "StreamScript",
    "StreamingProvider",
    "capture_logs",
    "chunks_for",
    "openai_response",
    "text_result",
    "tool_call_result",
]

Outcome: TypeAlias = ModelResult | BaseException | str | Mapping[str, Any]
"""A scripted answer: a ModelResult, an exception to raise, a text, or a raw response dict."""


class FakeClock:
    """A :class:`~agentroute.clock.Clock` whose time moves only when something sleeps.

    ``sleep(s)`` records ``s`` in :attr:`sleeps`, advances :attr:`time` by ``s`` and yields
    to the event loop once (a checkpoint, so cancellation still reaches a sleeping call).
    ``advance(s)`` moves time forward by hand (to expire a cooldown). Jitter draws come from a
    seeded RNG, or are the constant ``draw`` when one is given.
    """

    def __init__(self, start: float = 0.0, *, draw: float | None = None, seed: int = 0) -> None:
        self.time = start
        self.sleeps: list[float] = []
        self._draw = draw
        self._rng = random.Random(seed)

    def now(self) -> float:
        return self.time

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.time += seconds
        await checkpoint()

    def advance(self, seconds: float) -> None:
        self.time += seconds

    def random(self) -> float:
        return self._rng.random() if self._draw is None else self._draw

    def __repr__(self) -> str:
        return f"FakeClock(time={self.time:g}, sleeps={len(self.sleeps)})"


class ScriptExhausted(AssertionError):
    """A ScriptedProvider was called more often than its script has items."""


def text_result(text: str, usage: Usage | None = None) -> ModelResult:
    """A plain text answer (default usage: 10 input tokens, 5 output tokens)."""
    return ModelResult(text=text, finish_reason="stop", usage=usage or Usage(10, 5))


def tool_call_result(
    name: str,
    arguments: Mapping[str, Any] | None = None,
    *,
    id: str = "call_1",
    usage: Usage | None = None,
) -> ModelResult:
    """An answer that asks for one tool call."""
    call = ToolCall(id=id, name=name, arguments=json.dumps(dict(arguments or {})))
    return ModelResult(tool_calls=(call,), finish_reason="tool_calls", usage=usage or Usage(10, 5))


def openai_response(
    text: str = "ok",
    *,
    model: str = "test-model",
    prompt_tokens: int = 10,
    completion_tokens: int = 5,
    cached_tokens: int = 0,
) -> dict[str, Any]:
    """A Chat Completions response as a plain dict, usage included (for ``wrap()`` tests)."""
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached_tokens},
        },
    }


def _to_result(outcome: Outcome) -> ModelResult:
    if isinstance(outcome, ModelResult):
        return outcome
    if isinstance(outcome, str):
        return text_result(outcome)
    from agentroute.providers.usage import usage_from_response

    return ModelResult(raw=outcome, usage=usage_from_response(outcome) or Usage())


class ScriptedProvider(BaseProvider):
    """Answers calls from a queue; records every call it received in ``calls``. It cannot
    stream: see :class:`StreamingProvider`.

    Args:
        script: outcomes, used in order, one per call.
        default: the outcome once the script is used up; without one, an extra call raises
            :class:`ScriptExhausted` (so a test notices an unexpected call).
    """

    def __init__(self, script: Iterable[Outcome] = (), *, default: Outcome | None = None) -> None:
        self._script: deque[Outcome] = deque(script)
        self._default = default
        self.calls: list[ModelCall] = []

    def push(self, *outcomes: Outcome) -> None:
        """Append outcomes to the script."""
        self._script.extend(outcomes)

    @property
    def remaining(self) -> int:
        return len(self._script)

    async def send(self, call: ModelCall, /) -> ModelResult:
        self.calls.append(call)
        if self._script:
            outcome = self._script.popleft()
        elif self._default is not None:
            outcome = self._default
        else:
            raise ScriptExhausted(
                f"ScriptedProvider got call #{len(self.calls)} but its script is empty"
            )
        if isinstance(outcome, BaseException):
            raise outcome
        return _to_result(outcome)

    def as_function(self) -> Callable[..., Awaitable[Any]]:
        """An async ``(messages, *, model, **kw)`` function for ``wrap()``, answering raw dicts."""

        async def call_llm(messages: Sequence[Message], *, model: str, **kwargs: Any) -> Any:
            from agentroute._types import Target

            target = Target(model, "", "", "", model, 0)
            result = await self.send(ModelCall(messages=messages, params=kwargs, target=target))
            if result.raw is not None:
                return result.raw
            return openai_response(
                result.text or "",
                model=model,
                prompt_tokens=result.usage.input_tokens,
                completion_tokens=result.usage.output_tokens,
                cached_tokens=result.usage.cache_read_tokens,
            )

        return call_llm


Handler: TypeAlias = Callable[[ModelCall], Outcome | Awaitable[Outcome]]


class MockProvider(BaseProvider):
    """Answers each call with ``handler(call)``, sync or async; returned exceptions are raised
    (it cannot stream)."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.calls: list[ModelCall] = []

    async def send(self, call: ModelCall, /) -> ModelResult:
        self.calls.append(call)
        outcome = self._handler(call)
        if inspect.isawaitable(outcome):
            outcome = await outcome
        if isinstance(outcome, BaseException):
            raise outcome
        return _to_result(outcome)


def chunks_for(result: ModelResult, *, pieces: int = 2) -> list[StreamChunk]:
    """``result`` as a provider would stream it: its text in ``pieces`` chunks, each tool call
    as a first piece (id, name, the start of its arguments) and a second with the rest, a chunk
    with the finish reason, then one with the usage report. ``router.stream()`` assembles them
    back into ``result``'s text, tool calls, finish reason and usage."""
    if pieces < 1:
        raise ValueError(f"pieces must be at least 1, not {pieces}")
    text = result.text or ""
    size = max(1, -(-len(text) // pieces))  # ceil: at most `pieces` chunks
    chunks = [StreamChunk(text=text[i : i + size]) for i in range(0, len(text), size)]
    for index, call in enumerate(result.tool_calls):
        half = len(call.arguments) // 2
        head = ToolCallDelta(index, id=call.id, name=call.name, arguments=call.arguments[:half])
        tail = ToolCallDelta(index, arguments=call.arguments[half:])
        chunks += [StreamChunk(tool_calls=(head,)), StreamChunk(tool_calls=(tail,))]
    if result.finish_reason is not None:
        chunks.append(StreamChunk(finish_reason=result.finish_reason))
    chunks.append(StreamChunk(usage=result.usage))
    return chunks


StreamPiece: TypeAlias = StreamChunk | str | ToolCallDelta | Usage | BaseException | float
"""One item of a stream script: a chunk; a text, a tool-call piece or a usage report (each
sent as a chunk of its own); an exception, raised there; or a number of seconds to wait
(``anyio.sleep``) before the next item."""

StreamScript: TypeAlias = Sequence[StreamPiece] | ModelResult | str | BaseException
"""What one streamed call plays: a list of pieces; a result or a text (streamed as
:func:`chunks_for` cuts it); or an exception, raised before any chunk."""


def _chunk(piece: object) -> StreamChunk:
    if isinstance(piece, StreamChunk):
        return piece
    if isinstance(piece, str):
        return StreamChunk(text=piece)
    if isinstance(piece, ToolCallDelta):
        return StreamChunk(tool_calls=(piece,))
    if isinstance(piece, Usage):
        return StreamChunk(usage=piece)
    raise TypeError(
        f"a stream script piece is a StreamChunk, str, ToolCallDelta, Usage, exception or number "
        f"(of seconds to wait), not {type(piece).__name__}"
    )


class StreamingProvider(BaseProvider):
    """A provider double for streamed calls: each ``stream(call)`` plays the next script.

    A script (:data:`StreamScript`) is a list of pieces (:data:`StreamPiece`) played in order:
    chunks are yielded and an exception is raised where it stands. First in the list (or as
    the whole script) it is a failure before the first chunk, which the router treats like any
    failed attempt (retry, the next deployment); after a chunk it breaks the stream midway
    (``StreamInterrupted`` with the partial answer, or a restart with
    ``resilience.stream_restarts``). A :class:`~agentroute.ModelResult` or a text is streamed
    as :func:`chunks_for` cuts it.

    ``calls`` records every call; ``closed`` counts the streams that ended — read to the end,
    broken, or closed early by their reader — so a test can check that none was left open.

    Args:
        scripts: one per call, used in order.
        default: the script once those are used up; without one, an extra call raises
            :class:`ScriptExhausted`.

    It only streams: ``send()`` (``router.complete()``) raises :class:`AssertionError`;
    answer plain calls with :class:`ScriptedProvider`. Register it under a provider name::

        provider = StreamingProvider(
            ["Hel", "lo", Usage(1000, 20)],
            ["Hel", ProviderConnectionError("connection reset")],
        )
        router = Router(config, providers={"openai": provider})
        async with router.stream(messages) as stream:
            text = "".join([chunk.text async for chunk in stream])
    """

    def __init__(self, *scripts: StreamScript, default: StreamScript | None = None) -> None:
        self._scripts: deque[StreamScript] = deque(scripts)
        self._default = default
        self.calls: list[ModelCall] = []
        self.closed = 0

    def push(self, *scripts: StreamScript) -> None:
        """Append scripts, one per further call."""
        self._scripts.extend(scripts)

    @property
    def remaining(self) -> int:
        return len(self._scripts)

    async def send(self, call: ModelCall, /) -> ModelResult:
        raise AssertionError(
            "StreamingProvider answers streamed calls only (router.stream()); "
            "answer router.complete() with ScriptedProvider"
        )

    async def stream(self, call: ModelCall, /) -> AsyncIterator[StreamChunk]:
        """Play the next script for ``call`` (see the class)."""
        self.calls.append(call)
        script = self._next()
        try:
            if isinstance(script, BaseException):
                raise script
            if isinstance(script, str):
                script = text_result(script)
            if isinstance(script, ModelResult):
                script = chunks_for(script)
            for piece in script:
                if isinstance(piece, BaseException):
                    raise piece
                if isinstance(piece, int | float) and not isinstance(piece, bool):
                    await anyio.sleep(piece)
                    continue
                yield _chunk(piece)
        finally:
            self.closed += 1

    def _next(self) -> StreamScript:
        if self._scripts:
            return self._scripts.popleft()
        if self._default is not None:
            return self._default
        raise ScriptExhausted(
            f"StreamingProvider got call #{len(self.calls)} but its scripts are used up"
        )


class CallRecorder:
    """A middleware recording every call it sees and what came back (result or exception)."""

    def __init__(self) -> None:
        self.calls: list[ModelCall] = []
        self.results: list[ModelResult | BaseException] = []

    async def __call__(self, call: ModelCall, call_next: CallNext, /) -> ModelResult:
        self.calls.append(call)
        try:
            result = await call_next(call)
        except BaseException as exc:
            self.results.append(exc)
            raise
        self.results.append(result)
        return result
