"""Per-model step scale (``models.<name>.typical_steps``): the config field, the step signal in
the scored policy (agentroute/policy/signals.py ``StepProgress``, agentroute/policy/score.py),
and the escalation points the bench replay derives from it (agentroute/bench/ladder.py).

The config: tiers simple [small], medium [mid], complex [big]; only the step signal weighs
(0.125 per reference step, ``expected_steps`` 12) and the thresholds are medium 0.5, complex
1.0: without scales a calm loop leaves simple at step 4 and medium at step 8. Exact binary
fractions throughout, so the expected figures are exact.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentroute import ConfigurationError, RouterConfig, SessionState, Signals
from agentroute.bench.cascade import run_cascade
from agentroute.bench.ladder import map_ladder, policy_schedule
from agentroute.bench.outcomes import Outcome, OutcomeTable
from agentroute.policy.score import ScorePolicy
from tests.helpers import config_dict

STEP_ONLY = {"weights": {"step": 0.125}, "thresholds": {"medium": 0.5, "complex": 1.0}}


def make_config(typical: dict[str, Any] | None = None, **policy: Any) -> RouterConfig:
    data = config_dict(policy=STEP_ONLY | policy)
    for model, steps in (typical or {}).items():
        data["models"][model]["typical_steps"] = steps
    return RouterConfig.from_mapping(data)


def step_part(policy: ScorePolicy, state: SessionState, signals: Signals) -> float:
    """The step signal's contribution to the decision (recorded on the session)."""
    decision = policy(signals, state)
    state.record(decision)
    return dict(decision.contributions).get("step", 0.0)


# The config field ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "many"])
def test_a_bad_typical_steps_names_the_field(bad: object) -> None:
    with pytest.raises(ConfigurationError, match=r"models\.mid\.typical_steps"):
        make_config({"mid": bad})


def test_typical_steps_is_optional_and_kept() -> None:
    config = make_config({"small": 48})
    assert config.models["small"].typical_steps == 48
    assert config.models["mid"].typical_steps is None


# The step signal in the scored policy --------------------------------------------------------


def test_unset_every_step_counts_one() -> None:
    policy = ScorePolicy(make_config())
    assert policy.progress.uniform
    state = SessionState("s")
    parts = [step_part(policy, state, Signals(step=k)) for k in range(1, 4)]
    assert parts == [0.125, 0.25, 0.375]


def test_typical_steps_equal_to_the_reference_changes_nothing() -> None:
    config = make_config({"small": 12, "mid": 12, "big": 12})
    assert ScorePolicy(config).progress.uniform
    assert policy_schedule(config).leave_at == (4, 8, None)


def test_a_long_running_model_counts_a_share_of_each_step() -> None:
    # small runs 48 calls normally: each of its steps is a quarter of a reference step
    policy = ScorePolicy(make_config({"small": 48}))
    state = SessionState("s")
    parts = [step_part(policy, state, Signals(step=k)) for k in range(1, 5)]
    assert parts == [0.03125, 0.0625, 0.09375, 0.125]
    # asking again for the same step gives the same answer
    assert dict(policy(Signals(step=4), state).contributions)["step"] == 0.125


def test_after_a_climb_steps_count_on_at_the_new_tiers_scale() -> None:
    # small: 48 (a quarter per step); mid: 6 (two per step)
    policy = ScorePolicy(make_config({"small": 48, "mid": 6}))
    state = SessionState("s")
    for k in range(1, 4):
        step_part(policy, state, Signals(step=k))
    # step 4 asks to escalate: routed while the session held simple, so it counts a quarter
    assert step_part(policy, state, Signals(step=4, escalation_requested=True)) == 0.125
    assert state.tier == "medium"
    # steps 1-4 made progress 1; step 5, on medium, adds 2: 3 reference steps
    assert step_part(policy, state, Signals(step=5)) == 0.375
    assert step_part(policy, state, Signals(step=6)) == 0.625


