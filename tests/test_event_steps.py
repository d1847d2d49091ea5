"""Log events report the step of the call they are about, not the session's latest step.

Each test runs two concurrent calls on one session: the first call's model answer is held until
the second call has begun (so the session's latest step is 2), then the first call does what
the event reports. The event must carry step 1."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio
import pytest

from agentroute import ModelCall, ModelResult, ProviderUnavailable, Router, Usage
from agentroute.testing import FakeClock, capture_logs, text_result
from tests.helpers import CONVERSATION, config_dict

pytestmark = pytest.mark.anyio


class FirstWaitsForSecond:
    """A provider double: the call numbered 1 waits until the call numbered 2 has reached a
    provider, then fails (``fail_first``) or answers; every other call answers at once."""

    def __init__(self, second_began: anyio.Event, *, fail_first: bool) -> None:
        self._second_began = second_began
        self._fail_first = fail_first
        self.steps_seen_by_first: list[int] = []

    async def send(self, call: ModelCall, /) -> ModelResult:
        if call.step == 1:
            await self._second_began.wait()
            assert call.session is not None
            self.steps_seen_by_first.append(call.session.step)
            if self._fail_first:
                raise ProviderUnavailable("busy", status_code=503)
        else:
            self._second_began.set()
        return text_result("ok", usage=Usage(10, 2))


class Answers:
    async def send(self, call: ModelCall, /) -> ModelResult:
        return text_result("ok", usage=Usage(10, 2))


async def _two_calls(router: Router, run: Any) -> None:
    async with router.session("s"), anyio.create_task_group() as tg:
        tg.start_soon(run)
        await anyio.wait_all_tasks_blocked()  # the first call is in its provider, waiting
        tg.start_soon(run)


async def test_a_fallback_event_carries_its_own_calls_step() -> None:
    second_began = anyio.Event()
    first = FirstWaitsForSecond(second_began, fail_first=True)
    router = Router(config_dict(), providers={"alpha": first, "beta": Answers()}, clock=FakeClock())

    async def run() -> None:  # the medium tier: mid on alpha first, then on beta
        await router.complete(CONVERSATION, hints={"min_tier": "medium"})

    with capture_logs() as logs:
        await _two_calls(router, run)
    assert first.steps_seen_by_first == [2]  # the session's latest step was the second call's
    fallbacks = [e for e in logs if e["event"] == "route.fallback"]
    assert [(e["step"], e["deployment"], e["to_deployment"]) for e in fallbacks] == [
        (1, "alpha/mid-1", "beta/mid-b")
    ]
    failed = [e for e in logs if e["event"] == "route.attempt" and e["outcome"] == "error"]
    assert [e["step"] for e in failed] == [1]


async def test_a_pin_event_carries_its_own_calls_step() -> None:
    second_began = anyio.Event()
    first = FirstWaitsForSecond(second_began, fail_first=False)
    router = Router(config_dict(), providers={"alpha": first, "beta": Answers()}, clock=FakeClock())

    async def run() -> None:  # the simple tier: small, sticky (its cache reads are cheaper)
        await router.complete(CONVERSATION)

    with capture_logs() as logs:
        await _two_calls(router, run)
    assert first.steps_seen_by_first == [2]
    pins = [(e["step"], e["pin"]) for e in logs if e["event"] == "route.affinity"]
    assert sorted(pins) == [(1, "new"), (2, "new")]  # both read the pins before either answered


class Opaque:
    """An answer whose token usage the default reader does not understand."""


async def test_a_usage_unknown_event_carries_its_own_calls_step() -> None:
    second_began = anyio.Event()
    steps: list[int] = []

    async def call_llm(messages: Sequence[Any], *, model: str, **_: Any) -> Any:
        if not second_began.is_set() and not steps:
            steps.append(1)
            await second_began.wait()
            return Opaque()  # the first call: not understood, logged with its step
        second_began.set()
        return {
            "model": model,
            "choices": [{"message": {"role": "assistant", "content": "ok"}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 2},
        }

    router = Router(config_dict(), clock=FakeClock())
    routed = router.wrap(call_llm)

    async def run() -> None:
        await routed(CONVERSATION)

    with capture_logs() as logs:
        await _two_calls(router, run)
    unknown = [e for e in logs if e["event"] == "route.usage_unknown"]
    assert [(e["step"], e["response_type"].rsplit(".", 1)[-1]) for e in unknown] == [(1, "Opaque")]
    decisions = sorted(e["step"] for e in logs if e["event"] == "route.decision")
    assert decisions == [1, 2]  # both calls were routed before the first one's answer came


async def test_a_cooldown_event_carries_its_own_calls_step() -> None:
    second_began = anyio.Event()
    first = FirstWaitsForSecond(second_began, fail_first=True)
    data = config_dict(resilience={"max_retries": 0, "allowed_fails": 1})
    router = Router(data, providers={"alpha": first, "beta": Answers()}, clock=FakeClock())

    async def run() -> None:
        await router.complete(CONVERSATION, hints={"min_tier": "medium"})

    with capture_logs() as logs:
        await _two_calls(router, run)
    cooldowns = [(e["step"], e["deployment"]) for e in logs if e["event"] == "route.cooldown"]
    assert cooldowns == [(1, "alpha/mid-1")]


class HoldFirstAfterAnswer:
    """A user middleware: the first call, once answered, waits for ``release`` (it is then
    cancelled while waiting, after its fallback step returned)."""

    def __init__(self, release: anyio.Event) -> None:
        self._release = release
        self._held = False

    async def __call__(self, call: ModelCall, call_next: Any) -> ModelResult:
        result: ModelResult = await call_next(call)
        if not self._held:
            self._held = True
            await self._release.wait()
        return result


async def test_a_cancelled_calls_route_span_reports_its_own_attempts() -> None:
    """The first call is answered at once (1 attempt) and cancelled after its fallback step
    returned, while the second call of the session made 2 attempts: the first call's route span
    reports its 1 attempt, not the session's latest records (the second call's)."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from agentroute.telemetry import attributes as A

    exporter = InMemorySpanExporter()
    tracing = TracerProvider()
    tracing.add_span_processor(SimpleSpanProcessor(exporter))
    release = anyio.Event()
    calls = 0

    class FailsSecondOnAlpha:
        async def send(self, call: ModelCall, /) -> ModelResult:
            nonlocal calls
            calls += 1
            if calls == 2:  # the second call's first attempt
                raise ProviderUnavailable("busy", status_code=503)
            return text_result("ok", usage=Usage(10, 2))

    router = Router(
        config_dict(),
        providers={"alpha": FailsSecondOnAlpha(), "beta": Answers()},
        clock=FakeClock(),
        middleware=[HoldFirstAfterAnswer(release)],
        tracer_provider=tracing,
    )

    async def run() -> None:  # the medium tier: mid on alpha first, then on beta
        await router.complete(CONVERSATION, hints={"min_tier": "medium"})

    async with router.session("s"):
        with anyio.CancelScope() as first:
            async with anyio.create_task_group() as tg:
                tg.start_soon(run)
                await anyio.wait_all_tasks_blocked()  # the first call is held, answered
                await run()  # the second call: alpha fails, beta answers
                first.cancel()
    routes = [s for s in exporter.get_finished_spans() if s.name == A.ROUTE_SPAN]
    counts = sorted(
        (int(s.attributes[A.ATTEMPT_COUNT]), s.status.is_ok) for s in routes if s.attributes
    )
    assert counts == [(1, False), (2, True)]
