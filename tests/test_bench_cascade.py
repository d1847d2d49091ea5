"""The cascade approximation on small hand-made tables, against answers worked out by hand.

The config: tiers simple [small], medium [mid], complex [big]; only the step signal weighs
(0.125 per step) and the thresholds are medium 0.5, complex 1.0 — exact binary fractions, so
a calm loop leaves simple at step 4 (simple serves steps 1-3: 3 calls) and medium at step 8
(medium serves steps 4-7: 4 calls when entered at step 4).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from agentroute import RouterConfig, load_config
from agentroute.bench.cascade import (
    Leg,
    TaskRun,
    Totals,
    evaluate,
    oracle,
    pareto,
    run_cascade,
    sweep,
)
from agentroute.bench.ladder import fixed_schedule, map_ladder, policy_schedule
from agentroute.bench.outcomes import Outcome, OutcomeError, OutcomeTable
from agentroute.bench.synthetic import SyntheticSpec, generate
from tests.helpers import config_dict

STEP_ONLY = {"weights": {"step": 0.125}, "thresholds": {"medium": 0.5, "complex": 1.0}}


def make_config(policy: dict[str, Any] | None = None, **overrides: Any) -> RouterConfig:
    return RouterConfig.from_mapping(config_dict(policy=policy or STEP_ONLY, **overrides))


def make_table(*rows: tuple[str, str, bool, float, int]) -> OutcomeTable:
    return OutcomeTable(
        tuple(
            Outcome(t, m, ok, cost, calls, line)
            for line, (t, m, ok, cost, calls) in enumerate(rows, start=2)
        ),
        "hand.csv",
    )


# task, model, resolved, cost_usd, calls
HAND = make_table(
    ("A", "small", True, 0.2, 2),  # solved on small within its 3 calls
    ("A", "mid", True, 1.0, 2),
    ("A", "big", True, 5.0, 1),
    ("B", "small", False, 0.3, 3),  # fails on small at call 3, before the climb: failed, 0.3
    ("B", "mid", True, 1.5, 3),
    ("B", "big", True, 6.0, 2),
    ("C", "small", False, 0.6, 6),  # 3/6 of 0.6 on small, then mid solves in 4 calls: 2.3
    ("C", "mid", True, 2.0, 4),
    ("C", "big", True, 8.0, 4),
    ("D", "small", False, 1.0, 10),  # 0.3 + 4/8 of 4.0 + big as recorded 10.0: 12.3 solved
    ("D", "mid", True, 4.0, 8),
    ("D", "big", True, 10.0, 5),
    ("E", "small", True, 0.4, 4),  # small would solve it at call 4, too late: 0.3 + mid's 1.0
    ("E", "mid", False, 1.0, 2),
    ("E", "big", False, 20.0, 10),
    ("F", "small", False, 0.5, 5),  # 0.3 + 4/5 of 1.0 + 7.0, failed: 8.1; no model solves it
    ("F", "mid", False, 1.0, 5),
    ("F", "big", False, 7.0, 7),
)


def by_task(runs: Sequence[TaskRun]) -> dict[str, TaskRun]:
    return {r.task_id: r for r in runs}


def legs(run: TaskRun) -> list[tuple[str, str, int, float, bool]]:
    return [(g.tier, g.model, g.calls, round(g.cost_usd, 9), g.whole) for g in run.legs]


def test_escalation_points_come_from_the_policy() -> None:
    schedule = policy_schedule(make_config())
    assert schedule.start == 0
    assert schedule.leave_at == (4, 8, None)
    assert schedule.climb_to[:2] == (1, 2)
    assert schedule.notes == ()


def test_example_config_escalation_points() -> None:
    schedule = policy_schedule(
        load_config(Path(__file__).parent.parent / "examples" / "agentroute.yaml")
    )
    # step weight 0.02 against thresholds 0.3 / 0.6 / 0.9
    assert schedule.leave_at == (15, 30, 45, None)


def test_a_calm_loop_may_jump_a_tier() -> None:
    config = make_config({"weights": {"step": 0.5}, "thresholds": {"medium": 0.9, "complex": 1.0}})
    schedule = policy_schedule(config)
    assert schedule.leave_at[0] == 2
    assert schedule.climb_to[0] == 2  # score 1.0 at step 2 reaches complex directly


def test_zero_step_weight_never_escalates() -> None:
    config = make_config({"weights": {"step": 0.0, "tool_errors_recent": 0.45}})
    schedule = policy_schedule(config)
    assert schedule.leave_at == (None, None, None)
    assert "never escalates on steps" in schedule.notes[0]
    ev = evaluate(config, HAND)
    small = next(t for t in ev.singles if t.name == "small")
    assert (ev.policy.solved, ev.policy.cost_usd) == (small.solved, pytest.approx(small.cost_usd))
    assert ev.policy.escalated == 0


def test_start_tier_from_the_policy() -> None:
    config = make_config({**STEP_ONLY, "start_tier": "medium"})
    ev = evaluate(config, HAND)
    assert ev.schedule.start == 1
    # every task starts on mid at step 1; mid is left at step 8 (7 calls): only D (8 calls)
    # climbs: 7/8 of 4.0 + big's 10.0
    runs = by_task(ev.runs)
    assert runs["D"].cost_usd == pytest.approx(3.5 + 10.0)
    assert all(leg.model != "small" for r in ev.runs for leg in r.legs)


def test_hand_computed_cascade() -> None:
    ev = evaluate(make_config(), HAND)
    runs = by_task(ev.runs)
    expected = {
        "A": (True, 0.2),
        "B": (False, 0.3),
        "C": (True, 2.3),
        "D": (True, 12.3),
        "E": (False, 1.3),
        "F": (False, 8.1),
    }
    got = {t: (r.solved, round(r.cost_usd, 9)) for t, r in runs.items()}
    assert got == expected
    assert legs(runs["D"]) == [
        ("simple", "small", 3, 0.3, False),
        ("medium", "mid", 4, 2.0, False),
        ("complex", "big", 5, 10.0, True),
    ]
    assert (ev.policy.solved, ev.policy.tasks, ev.policy.escalated) == (3, 6, 4)
    assert ev.policy.cost_usd == pytest.approx(24.5)


def test_single_models_strongest_and_oracle() -> None:
    ev = evaluate(make_config(), HAND)
    singles = {t.name: (t.solved, round(t.cost_usd, 9), t.tasks) for t in ev.singles}
    assert singles == {"small": (2, 3.0, 6), "mid": (4, 10.5, 6), "big": (4, 56.0, 6)}
    assert ev.strongest.name == "big"  # tie on 4 solved with mid: the higher tier wins
    o = ev.oracle
    # A small 0.2, B mid 1.5, C mid 2.0, D mid 4.0, E small 0.4; F unsolved (big: 7.0)
    assert o.solved == 5
    assert o.cost_usd_zero == pytest.approx(8.1)
    assert o.cost_usd_top == pytest.approx(15.1)
    assert o.picks == (("small", 2), ("mid", 3))


def test_oracle_ties_go_to_the_lower_tier_then_config_order() -> None:
    config = make_config(
        {"weights": {"step": 0.125}, "thresholds": {"medium": 0.5}},
        tiers={"simple": ["small"], "medium": ["mid", "big"]},
    )
    table = make_table(
        ("T1", "mid", True, 1.0, 2),  # listed first, same cost as small: small still wins
        ("T1", "small", True, 1.0, 5),
        ("T2", "big", True, 2.0, 2),  # mid and big share a tier and a cost: mid (config order)
        ("T2", "mid", True, 2.0, 3),
        ("T2", "small", False, 0.1, 1),
        ("T3", "small", True, 0.5, 1),  # the cheaper wins over the lower tier: mid
        ("T3", "mid", True, 0.4, 1),
    )
    ladder = map_ladder(config, table)
    assert oracle(table, ladder).picks == (("small", 1), ("mid", 2))


def test_strongest_tie_within_a_tier_goes_to_the_dearer() -> None:
    config = make_config(
        {"weights": {"step": 0.125}, "thresholds": {"medium": 0.5}},
        tiers={"simple": ["small"], "medium": ["mid", "big"]},
    )
    table = make_table(
        ("T", "small", True, 1.0, 1), ("T", "mid", True, 3.0, 1), ("T", "big", True, 2.0, 1)
    )
    assert evaluate(config, table).strongest.name == "mid"


def test_k_sweep_leaves_each_tier_after_k_calls() -> None:
    config = make_config()
    ladder = map_ladder(config, HAND)
    runs = by_task(run_cascade(HAND, ladder, fixed_schedule(3, 0, 1)))
    # C: 1/6 of 0.6, then 1/4 of 2.0, then big as recorded 8.0
    assert runs["C"].cost_usd == pytest.approx(0.1 + 0.5 + 8.0)
    assert runs["C"].solved
    assert [leg.calls for leg in runs["C"].legs] == [1, 1, 4]
    # A: small's 2 calls exceed k = 1, even though it would solve
    assert runs["A"].cost_usd == pytest.approx(0.1 + 0.5 + 5.0)
    ev = evaluate(config, HAND)
    assert [t.name for t in ev.sweep] == [f"k={k}" for k in range(1, 11)]  # longest run: 10
    last = ev.sweep[-1]  # k = 10: every small run fits, so it is small alone
    assert (last.solved, last.cost_usd) == (2, pytest.approx(3.0))


def test_missing_rows_are_reported_and_climbed_past() -> None:
    table = make_table(
        ("H", "small", False, 0.9, 9),  # no mid row: 0.3, then big as recorded 3.0
        ("H", "big", True, 3.0, 3),
        ("J", "small", False, 0.8, 8),  # no big row: mid is the top for J, taken as recorded
        ("J", "mid", False, 1.0, 10),
    )
    ev = evaluate(make_config(), table)
    runs = by_task(ev.runs)
    assert (runs["H"].solved, runs["H"].skipped) == (True, ("medium",))
    assert runs["H"].cost_usd == pytest.approx(3.3)
    assert runs["J"].legs[-1] == Leg("medium", "mid", 10, 1.0, True)
    assert legs(runs["J"])[0] == ("simple", "small", 3, 0.3, False)
    assert runs["J"].cost_usd == pytest.approx(1.3)
    missing = {c.model: (c.missing, c.examples) for c in ev.coverage}
    assert missing == {"mid": (1, ("H",)), "big": (1, ("J",))}
    assert any("climbed past a tier" in n for n in ev.notes)
    # single models count only the tasks they have rows for
    singles = {t.name: t.tasks for t in ev.singles}
    assert singles == {"small": 2, "mid": 1, "big": 1}
    # the oracle charges J (unsolved) at its top row: mid's 1.0
    assert (ev.oracle.solved, ev.oracle.cost_usd_top) == (1, pytest.approx(4.0))


def test_a_task_with_rows_only_below_the_start_tier() -> None:
    config = make_config({**STEP_ONLY, "start_tier": "medium"})
    table = make_table(
        ("X", "small", True, 0.1, 1), ("Y", "small", True, 0.1, 1), ("Y", "mid", True, 1.0, 1)
    )
    ev = evaluate(config, table)
    x = by_task(ev.runs)["X"]
    assert (x.solved, x.cost_usd, x.legs) == (False, 0.0, ())
    assert any("no row at or above the start tier" in n for n in ev.notes)


def test_a_tier_absent_from_the_table_is_skipped_with_a_note() -> None:
    table = make_table(("A", "small", False, 0.5, 5), ("A", "big", True, 4.0, 2))
    ev = evaluate(make_config(), table)
    assert ev.ladder.models == (("small",), (), ("big",))
    assert any("tier medium skipped" in n for n in ev.notes)
    assert by_task(ev.runs)["A"].cost_usd == pytest.approx(0.3 + 4.0)


def test_unknown_model_in_the_config_names_it_and_the_row() -> None:
    table = make_table(
        ("A", "small", True, 0.5, 1), ("A", "mid", True, 1.0, 1), ("A", "bigg", True, 4.0, 2)
    )
    with pytest.raises(OutcomeError) as caught:
        evaluate(make_config(), table)
    message = str(caught.value)
    assert "'big'" in message and "'bigg'" in message
    assert caught.value.line == 4 and caught.value.column == "model"
    assert message.startswith("hand.csv:4: column 'model': unknown model in the config")


def test_a_missing_model_with_a_sibling_in_its_tier_is_a_note() -> None:
    config = make_config(
        {"weights": {"step": 0.125}}, tiers={"simple": ["small"], "complex": ["big", "mid"]}
    )
    table = make_table(
        ("A", "small", True, 0.5, 1), ("A", "big", True, 1.0, 1), ("A", "other", True, 1.0, 1)
    )
    ev = evaluate(config, table)
    assert any("mid not in the table; served by big" in n for n in ev.notes)
    assert any("ignored: models in no tier of the config: other" in n for n in ev.notes)


def test_a_table_of_other_models_is_an_unknown_model_error() -> None:
    table = make_table(("A", "gpt", True, 0.5, 1))
    with pytest.raises(OutcomeError, match=r"hand.csv:2: column 'model': unknown model .*'small'"):
        evaluate(make_config(), table)


def test_pareto_keeps_only_undominated_points() -> None:
    points = [
        Totals("a", 5, 1.0, 10),
        Totals("b", 5, 2.0, 10),  # dominated by a
        Totals("c", 7, 2.0, 10),
        Totals("d", 6, 3.0, 10),  # dominated by c
        Totals("e", 8, 9.0, 10),
    ]
    assert pareto(points) == {"a", "c", "e"}


def test_synthetic_evaluation_is_deterministic_and_sane() -> None:
    config = make_config()
    first = evaluate(config, generate(config, SyntheticSpec(tasks=60, seed=3)))
    again = evaluate(config, generate(config, SyntheticSpec(tasks=60, seed=3)))
    assert first == again
    assert first.oracle.solved >= max(t.solved for t in first.singles)
    assert first.oracle.cost_usd_zero <= first.oracle.cost_usd_top


def test_within_a_tier_the_first_model_with_a_row_serves_the_task() -> None:
    config = make_config(
        {"weights": {"step": 0.125}, "thresholds": {"complex": 0.5}},
        tiers={"simple": ["small"], "complex": ["big", "mid"]},
    )
    table = make_table(
        ("A", "small", False, 0.5, 5),
        ("A", "mid", True, 2.0, 2),  # big has no row for A: mid (the other model) serves it
        ("B", "small", False, 0.5, 5),
        ("B", "mid", True, 2.0, 2),
        ("B", "big", False, 9.0, 3),  # big first in config order: B fails on big
    )
    ev = evaluate(config, table)
    runs = by_task(ev.runs)
    assert [leg.model for leg in runs["A"].legs] == ["small", "mid"]
    assert [leg.model for leg in runs["B"].legs] == ["small", "big"]
    assert (runs["A"].solved, runs["B"].solved) == (True, False)
    assert runs["A"].skipped == ()


def test_the_sweep_thins_out_for_very_long_runs() -> None:
    config = make_config()
    table = make_table(("A", "small", False, 1.0, 5000), ("A", "big", True, 2.0, 3))
    points = sweep(table, map_ladder(config, table), 0, points=20)
    ks = [int(t.name.removeprefix("k=")) for t in points]
    assert ks[0] == 1 and ks[-1] == 5000 and len(ks) <= 20
    assert ks == sorted(set(ks))
    assert points[-1].cost_usd == pytest.approx(1.0)  # k = 5000: small alone, as recorded