def test_a_climb_to_a_longer_running_model_never_lowers_the_step_signal() -> None:
    # the strong model runs long (48: a quarter per step), the cheap one short (6: two)
    policy = ScorePolicy(make_config({"small": 6, "mid": 48}))
    state = SessionState("s")
    parts = [step_part(policy, state, Signals(step=k)) for k in range(1, 6)]
    # progress 2 at step 1, 4 at step 2 (score 0.5: medium), then a quarter per step
    assert parts == [0.25, 0.5, 0.53125, 0.5625, 0.59375]
    assert state.tier == "medium"


def test_a_session_first_seen_late_counts_its_steps_at_its_tiers_scale() -> None:
    policy = ScorePolicy(make_config({"mid": 24}))
    state = SessionState.restored("s", step=9, tier="medium")
    assert dict(policy(Signals(step=10), state).contributions)["step"] == 0.625  # 10 × ½ × ⅛


def test_each_session_keeps_its_own_progress() -> None:
    policy = ScorePolicy(make_config({"small": 48, "mid": 6}))
    a, b = SessionState("a"), SessionState("b")
    step_part(policy, a, Signals(step=1, escalation_requested=True))
    assert a.tier == "medium"
    step_part(policy, b, Signals(step=1))
    assert step_part(policy, a, Signals(step=2)) == 0.03125 + 0.25
    assert step_part(policy, b, Signals(step=2)) == 0.0625


# The bench replay ---------------------------------------------------------------------------


def test_the_replay_leaves_each_tier_at_its_own_scale() -> None:
    assert policy_schedule(make_config()).leave_at == (4, 8, None)
    # small 48: simple left at step 16 (progress 4); mid 24: medium adds ½ per step from
    # progress 4, reaching 8 at step 24
    schedule = policy_schedule(make_config({"small": 48, "mid": 24}))
    assert schedule.leave_at == (16, 24, None)
    assert schedule.climb_to[:2] == (1, 2)


def test_the_cascade_follows_the_scaled_schedule() -> None:
    table = OutcomeTable(
        (
            Outcome("T", "small", False, 2.0, 20),
            Outcome("T", "mid", True, 3.0, 6),
            Outcome("T", "big", True, 9.0, 4),
        ),
        "hand.csv",
    )
    plain = make_config()
    scaled = make_config({"small": 48, "mid": 24})
    (run,) = run_cascade(table, map_ladder(plain, table), policy_schedule(plain))
    # unscaled: 3 calls on small, then mid's 6-call run does not fit its 4: big solves
    assert [(g.model, g.calls) for g in run.legs] == [("small", 3), ("mid", 4), ("big", 4)]
    (run,) = run_cascade(table, map_ladder(scaled, table), policy_schedule(scaled))
    # scaled: 15 calls on small (15/20 of 2.0), then mid's whole run fits its 8 calls
    assert [(g.model, g.calls, g.whole) for g in run.legs] == [
        ("small", 15, False),
        ("mid", 6, True),
    ]
    assert run.solved and run.cost_usd == pytest.approx(1.5 + 3.0)


@settings(max_examples=60, deadline=None)
@given(
    typical=st.tuples(*[st.one_of(st.none(), st.integers(1, 60))] * 3),
    moves=st.lists(st.sampled_from(["simple", "medium", "complex", None]), min_size=1, max_size=30),
)
def test_the_step_signal_never_drops_whatever_tiers_the_session_holds(
    typical: tuple[int | None, int | None, int | None], moves: list[str | None]
) -> None:
    config = make_config(dict(zip(("small", "mid", "big"), typical, strict=True)))
    policy = ScorePolicy(config)
    state = SessionState("s")
    before = 0.0
    for step, move in enumerate(moves, start=1):
        decision = policy(Signals(step=step), state)
        part = dict(decision.contributions).get("step", 0.0)
        assert part > before
        assert policy(Signals(step=step), state).contributions == decision.contributions
        before = part
        # the session then holds the policy's tier or, as after a hint or a climb, another
        state.record(decision if move is None else dataclasses.replace(decision, tier=move))
