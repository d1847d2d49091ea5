"""The output-check model of the cascade and the synthetic generator's run-length knobs.

Hand-made tables over the step-only config of ``test_bench_cascade`` (a calm loop leaves
simple at step 4 and medium at step 8). A check with recall 1 and fpr 0 rejects exactly the
failed runs, recall 0 and fpr 1 exactly the solved ones: the verdicts of those settings do not
depend on the draws, so the cascade's arithmetic can be worked out by hand.
"""

from __future__ import annotations

import random

import pytest

from agentroute.bench.cascade import (
    VERIFIER_STREAM,
    Leg,
    Verifier,
    check_draws,
    evaluate,
    rejected_runs,
    run_cascade,
    without_steps,
)
from agentroute.bench.ladder import fixed_schedule, map_ladder, policy_schedule
from agentroute.bench.synthetic import SyntheticSpec, describe, generate
from agentroute.errors import ConfigurationError
from tests.test_bench_cascade import HAND, by_task, legs, make_config, make_table

PERFECT = Verifier(1.0, 0.0)  # rejects every failed answer, no good one
CONTRARY = Verifier(0.0, 1.0)  # rejects every good answer, no failed one


def test_draws_are_one_per_row_in_table_order_from_their_own_stream() -> None:
    rng = random.Random(f"{VERIFIER_STREAM}/7")
    expected = tuple(rng.random() for _ in HAND.rows)
    assert check_draws(HAND, 7) == expected
    assert check_draws(HAND, 7) != check_draws(HAND, 8)
    # not the synthetic generator's stream: a table made with seed 7 is not judged by its draws
    assert check_draws(HAND, 7)[0] != random.Random(7).random()


def test_a_row_is_rejected_when_its_draw_is_below_its_rate() -> None:
    draws = check_draws(HAND, 3)
    verifier = Verifier(0.5, 0.2, seed=3)
    expected = {
        (row.task_id, row.model)
        for row, u in zip(HAND.rows, draws, strict=True)
        if u < (0.2 if row.resolved else 0.5)
    }
    assert rejected_runs(HAND, verifier) == expected
    assert rejected_runs(HAND, PERFECT) == {
        (r.task_id, r.model) for r in HAND.rows if not r.resolved
    }
    assert rejected_runs(HAND, CONTRARY) == {(r.task_id, r.model) for r in HAND.rows if r.resolved}
    # the same seed: a higher recall rejects a superset of the failed runs
    assert rejected_runs(HAND, Verifier(0.3, 0.0, seed=3)) <= rejected_runs(
        HAND, Verifier(0.9, 0.0, seed=3)
    )


def test_a_rejected_failure_climbs_one_tier_and_is_paid_in_full() -> None:
    ladder = map_ladder(make_config(), HAND)
    schedule = policy_schedule(make_config())
    runs = by_task(run_cascade(HAND, ladder, schedule, rejected_runs(HAND, PERFECT)))
    # B: small fails at call 3 (within its 3 calls): rejected, paid 0.3 in full; mid runs from
    # step 4 with 8 - 1 - 3 = 4 calls left, solves in 3: 0.3 + 1.5
    assert legs(runs["B"]) == [
        ("simple", "small", 3, 0.3, True),
        ("medium", "mid", 3, 1.5, True),
    ]
    assert runs["B"].legs[0].rejected and not runs["B"].legs[1].rejected
    assert (runs["B"].solved, runs["B"].cost_usd) == (True, pytest.approx(1.8))
    # E: small solves... at call 4, too late; mid fails at call 5 (steps 4-5), rejected: paid 1.0
    # in full; big (the top) runs from step 6, fails, and is never rejected: 0.3 + 1.0 + 20.0
    assert [leg.rejected for leg in runs["E"].legs] == [False, True, False]
    assert (runs["E"].solved, runs["E"].cost_usd) == (False, pytest.approx(21.3))
    # A solved on small: not rejected by a check without false positives
    assert legs(runs["A"]) == [("simple", "small", 2, 0.2, True)]


