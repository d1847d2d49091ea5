"""Routing logs as outcome tables (agentroute/bench/log_table.py): rows per session and model,
censored runs, imputed rows, skipped sessions, joins, bad lines; and the cascade's replay of
a censored row (agentroute/bench/cascade.py, both branches)."""

from __future__ import annotations

import dataclasses
import gzip
import random
import statistics
from pathlib import Path

import pytest

from agentroute import ConfigurationError, RouterConfig
from agentroute.bench.cascade import Leg, run_task
from agentroute.bench.ladder import Ladder, Schedule
from agentroute.bench.log_table import MIN_COMPLETE, PROXY_NOTE, LogTable, log_table
from agentroute.bench.outcomes import Outcome, OutcomeTable, load_outcomes, write_outcomes
from tests.helpers import config_dict
from tests.log_builder import outcome, outcome_line, session, write_log

CONFIG = RouterConfig.from_mapping(config_dict(telemetry={"log_events": False}))


def rows_of(result: LogTable, task: str) -> dict[str, Outcome]:
    return {r.model: r for r in result.table.rows if r.task_id == task}


# Rows ---------------------------------------------------------------------------------------


def test_a_session_gives_one_row_per_model_the_last_complete_the_others_censored(
    tmp_path: Path,
) -> None:
    steps = [("small", 0.1), ("small", 0.2), (None, 5.0), ("mid", 1.0), ("mid", 1.5), ("mid", 2)]
    log = write_log(tmp_path / "l.jsonl", [session("a", steps, outcome(True))])
    result = log_table([str(log)], CONFIG)
    rows = rows_of(result, "a")
    assert set(rows) == {"small", "mid"}  # the step without a model is ignored
    small, mid = rows["small"], rows["mid"]
    assert (small.resolved, small.calls, small.censored, small.imputed) == (False, 2, True, False)
    assert small.cost_usd == pytest.approx(0.3)
    assert (mid.resolved, mid.calls, mid.censored, mid.imputed) == (True, 3, False, False)
    assert mid.cost_usd == pytest.approx(4.5)
    assert (result.sessions, result.complete, result.censored, result.rows) == (1, 1, 1, 2)
    # too few complete runs anywhere: nothing imputed, every ladder model named
    assert result.imputed == ()
    assert result.too_few == (("small", 0), ("mid", 1), ("big", 0))


def test_a_step_down_makes_the_model_it_ended_on_the_complete_run(tmp_path: Path) -> None:
    steps = [("small", 0.1), ("big", 3.0), ("small", 0.1)]
    log = write_log(tmp_path / "l.jsonl", [session("a", steps, outcome(False))])
    rows = rows_of(log_table([str(log)], CONFIG), "a")
    assert (rows["small"].calls, rows["small"].censored, rows["small"].resolved) == (
        2,
        False,
        False,
    )
    assert (rows["big"].calls, rows["big"].censored) == (1, True)


def test_sessions_without_a_verdict_are_skipped_and_outcomes_join_by_record(
    tmp_path: Path,
) -> None:
    one = [("small", 0.1)]
    lines = [
        session("none", one),  # no outcome
        session("label", one, outcome(None)),  # a label only
        session("score", one, outcome(None, score=0.7)),  # solved by score
        session("late", one, outcome(True, at=10.0)),
        outcome_line("o1", "late", outcome(False, at=20.0)),  # later: wins
        outcome_line("o2", "late", outcome(True, at=5.0)),  # older: ignored
        outcome_line("o3", None, outcome(True)),  # unknown session: never joined
        outcome_line("o4", "none", outcome(True, at=30.0)),  # joins the session without one
        session("late", one, outcome(True, at=99.0)),  # a repeated line: the first is kept
    ]
    result = log_table([str(write_log(tmp_path / "l.jsonl", lines))], CONFIG)
    solved = {r.task_id: r.resolved for r in result.table.rows}
    assert solved == {"score": True, "late": False, "none": True}
    assert (result.sessions, result.no_verdict) == (4, 1)
    assert result.notes()[0].startswith("routing log: 4 sessions read from 1 files, 1 without")


def test_a_log_without_any_verdict_is_a_clear_error(tmp_path: Path) -> None:
    log = write_log(
        tmp_path / "l.jsonl",
        [session("a", [("small", 0.1)]), session("b", [("small", 0.1)], outcome(None))],
    )
    with pytest.raises(ConfigurationError, match="no session with a verdict among the 2 sessions"):
        log_table([str(log)], CONFIG)


