"""``Router.stream()``: a routed call whose answer arrives in chunks.

Opening the stream runs the whole chain — routing, the caller's middlewares, fallback — up to
the first chunk, so a failure before any output falls back exactly like a non-streamed call.
Once a chunk has been handed to the caller it cannot be taken back: a failure after it raises
:class:`~agentroute.errors.StreamInterrupted` with the partial output, and nothing is retried
behind the caller's back. The one exception is opt-in: with ``resilience.stream_restarts`` set,
a stream broken by a fault the recovery table would retry starts over on the call's other
deployments (the same decision; the broken one is tried last), and the first chunk of the new
answer carries ``restarted=True`` so the caller discards what it had.

Each chunk must arrive within ``resilience.attempt_timeout_s`` of the previous one. When the
stream ends, its usage and cost are charged to the session and
:attr:`RoutedStream.result` holds the assembled answer.

Use it as an async context manager, which always closes the HTTP response (also when the loop
is left early or the task is cancelled)::

    async with router.stream(messages, tools=tools) as stream:
        async for chunk in stream:
            print(chunk.text, end="")
    answer = stream.result
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

import anyio

from agentroute._error_translation import translate
from agentroute._types import (
    Attempt,
    AttemptOutcome,
    CallNext,
    Decision,
    ModelCall,
    ModelResult,
    StreamChunk,
    Target,
    ToolCall,
    Usage,
)
from agentroute.config import Price
from agentroute.errors import ConfigurationError, ProviderError, ProviderTimeout, StreamInterrupted
from agentroute.middleware.recovery import Action, rule_for
from agentroute.pricing import cost_usd
from agentroute.session import SessionState

__all__ = ["Restart", "RoutedStream"]

Restart = Callable[[ModelCall, Decision, Target, int], Awaitable[ModelResult]]
"""Re-run a streamed call's attempts (same decision; the deployment that broke last), numbered
on after the given count."""


def _marked(chunk: StreamChunk) -> StreamChunk:
    return StreamChunk(
        chunk.text, chunk.tool_calls, chunk.finish_reason, chunk.usage, chunk.raw, restarted=True
    )


class RoutedStream:
    """The chunks of one routed call; see the module docstring for the semantics.

    Raises (from ``async with`` / iteration):
        AllAttemptsFailed: every attempt failed before its first chunk.
        StreamInterrupted: the stream failed after its first chunk (partial output inside).
    """

    def __init__(
        self,
        chain: CallNext,
        make_call: Callable[[], ModelCall],
        *,
        prices: dict[str, Price],
        chunk_timeout_s: float | None,
        restart: Restart | None = None,
        max_restarts: int = 0,
    ) -> None:
        self._chain = chain
        self._make_call = make_call
        self._restart = restart
        self._restarts_left = max_restarts if restart is not None else 0
        self._call: ModelCall | None = None
        self._earlier: tuple[Attempt, ...] = ()
        self._restarted = False
        self._prices = prices
        self._timeout = chunk_timeout_s
        self._opened: ModelResult | None = None
        self._target: Target | None = None
        self._source: Any = None
        self._state: SessionState | None = None
        self._text: list[str] = []
        self._calls: dict[int, list[str]] = {}
        self._finish: str | None = None
        self._usage: Usage | None = None
        self._result: ModelResult | None = None
        self._failed = False

    def __repr__(self) -> str:
        where = self._opened.target.key if self._opened and self._opened.target else "unopened"
        return f"RoutedStream({where}, done={self._result is not None})"

    async def __aenter__(self) -> RoutedStream:
        call = self._call = self._make_call()
        self._state = call.session
        self._open(await self._chain(call))
        return self

    def _open(self, opened: ModelResult) -> None:
        if opened.stream is None or opened.target is None or not opened.attempts:
            raise ConfigurationError(
                "the chain answered a streamed call without an open stream, target and attempts"
            )
        self._target = opened.target
        self._opened = opened
        self._source = opened.stream

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        source, self._source = self._source, None
        if source is not None:
            with anyio.CancelScope(shield=True):
                await source.aclose()
        if self._result is None and not self._failed and self._opened is not None:
            # left early or cancelled: the last attempt is recorded as cancelled
            self._charge(self._last_attempt("cancelled"))

    def __aiter__(self) -> RoutedStream:
        return self

    async def __anext__(self) -> StreamChunk:
        while True:
            source = self._source
            if source is None:
                if self._opened is None:
                    raise ConfigurationError(
                        "use the stream inside `async with router.stream(...)`"
                    )
                raise StopAsyncIteration
            chunk: StreamChunk | None = None
            try:
                if self._timeout is None:
                    chunk = await source.__anext__()
                else:
                    with anyio.move_on_after(self._timeout):
                        chunk = await source.__anext__()
                if chunk is None:
                    raise ProviderTimeout(f"no chunk within {self._timeout:g}s")
            except StopAsyncIteration:
                self._end()
                raise
            except Exception as exc:
                err = translate(exc, self._where())
                if not isinstance(err, ProviderError):
                    raise
                await self._broken(err, exc)
                continue
            if self._restarted:
                self._restarted = False
                chunk = _marked(chunk)
            self._take(chunk)
            return chunk

    async def _broken(self, err: ProviderError, cause: BaseException) -> None:
        """The stream broke with ``cause`` (``err``: its translation, located and masked):
        start over elsewhere if a restart is left, else raise."""
        opened = self._opened_result()
        restart, call = self._restart, self._call
        if (
            self._restarts_left <= 0
            or restart is None
            or call is None
            or opened.decision is None
            or rule_for(err).action is Action.RAISE
        ):
            raise self._interrupted(err) from cause
        self._restarts_left -= 1
        target = self._where()
        self._earlier = self._charge(self._last_attempt("error", err))
        source, self._source = self._source, None
        with anyio.CancelScope(shield=True):
            await source.aclose()
        self._text, self._calls, self._finish, self._usage = [], {}, None, None
        self._open(await restart(call, opened.decision, target, len(self._earlier)))
        self._restarted = True

    # What arrived --------------------------------------------------------------------------

    @property
    def result(self) -> ModelResult:
        """The assembled answer, once the stream has ended.

        Raises:
            ConfigurationError: the stream has not ended (yet).
        """
        if self._result is None:
            raise ConfigurationError("the stream has not ended: read it to the end first")
        return self._result

    def _opened_result(self) -> ModelResult:
        if self._opened is None:
            raise ConfigurationError("the stream is not open")
        return self._opened

    def _where(self) -> Target:
        if self._target is None:
            raise ConfigurationError("the stream is not open")
        return self._target

    def _take(self, chunk: StreamChunk) -> None:
        if chunk.text:
            self._text.append(chunk.text)
        for delta in chunk.tool_calls:
            parts = self._calls.get(delta.index)
            if parts is None:
                parts = self._calls[delta.index] = ["", ""]
            if delta.id:
                parts[0] = delta.id
            if delta.name:
                parts[1] = delta.name
            parts.append(delta.arguments)
        if chunk.finish_reason is not None:
            self._finish = chunk.finish_reason
        if chunk.usage is not None:
            self._usage = chunk.usage

    def _assembled(self, attempts: tuple[Attempt, ...], usage: Usage, cost: float) -> ModelResult:
        opened = self._opened_result()
        calls = tuple(
            ToolCall(id=p[0], name=p[1], arguments="".join(p[2:]))
            for _, p in sorted(self._calls.items())
        )
        return ModelResult(
            text="".join(self._text) if self._text else None,
            tool_calls=calls,
            finish_reason=self._finish,
            usage=usage,
            response_model=self._where().deployment,
            target=self._where(),
            cost_usd=cost,
            decision=opened.decision,
            attempts=attempts,
        )

    def _last_attempt(self, outcome: AttemptOutcome, err: ProviderError | None = None) -> Attempt:
        """The serving attempt, completed now with the stream's usage (and error, if any)."""
        served = self._opened_result().attempts[-1]
        usage = self._usage
        cost = cost_usd(usage, self._prices[served.target.model]) if usage is not None else 0.0
        return Attempt(
            number=served.number,
            target=served.target,
            outcome=outcome,
            duration_s=served.duration_s,
            error_type=type(err).__name__ if err is not None else None,
            status_code=err.status_code if err is not None else None,
            usage=usage,
            cost_usd=cost,
            lag_s=served.lag_s,
            error=err,
        )

    def _charge(self, attempt: Attempt) -> tuple[Attempt, ...]:
        """Charge the stream's usage to the session; the call's attempts, this one last."""
        attempts = (*self._earlier, *self._opened_result().attempts[:-1], attempt)
        state = self._state
        if state is not None:
            state.charge(attempts)
        return attempts

    def _end(self) -> None:
        self._source = None
        attempt = self._last_attempt("ok")
        attempts = self._charge(attempt)
        self._result = self._assembled(attempts, attempt.usage or Usage(), attempt.cost_usd)

    def _interrupted(self, err: ProviderError) -> StreamInterrupted:
        self._failed = True
        target = self._where()
        attempt = self._last_attempt("error", err)
        attempts = self._charge(attempt)
        partial = self._assembled(attempts, attempt.usage or Usage(), attempt.cost_usd)
        received = len("".join(self._text))
        return StreamInterrupted(
            f"the stream from {target.key} broke after {received} characters: {err}",
            partial=partial,
            error=err,
        )
