"""The session ledger (``SessionState``): its methods, and what concurrent calls on one session
do to it (the contract stated in its docstring), checked with 50 calls in flight at once."""

from __future__ import annotations

import gc
from typing import Any

import anyio
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentroute import (
    Attempt,
    Cause,
    Decision,
    ModelCall,
    ModelResult,
    Router,
    SessionState,
    StepLimitExceeded,
    Target,
    Usage,
)
from agentroute.policy.signals import SignalExtractor
from agentroute.policy.tokens import EstimateCounter
from agentroute.telemetry import attributes as A
from agentroute.testing import FakeClock
from tests.helpers import CONVERSATION, config_dict

pytestmark = pytest.mark.anyio

N = 50
SMALL = Target("small", "simple", "alpha", "openai", "small-1", 16000)


def decision(tier: str, step: int, previous: str | None = None) -> Decision:
    return Decision(tier, previous, Cause.SCORE, step, ("small",))


# The ledger's methods ---------------------------------------------------------------------------


def test_its_fields_are_read_only() -> None:
    state = SessionState("s")
    for name in ("step", "tier", "cost_usd", "usage", "escalation_reason", "reserved_usd"):
        with pytest.raises(AttributeError):
            setattr(state, name, 1)
    assert not hasattr(state, "calm_steps")  # the scored policy's own memory now


def test_a_step_is_given_back_only_while_no_later_call_took_one() -> None:
    state = SessionState("s")
    first, second = state.begin_step(), state.begin_step()
    assert (first, second) == (1, 2)
    assert not state.refund_step(first)  # the number was handed out after it: keep the gap
    assert state.step == 2
    assert state.refund_step(second)
    assert state.step == 1
    assert state.begin_step() == 2  # the given-back number is the next one


def test_record_keeps_the_latest_decision_and_its_tier() -> None:
    state = SessionState("s", explicit=True)
    for step, (tier, previous) in enumerate(
        [("simple", None), ("simple", "simple"), ("medium", "simple")], 1
    ):
        made = decision(tier, step, previous)
        state.record(made)
        assert (state.tier, state.last_decision) == (tier, made)
    assert [d.step for d in state.decisions] == [1, 2, 3]
    implicit = SessionState("i")
    implicit.record(decision("simple", 1))
    assert implicit.decisions == () and implicit.last_decision is not None


def test_an_implicit_session_keeps_only_its_last_decision() -> None:
    state = SessionState("s")
    state.record(decision("simple", 1))
    state.record(decision("medium", 2, "simple"))
    assert state.decisions == ()
    assert state.last_decision is not None and state.last_decision.tier == "medium"


def test_an_escalation_request_is_taken_once() -> None:
    state = SessionState("s")
    assert state.take_escalation() is None
    state.request_escalation("first")
    state.request_escalation("the user asked")  # a later request replaces the reason
    assert state.escalation_reason == "the user asked"
    assert state.take_escalation() == "the user asked"
    assert state.take_escalation() is None and state.escalation_reason is None


def test_charge_adds_billed_attempts_only() -> None:
    state = SessionState("s")
    first = Attempt(1, SMALL, "ok", 0.1, usage=Usage(10, 2), cost_usd=0.5)
    failed = Attempt(1, SMALL, "error", 0.1, error_type="RateLimited")
    again = Attempt(2, SMALL, "ok", 0.1, usage=Usage(5, 1, cache_read_tokens=4), cost_usd=1)
    state.charge((first,))
    state.begin_step()
    assert state.last_attempts == ()  # a new call's records start empty
    state.charge((failed,))  # not billed
    state.charge((failed, again))  # only the attempt that ended (the last) is charged
    assert state.last_attempts == (failed, again)
    assert state.cost_usd == pytest.approx(1.5)
    assert state.usage == Usage(15, 3, cache_read_tokens=4)


def test_an_idle_implicit_session_drops_its_attempt_records_and_keeps_its_totals() -> None:
    implicit, explicit = SessionState("i"), SessionState("e", explicit=True)
    billed = Attempt(1, SMALL, "ok", 0.1, usage=Usage(10, 2), cost_usd=0.5)
    for state in (implicit, explicit):
        state.begin_step()
        state.charge((billed,))
        state.idle()
    assert implicit.last_attempts == () and explicit.last_attempts == (billed,)
    for state in (implicit, explicit):
        assert (state.cost_usd, state.usage) == (0.5, Usage(10, 2))
        state.charge((Attempt(1, SMALL, "ok", 0.1, usage=Usage(1, 1), cost_usd=0.25),))
        assert (state.cost_usd, state.usage) == (0.75, Usage(11, 3))
    assert billed.usage == Usage(10, 2)  # the first attempt's own usage is never changed


def test_a_new_session_has_zero_totals_and_shares_its_tiers_reached() -> None:
    first, second = SessionState("a"), SessionState("b")
    assert (first.cost_usd, first.usage, first.decisions) == (0.0, Usage(), ())
    first.record(decision("simple", 1))
    second.record(decision("simple", 1))
    first.record(decision("medium", 2, "simple"))
    assert first.tiers_reached == ("simple", "medium") and second.tiers_reached == ("simple",)
    assert first.start_tier == second.start_tier == "simple"


def test_reservations_are_held_until_released() -> None:
    state = SessionState("s")
    state.reserve(0.1)
    state.reserve(0.2)
    assert state.reservations == 2 and state.reserved_usd == pytest.approx(0.3)
    state.release(0.1)
    assert state.reservations == 1 and state.reserved_usd == pytest.approx(0.2)
    state.release(0.2)
    assert (state.reservations, state.reserved_usd) == (0, 0.0)  # no rounding residue left