def test_the_top_tier_is_never_rejected() -> None:
    table = make_table(
        ("T", "small", True, 0.1, 1), ("T", "big", True, 2.0, 1), ("V", "mid", True, 1.0, 1)
    )
    ladder = map_ladder(make_config(), table)
    schedule = policy_schedule(make_config())
    run = run_cascade(table, ladder, schedule, rejected_runs(table, CONTRARY))[0]
    # small's good answer is rejected (fpr 1); mid has no row: climbed past; big is the top
    assert [(leg.model, leg.rejected) for leg in run.legs] == [("small", True), ("big", False)]
    assert run.skipped == ("medium",)
    assert (run.solved, run.cost_usd) == (True, pytest.approx(2.1))
    only_top = make_table(("U", "big", False, 5.0, 2))
    run = run_cascade(only_top, map_ladder(make_config(), only_top), schedule, {("U", "big")})[0]
    assert run.legs == (Leg("complex", "big", 2, 5.0, True),)


def test_after_a_rejection_session_steps_go_on() -> None:
    # small fails in 3 calls (steps 1-3), rejected; mid would need steps 4-8, but medium is left
    # at step 8: 4 calls on mid (4/8 of 4.0), then big as recorded
    table = make_table(
        ("D", "small", False, 0.3, 3), ("D", "mid", True, 4.0, 8), ("D", "big", True, 10.0, 5)
    )
    config = make_config()
    run = run_cascade(
        table, map_ladder(config, table), policy_schedule(config), rejected_runs(table, PERFECT)
    )[0]
    assert legs(run) == [
        ("simple", "small", 3, 0.3, True),
        ("medium", "mid", 4, 2.0, False),
        ("complex", "big", 5, 10.0, True),
    ]


def test_without_step_escalation_only_the_check_climbs() -> None:
    config = make_config()
    ladder = map_ladder(config, HAND)
    schedule = without_steps(policy_schedule(config))
    assert schedule.leave_at == (None, None, None)
    plain = by_task(run_cascade(HAND, ladder, schedule))
    assert all(len(r.legs) == 1 and r.legs[0].model == "small" for r in plain.values())
    runs = by_task(run_cascade(HAND, ladder, schedule, rejected_runs(HAND, PERFECT)))
    # D: small fails in 10 calls, rejected (1.0); mid solves in 8: 1.0 + 4.0
    assert legs(runs["D"]) == [("simple", "small", 10, 1.0, True), ("medium", "mid", 8, 4.0, True)]
    # F: every model fails; each run paid in full up to the top: 0.5 + 1.0 + 7.0
    assert (runs["F"].solved, runs["F"].cost_usd) == (False, pytest.approx(8.5))
    # E: small's solved run is not rejected (fpr 0): taken as recorded
    assert (runs["E"].solved, runs["E"].cost_usd) == (True, pytest.approx(0.4))


def test_the_sweep_runs_under_the_check_too() -> None:
    config = make_config()
    ladder = map_ladder(config, HAND)
    rejected = rejected_runs(HAND, PERFECT)
    run = by_task(run_cascade(HAND, ladder, fixed_schedule(3, 0, 2), rejected))["B"]
    # k = 2: small's 3 calls exceed it, cut (no final answer to check); so are mid's 3 calls
    assert [leg.whole for leg in run.legs] == [False, False, True]
    ev = evaluate(config, HAND, verifiers=[PERFECT])
    (check,) = ev.checks
    assert [t.name for t in check.sweep] == [t.name for t in ev.sweep]
    # at k = 10 every small run fits: small's failures are rejected and climb, so the check
    # solves more than small alone (2 tasks)
    assert check.sweep[-1].solved > ev.sweep[-1].solved


def test_evaluate_adds_one_block_per_setting() -> None:
    config = make_config()
    settings = [Verifier(0.8, 0.1, seed=1), PERFECT, Verifier(0.0, 0.0)]
    ev = evaluate(config, HAND, verifiers=settings)
    assert [c.verifier for c in ev.checks] == settings
    assert all(c.steps for c in ev.checks)
    assert ev.checks[0].policy.name == "policy + check R=0.8 F=0.1"
    # a check that rejects nothing is the policy as it is
    nothing = ev.checks[2].policy
    assert (nothing.solved, nothing.cost_usd, nothing.rejected) == (
        ev.policy.solved,
        pytest.approx(ev.policy.cost_usd),
        0,
    )
    # the perfect check: B and E's failures rejected as above; C, D, F as without it
    perfect = ev.checks[1].policy
    assert perfect.rejected == 2  # B's small and E's mid; the other failures are cut by steps
    assert perfect.solved == ev.policy.solved + 1
    only = evaluate(config, HAND, verifiers=[PERFECT], step_escalation=False).checks[0]
    assert (only.steps, only.sweep) == (False, ())
    assert only.policy.name == "check R=1 F=0, no step escalation"