def test_a_bad_line_names_file_and_line_and_skip_bad_counts_it(tmp_path: Path) -> None:
    log = write_log(tmp_path / "l.jsonl", [session("a", [("small", 0.1)], outcome(True))])
    log.write_text(log.read_text() + '{"schema": 1, "kind": "session"}\n', encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"l\.jsonl:2: record_id: Field required"):
        log_table([str(log)], CONFIG)
    result = log_table([str(log)], CONFIG, skip_bad=True)
    assert (result.bad_lines, result.rows) == (1, 1)
    assert "1 bad lines skipped" in result.notes()[0]


def test_globs_and_gzip_are_read_as_one_log(tmp_path: Path) -> None:
    write_log(tmp_path / "a.jsonl", [session("a", [("small", 0.1)], outcome(True))])
    plain = write_log(tmp_path / "b.tmp", [session("b", [("mid", 0.1)], outcome(False))])
    with gzip.open(tmp_path / "b.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write(plain.read_text())
    result = log_table([str(tmp_path / "*.jsonl*")], CONFIG)
    assert result.table.tasks == ("a", "b")
    assert len(result.files) == 2


# Imputation ---------------------------------------------------------------------------------


def imputation_log(tmp_path: Path, extra: int = 0) -> Path:
    """Six sessions ending on big (4 solved), each after small; four that end on small; so
    big is imputed (6 complete runs), mid too thin (0), small from its 4… too thin too."""
    lines = []
    for i in range(6 + extra):
        steps = [("small", 0.1)] * 2 + [("big", 1.0 + i)] * (3 + i)
        lines.append(session(f"up{i}", steps, outcome(i % 3 != 0)))
    for i in range(4):
        lines.append(session(f"calm{i}", [("small", 0.2)] * 3, outcome(i < 2)))
    return write_log(tmp_path / f"l{extra}.jsonl", lines)


def test_imputed_rows_come_from_the_models_complete_runs(tmp_path: Path) -> None:
    result = log_table([str(imputation_log(tmp_path))], CONFIG, seed=7)
    assert MIN_COMPLETE == 5
    assert result.imputed == (("big", 4),)  # the four calm sessions never reached big
    assert result.too_few == (("small", 4), ("mid", 0))
    big_runs = [r for r in result.table.rows if r.model == "big" and not r.imputed]
    p = sum(r.resolved for r in big_runs) / len(big_runs)
    assert p == pytest.approx(4 / 6)
    for i in range(4):
        row = rows_of(result, f"calm{i}")["big"]
        assert row.imputed and not row.censored
        assert row.calls == round(statistics.median(r.calls for r in big_runs))  # 5.5 → 6
        assert row.cost_usd == pytest.approx(statistics.median(r.cost_usd for r in big_runs))
        assert row.resolved == (random.Random(f"7:calm{i}:big").random() < p)
    assert "imputed rows: big 4" in result.notes()
    assert any(n.startswith("not imputed (fewer than 5") for n in result.notes())
    assert result.notes()[-1] == PROXY_NOTE


def test_an_imputed_row_is_stable_per_task_and_model(tmp_path: Path) -> None:
    """Each draw depends on (seed, task, model) only, not on a shared stream: reading the
    sessions in another order imputes the same rows; another seed draws anew."""
    log = imputation_log(tmp_path)
    one = log_table([str(log)], CONFIG, seed=1)
    assert one == log_table([str(log)], CONFIG, seed=1)
    lines = log.read_text().splitlines(keepends=True)
    flipped = tmp_path / "flipped.jsonl"
    flipped.write_text("".join(reversed(lines)), encoding="utf-8")

    def imputed(result: LogTable) -> dict[str, bool]:
        return {r.task_id: r.resolved for r in result.table.rows if r.imputed}

    assert imputed(log_table([str(flipped)], CONFIG, seed=1)) == imputed(one)
    many = [imputed(log_table([str(log)], CONFIG, seed=s)) for s in range(8)]
    assert len({tuple(m.values()) for m in many}) > 1


def test_a_thin_model_is_not_imputed_and_the_replay_climbs_past_it(tmp_path: Path) -> None:
    from agentroute.bench.cascade import evaluate

    result = log_table([str(imputation_log(tmp_path))], CONFIG)
    assert not any(r.model == "mid" for r in result.table.rows)
    evaluation = evaluate(CONFIG, result.table)
    assert any("tier medium skipped" in n for n in evaluation.notes)


# The formats are unchanged ------------------------------------------------------------------


def test_new_outcome_fields_default_off_and_stay_out_of_the_files(tmp_path: Path) -> None:
    row = Outcome("t", "small", False, 0.1, 2)
    assert (row.censored, row.imputed) == (False, False)
    marked = dataclasses.replace(row, censored=True)
    write_outcomes(OutcomeTable((marked,)), tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_text().splitlines()[
        0
    ] == "task_id,model,resolved,cost_usd,calls"
    assert load_outcomes(tmp_path / "t.csv").rows[0].censored is False


# The censored replay ------------------------------------------------------------------------

LADDER = Ladder(("simple", "medium", "complex"), (("small",), ("mid",), ("big",)))
# session steps: small may make 2 calls (left at step 3), mid up to step 6, big never left
SCHEDULE = Schedule("s", 0, (3, 6, None), (1, 2, 2))


def legs(rows: dict[str, Outcome]) -> tuple[bool, float, list[tuple[str, int, float, bool]]]:
    run = run_task("t", rows, LADDER, SCHEDULE)
    return run.solved, run.cost_usd, [(x.model, x.calls, x.cost_usd, x.whole) for x in run.legs]


def test_a_censored_run_within_the_budget_keeps_failing_to_the_budget_then_climbs() -> None:
    small = Outcome("t", "small", False, 0.1, 1, censored=True)
    mid = Outcome("t", "mid", True, 0.9, 3)
    solved, cost, path = legs({"small": small, "mid": mid})
    # charged pro rata up to the 2-call budget (0.1 / 1 × 2), then mid from its start
    assert path == [("small", 2, pytest.approx(0.2), False), ("mid", 3, 0.9, True)]
    assert (solved, cost) == (True, pytest.approx(1.1))
    # the same row uncensored is a run that ended: a failure as recorded, no climb
    plain = dataclasses.replace(small, censored=False)
    assert legs({"small": plain, "mid": mid}) == (False, 0.1, [("small", 1, 0.1, True)])


def test_a_censored_run_longer_than_the_budget_replays_as_any_row() -> None:
    small = Outcome("t", "small", False, 0.4, 4, censored=True)
    mid = Outcome("t", "mid", True, 0.9, 3)
    plain = dataclasses.replace(small, censored=False)
    assert legs({"small": small, "mid": mid}) == legs({"small": plain, "mid": mid})
    assert legs({"small": small, "mid": mid})[2][0] == ("small", 2, pytest.approx(0.2), False)


def test_a_censored_run_on_the_last_rung_is_a_failure_at_its_recorded_cost() -> None:
    small = Outcome("t", "small", False, 0.4, 4, censored=True)
    big = Outcome("t", "big", False, 2.0, 2, censored=True)
    solved, cost, path = legs({"small": small, "big": big})
    assert path == [("small", 2, pytest.approx(0.2), False), ("big", 2, 2.0, False)]
    assert (solved, cost) == (False, pytest.approx(2.2))
    # a tier the schedule never leaves is the same: nowhere to charge up to
    never = Schedule("n", 0, (None, None, None), (0, 1, 2))
    run = run_task("t", {"small": small, "big": big}, LADDER, never)
    assert (run.solved, run.cost_usd) == (False, 0.4)
    assert run.legs == (Leg("simple", "small", 4, 0.4, False),)


def test_a_censored_run_is_never_rejected_by_the_output_check() -> None:
    small = Outcome("t", "small", False, 0.1, 1, censored=True)
    mid = Outcome("t", "mid", True, 0.9, 3)
    run = run_task("t", {"small": small, "mid": mid}, LADDER, SCHEDULE, {("t", "small")})
    assert not any(leg.rejected for leg in run.legs)


def test_a_log_of_another_configs_models_is_named(tmp_path: Path) -> None:
    log = write_log(tmp_path / "l.jsonl", [session("a", [("gpt-x", 0.1)], outcome(True))])
    with pytest.raises(ConfigurationError, match=r"'gpt-x' are in no tier of the config, and "
                       r"tier simple \(small\) has no step"):  # fmt: skip
        log_table([str(log)], CONFIG)
