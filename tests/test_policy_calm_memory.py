"""The scored policy's own memory of calm steps (per session, dropped with it), checked against
the rule the session ledger followed when it counted them: at each recorded decision, one
more on a calm step that keeps the tier, else 0 — and 0 after the output check's climb."""

from __future__ import annotations

import gc
from typing import Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentroute import Cause, Decision, RouterConfig, SessionState, Signals
from agentroute.policy.score import ScorePolicy, calm_after
from agentroute.policy.session_memory import SessionMemory
from tests.helpers import policy_config

WEIGHTS = {"tool_errors_recent": 0.45, "repeated_tool_calls": 0.35}


def _policy(**policy: Any) -> ScorePolicy:
    return ScorePolicy(RouterConfig.from_mapping(policy_config(weights=WEIGHTS, **policy)))


POLICIES = [
    _policy(thresholds={"medium": 0.3, "complex": 0.8}, dwell_steps=2),
    _policy(thresholds={"medium": 0.3, "complex": 0.8}, dwell_steps=4, margin=0.0),
    _policy(thresholds={"medium": 0.4, "complex": 0.9}, dwell_steps=3, expected_steps=40),
]

Op = tuple[Literal["route", "ask", "validate"], int, int]
ops_st = st.lists(
    st.tuples(
        st.sampled_from(["route", "route", "route", "ask", "validate"]),
        st.integers(0, 3),  # recent tool errors
        st.integers(0, 2),  # repeated tool calls
    ),
    min_size=1,
    max_size=40,
)


def _climb(decision: Decision, tiers: tuple[str, ...]) -> Decision | None:
    """The output check's decision one tier up (as ``ValidationMiddleware`` makes it)."""
    level = tiers.index(decision.tier)
    if level + 1 >= len(tiers):
        return None
    return Decision(
        tiers[level + 1], decision.tier, Cause.VALIDATION_FAILURE, decision.step, ("x",)
    )


@settings(max_examples=300, deadline=None)
@given(policy=st.sampled_from(POLICIES), ops=ops_st)
def test_the_memory_counts_as_the_ledger_did(policy: ScorePolicy, ops: list[Op]) -> None:
    """``route``: decided and recorded; ``ask``: decided, never recorded (a discarded decision,
    a policy asked twice); ``validate``: the latest decision rejected, its climb recorded."""
    tiers = tuple(policy._tiers)
    state = SessionState("s")
    ledger = 0  # what SessionState.record(decision, calm=...) used to count
    made: Decision | None = None
    for kind, errors, repeats in ops:
        step = state.step + 1 if kind == "ask" else state.begin_step()
        signals = Signals(
            step=step,
            tool_errors_recent=errors,
            repeated_tool_calls=repeats,
            context_tokens=1000,
            context_fraction=1000 / 16_000,
        )
        if kind == "validate":
            up = _climb(made, tiers) if made is not None else None
            if up is None:
                continue
            state.record(up)
            ledger = 0
        else:
            decision = policy(signals, state)
            assert decision == policy(signals, state)  # asked twice: the same answer
            if kind == "route":
                ledger = calm_after(policy, decision, ledger)
                state.record(decision)
                made = decision
        assert policy.calm_steps(state) == ledger


def test_a_calm_step_counts_only_once_recorded() -> None:
    policy = POLICIES[1]  # dwell 4
    state = SessionState.restored("s", step=3, tier="medium")
    policy.remember_calm(state, 2)
    calm = Signals(step=4, context_tokens=1000)
    held = policy(calm, state)
    assert (held.tier, held.cause, held.reason) == ("medium", Cause.HYSTERESIS_HOLD, "calm 3/4")
    assert policy.calm_steps(state) == 2  # not recorded yet
    state.record(held)
    assert policy.calm_steps(state) == 3
    busy = policy(Signals(step=5, tool_errors_recent=1, context_tokens=1000), state)
    state.record(busy)
    assert (busy.tier, policy.calm_steps(state)) == ("medium", 0)


def test_remember_calm_needs_a_tier() -> None:
    policy = POLICIES[0]
    state = SessionState("s")
    policy.remember_calm(state, 3)
    assert policy.calm_steps(state) == 0


def test_the_memory_goes_with_the_session() -> None:
    policy = POLICIES[0]
    kept = SessionState.restored("kept", step=1, tier="medium")
    gone = SessionState.restored("gone", step=1, tier="medium")
    for session in (kept, gone):
        session.record(policy(Signals(step=2, context_tokens=1000), session))
    assert len(policy._calm) == 2
    del gone, session
    gc.collect()
    assert len(policy._calm) == 1
    assert policy.calm_steps(kept) == 1


class _Owner:
    """A weakly referenceable stand-in for a session."""


def test_session_memory_drops_an_entry_and_its_reference_with_the_session() -> None:
    memory: SessionMemory[int] = SessionMemory()
    kept, gone = _Owner(), _Owner()
    memory.put(kept, 1)
    memory.put(gone, 2)
    memory.put(gone, 3)  # a second value: one weak reference per session still
    assert (memory.get(kept), memory.get(gone), len(memory._alive)) == (1, 3, 2)
    del gone
    gc.collect()
    assert (len(memory), len(memory._alive), memory.get(kept)) == (1, 1, 1)
    assert memory.get(_Owner()) is None


@pytest.mark.parametrize("dwell", [1, 2, 3])
def test_the_dwell_steps_down_after_dwell_calm_steps(dwell: int) -> None:
    policy = _policy(thresholds={"medium": 0.3, "complex": 0.8}, dwell_steps=dwell)
    state = SessionState.restored("s", step=1, tier="medium")
    causes = []
    for step in range(2, 2 + dwell):
        decision = policy(Signals(step=step, context_tokens=1000), state)
        state.record(decision)
        causes.append((decision.tier, decision.cause))
    held = [("medium", Cause.HYSTERESIS_HOLD)] * (dwell - 1)
    assert causes == [*held, ("simple", Cause.SCORE)]