@pytest.mark.parametrize(
    ("verifier", "field"),
    [
        (Verifier(1.5, 0.1), "recall"),
        (Verifier(0.5, -0.1), "fpr"),
        (Verifier(float("nan"), 0), "recall"),
    ],
)
def test_rates_outside_zero_one_name_the_field(verifier: Verifier, field: str) -> None:
    with pytest.raises(ConfigurationError, match=f"verifier {field}: must be in \\[0, 1\\]"):
        evaluate(make_config(), HAND, verifiers=[verifier])


# The synthetic generator's run-length knobs ---------------------------------------------------


def test_calls_scale_lengthens_one_models_runs_and_nothing_else() -> None:
    config = make_config()
    base = SyntheticSpec(tasks=80, seed=4, max_calls=400)
    scaled = SyntheticSpec(tasks=80, seed=4, max_calls=400, calls_scale=(("small", 4.0),))
    plain, long = generate(config, base).index(), generate(config, scaled).index()
    assert plain.keys() == long.keys()
    for key, row in plain.items():
        other = long[key]
        assert other.resolved == row.resolved  # the same draws: only the lengths move
        if row.model == "small":
            assert abs(other.calls - 4 * row.calls) <= 2  # rounding of the scaled length
            assert other.cost_usd == pytest.approx(other.calls * row.cost_usd / row.calls)
        else:
            assert other == row
    small = [r.calls for r in long.values() if r.model == "small"]
    big = [r.calls for r in long.values() if r.model == "big"]
    assert sum(small) / len(small) > 2.5 * sum(big) / len(big)


def test_default_spec_is_unchanged_by_the_new_knobs() -> None:
    config = make_config()
    spec = SyntheticSpec(tasks=50, seed=2)
    explicit = SyntheticSpec(tasks=50, seed=2, calls_scale=(("small", 1.0), ("big", 1.0)))
    assert generate(config, spec).rows == generate(config, explicit).rows
    assert not any("Calls scale" in line for line in describe(config, spec))
    assert (
        "Calls scale (each model's run length, × the calls above): small ×1, mid ×1, big ×1."
        in (describe(config, explicit))
    )


def test_max_calls_cuts_scaled_runs() -> None:
    config = make_config()
    spec = SyntheticSpec(tasks=40, seed=1, calls_scale=(("small", 10.0),))
    assert max(r.calls for r in generate(config, spec).rows) <= 40


@pytest.mark.parametrize(
    ("scale", "message"),
    [
        ((("small", 0.0),), "calls_scale.small: must be a number > 0"),
        ((("small", -2.0),), "calls_scale.small: must be a number > 0"),
        ((("tiny", 2.0),), "calls_scale.tiny: not a model of the config's tiers"),
    ],
)
def test_bad_calls_scale_names_the_field(
    scale: tuple[tuple[str, float], ...], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        generate(make_config(), SyntheticSpec(tasks=5, calls_scale=scale))


def test_a_three_tier_ladder_with_a_long_running_cheap_model() -> None:
    """What today's default gets wrong: a cheap model whose runs are 4× as long as the others'
    is still running when the step budget is spent, so the ladder pays for its long runs and
    then for the stronger models too."""
    config = make_config({"weights": {"step": 0.02}})  # the default step weight and thresholds
    spec = SyntheticSpec(tasks=200, seed=0, max_calls=160, calls_scale=(("small", 4.0),))
    ev = evaluate(config, generate(config, spec))
    short = evaluate(config, generate(config, SyntheticSpec(tasks=200, seed=0)))
    assert ev.schedule.leave_at == (15, 30, None)
    assert ev.policy.escalated > short.policy.escalated
    small = next(t for t in ev.singles if t.name == "small")
    assert small.cost_usd > 3 * next(t for t in short.singles if t.name == "small").cost_usd