def test_a_completed_stream_attempt_replaces_its_open_record() -> None:
    state = SessionState("s")
    opened = Attempt(1, SMALL, "ok", 0.1)
    done = Attempt(1, SMALL, "ok", 0.3, usage=Usage(10, 2), cost_usd=0.2)
    state.charge((opened,))  # its stream is open: nothing to charge yet
    assert state.cost_usd == 0.0
    state.complete_attempt(opened, done)
    assert state.last_attempts == (done,)
    assert (state.cost_usd, state.usage) == (pytest.approx(0.2), Usage(10, 2))
    state.begin_step()  # a later call: the stream's end still charges, its record is gone
    state.complete_attempt(opened, Attempt(1, SMALL, "ok", 0.4, usage=Usage(1, 1), cost_usd=1))
    assert state.last_attempts == ()
    assert state.cost_usd == pytest.approx(1.2)


def test_restored_sets_a_point_of_a_session() -> None:
    state = SessionState.restored("s", step=4, tier="medium", usage=Usage(9, 1))
    assert (state.step, state.tier, state.usage) == (4, "medium", Usage(9, 1))


def test_restored_calm_steps_is_deprecated_and_names_its_replacement() -> None:
    with pytest.warns(DeprecationWarning, match=r"ScorePolicy\.remember_calm"):
        state = SessionState.restored("s", step=4, tier="medium", calm_steps=2)
    assert (state.step, state.tier) == (4, "medium")


# 50 concurrent calls on one session ------------------------------------------------------------


class Gate:
    """A provider that holds every call until ``n`` have arrived, then answers them in the
    reverse order of their arrival; call ``i`` (by arrival) uses ``i + 1`` input tokens, so each
    charge can be told apart in the totals."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.calls: list[ModelCall] = []
        self.arrived = anyio.Event()
        self.turn = n - 1
        self.moved = anyio.Event()

    async def send(self, call: ModelCall, /) -> ModelResult:
        index = len(self.calls)
        self.calls.append(call)
        if len(self.calls) == self.n:
            self.arrived.set()
        await self.arrived.wait()
        while self.turn != index:  # the last to arrive answers first
            await self.moved.wait()
        usage = Usage(index + 1, 1)
        self.turn -= 1
        self.moved.set()
        self.moved = anyio.Event()
        return ModelResult(text=f"answer {index}", usage=usage)


def _router(gate: Gate, **config: Any) -> tuple[Router, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    data = config_dict(telemetry={"log_events": False}, **config)
    router = Router(
        data,
        providers={"alpha": gate, "beta": gate},
        clock=FakeClock(),
        tracer_provider=provider,
    )
    return router, exporter


async def _burst(router: Router, n: int) -> tuple[list[ModelResult], list[BaseException]]:
    results: list[ModelResult] = []
    errors: list[BaseException] = []

    async def one() -> None:
        try:
            results.append(await router.complete(CONVERSATION))
        except StepLimitExceeded as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        for _ in range(n):
            tg.start_soon(one)
    return results, errors


async def test_fifty_concurrent_calls_number_charge_and_record_as_documented() -> None:
    gate = Gate(N)
    router, exporter = _router(gate)
    async with router.session("burst") as session:
        session.escalate("the operator asked")
        results, errors = await _burst(router, N)
    assert errors == []
    # Step numbering: distinct consecutive numbers, each call keeping its own to the end.
    assert sorted(call.step for call in gate.calls) == list(range(1, N + 1))
    steps = [r.decision.step for r in results if r.decision is not None]
    assert steps != sorted(steps)  # they ended out of order (the gate answers in reverse)
    assert sorted(steps) == list(range(1, N + 1))
    assert session.step == N
    spans = [s for s in exporter.get_finished_spans() if s.name == A.ROUTE_SPAN]
    assert sorted(int(str(s.attributes[A.SESSION_STEP])) for s in spans if s.attributes) == sorted(
        steps
    )
    # Charging: every billed attempt counted once, whatever order the calls ended in.
    assert session.usage == Usage(sum(range(1, N + 1)), N)
    assert session.usage == sum((r.usage for r in results), Usage())
    assert session.cost_usd == pytest.approx(sum(r.cost_usd for r in results))
    # Decisions: recorded in the order the calls were routed (the order they entered).
    assert [d.step for d in session.decisions] == list(range(1, N + 1))
    # The escalation request is taken by exactly one call: the first routed.
    escalated = [d for d in session.decisions if d.cause == Cause.ESCALATION_REQUEST]
    assert [d.step for d in escalated] == [1]
    assert session.state.escalation_reason is None


async def test_the_step_limit_admits_exactly_max_steps_of_fifty_concurrent_calls() -> None:
    gate = Gate(30)
    router, _ = _router(gate, budget={"max_steps": 30})
    async with router.session("burst") as session:
        results, errors = await _burst(router, N)
    assert (len(results), len(errors)) == (30, 20)
    assert sorted(r.decision.step for r in results if r.decision is not None) == list(range(1, 31))
    assert session.step == 30  # the refused calls gave their numbers back
    assert session.usage == Usage(sum(range(1, 31)), 30)


def test_the_extractors_scan_memory_goes_with_the_session() -> None:
    extractor = SignalExtractor(EstimateCounter())
    kept = SessionState("kept")
    gone = SessionState("gone")
    extractor.scan_session(kept, CONVERSATION)
    extractor.scan_session(gone, CONVERSATION)
    assert extractor.scanned_tokens(gone) == extractor.scanned_tokens(kept) > 0
    del gone
    gc.collect()
    assert len(extractor._scans) == 1  # only the live session's
    assert extractor.scanned_tokens(kept) > 0
    assert extractor.scanned_tokens(SessionState("new")) == 0
