"""Test doubles for code that uses agentroute. Nothing here touches the network.

* :class:`ScriptedProvider` answers each call with the next item of a script: a result, a
  text, a raw response, or an exception to raise — to drive retry and fallback sequences.
* :class:`MockProvider` answers through a handler function you write.
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
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeAlias

from anyio.lowlevel import checkpoint
from structlog.testing import capture_logs

from agentroute._types import CallNext, Message, ModelCall, ModelResult, ToolCall, Usage

__all__ = [
    "CallRecorder",
    "FakeClock",
    "MockProvider",
    "ScriptExhausted",
    "ScriptedProvider",
    "capture_logs",
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


class ScriptedProvider:
    """Answers calls from a queue; records every call it received in ``calls``.

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


class MockProvider:
    """Answers each call with ``handler(call)``, sync or async; returned exceptions are raised."""

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
