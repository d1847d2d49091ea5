"""``calibrate`` fits the logged signals' weights: a routing log's per-step contributions kept
on its rows, replayed under candidate weights (the escalation point of each row, the
extrapolation beyond a censored row's logged steps), the fit (a signal that predicts failure
gets more weight, and the held-out result beats the fit with weights fixed), what is said
about signals not fitted, the patch and its merge, and outcome tables left as they were."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from agentroute.bench.calibrate import calibrate, patch_data, with_typical_steps
from agentroute.bench.cascade import run_cascade
from agentroute.bench.ladder import Schedule, map_ladder, policy_schedule
from agentroute.bench.log_table import log_table
from agentroute.bench.logged_leave import LoggedLeave, logged_leave, with_weights
from agentroute.bench.outcomes import Outcome, OutcomeTable
from agentroute.bench.synthetic import SyntheticSpec, generate
from agentroute.cli import main
from agentroute.config import RouterConfig
from agentroute.config.patch import load_patched_config, merge_patch
from tests.helpers import config_dict
from tests.log_builder import Step, outcome, session, write_log

TOOL = 0.15
"""The configured ``tool_errors_recent`` weight of the two-tier config: too low for the log."""
SMALL, BIG = 0.01, 0.05
"""USD per step."""


def two_tiers(**policy: Any) -> dict[str, Any]:
    """small (tier simple) and big (tier complex, starting at score 0.3)."""
    data = config_dict(telemetry={"log_events": False})
    data["tiers"] = {"simple": ["small"], "complex": ["big"]}
    data["policy"] = {"weights": {"tool_errors_recent": TOOL, "step": 0.02}, **policy}
    return data


def tool_error_log(easy: int = 60, hard: int = 40) -> list[dict[str, Any]]:
    """What a router on :func:`two_tiers` logged: easy sessions solved on small in 8 steps;
    hard ones hit a tool error at step 2 (share 0.15 from then on), stayed on small until the
    score reached 0.3 at step 8 (0.16 + 0.15), and were solved by big in 5 steps. Tool errors
    predict the cheap tier's failure; the step count does not tell the two apart early."""
    lines = []
    for i in range(easy):
        lines.append(session(f"e{i}", [("small", SMALL)] * 8, outcome(True)))
    for i in range(hard):
        steps: list[Step] = [("small", SMALL, {"step": 0.02})]
        for n in range(2, 13):
            model, cost = ("small", SMALL) if n < 8 else ("big", BIG)
            steps.append((model, cost, {"step": 0.02 * n, "tool_errors_recent": TOOL}))
        lines.append(session(f"h{i}", steps, outcome(True)))
    return lines


@pytest.fixture
def tool_files(tmp_path: Path) -> tuple[Path, Path]:
    config = tmp_path / "agentroute.yaml"
    config.write_text(yaml.safe_dump(two_tiers(), sort_keys=False), encoding="utf-8")
    return config, write_log(tmp_path / "routing.jsonl", tool_error_log())


def run_cli(*args: str) -> Any:
    return CliRunner().invoke(main, ["calibrate", *args], catch_exceptions=False)


# The rows keep their logged steps ----------------------------------------------------------


def test_log_rows_keep_their_steps_and_the_step_that_left_them(
    tool_files: tuple[Path, Path],
) -> None:
    log = tool_files[1]
    config = RouterConfig.from_mapping(two_tiers())
    index = log_table([str(log)], config).table.index()
    small, big = index[("h0", "small")], index[("h0", "big")]
    assert small.censored and small.calls == 7
    assert len(small.steps) == 8  # its 7 steps, then the one that left it
    assert small.steps[0] == (("step", 0.02),)
    assert dict(small.steps[7]) == pytest.approx({"step": 0.16, "tool_errors_recent": TOOL})
    assert len(big.steps) == big.calls == 5  # the last model: nothing left it
    assert index[("e0", "big")].imputed and index[("e0", "big")].steps == ()


def test_at_the_configured_weights_the_replay_follows_the_logged_path(
    tool_files: tuple[Path, Path],
) -> None:
    config = RouterConfig.from_mapping(two_tiers())
    table = log_table([str(tool_files[1])], config).table
    ladder = map_ladder(config, table)
    schedule = policy_schedule(config)
    leave = logged_leave(config, config)
    runs = {r.task_id: r for r in run_cascade(table, ladder, _with(schedule, leave))}
    hard, easy = runs["h3"], runs["e3"]
    assert [(leg.model, leg.calls) for leg in hard.legs] == [("small", 7), ("big", 5)]
    assert hard.solved and hard.cost_usd == pytest.approx(7 * SMALL + 5 * BIG)
    assert [(leg.model, leg.calls, leg.whole) for leg in easy.legs] == [("small", 8, True)]
    # twice the tool-error weight: the hard session leaves small at its second decision
    doubled = logged_leave(config, with_weights(config, {"tool_errors_recent": 2 * TOOL}))
    runs = {r.task_id: r for r in run_cascade(table, ladder, _with(schedule, doubled))}
    assert [(leg.model, leg.calls) for leg in runs["h3"].legs] == [("small", 1), ("big", 5)]
    assert [(leg.model, leg.calls) for leg in runs["e3"].legs] == [("small", 8)]


def _with(schedule: Schedule, leave: LoggedLeave) -> Schedule:
    return dataclasses.replace(schedule, row_leave=leave)


# The extrapolation beyond a censored row's logged steps ------------------------------------


CENSORED = Outcome(
    "t",
    "small",
    False,
    0.3,
    3,
    censored=True,
    steps=(
        (("step", 0.02),),
        (("step", 0.04), ("tool_errors_recent", TOOL)),
        (("step", 0.06), ("tool_errors_recent", TOOL)),
    ),
)


def test_beyond_the_logged_steps_the_step_share_grows_and_the_others_stay() -> None:
    config = RouterConfig.from_mapping(two_tiers())
    # at the configured weights: 0.06 + 0.15 = 0.21 after 3 calls, + 0.02 a step: 0.3 is
    # reached at the 8th decision (0.21 + 5 × 0.02 ≥ 0.3 − ε), so 7 calls on small
    assert logged_leave(config, config)(0, CENSORED) == (7, 1)
    # half the tool-error weight: 0.06 + 0.075 = 0.135, + 0.02 a step → 9 more decisions
    half = with_weights(config, {"tool_errors_recent": TOOL / 2})
    assert logged_leave(config, half)(0, CENSORED) == (11, 1)
    # small counting its steps twice as fast (typical_steps 6 for the reference 12): the step
    # share doubles and grows 0.04 a step: 0.12 + 0.15 = 0.27, then 0.31 at the 4th decision
    fast = with_typical_steps(config, {"small": 6})
    assert logged_leave(config, fast)(0, CENSORED) == (3, 1)
    # no step weight: nothing grows, the row never leaves small on its own
    still = with_weights(config, {"step": 0.0})
    assert logged_leave(config, still)(0, CENSORED) == (None, 0)
    # the top tier is never left; a row without logged steps is the schedule's
    assert logged_leave(config, config)(1, CENSORED) == (None, 1)
    assert logged_leave(config, config)(0, Outcome("t", "small", False, 0.3, 3)) is None


def test_the_cascade_charges_an_extrapolated_censored_run_until_it_leaves() -> None:
    config = RouterConfig.from_mapping(two_tiers())
    big = Outcome("t", "big", True, 0.5, 5)
    table = OutcomeTable((CENSORED, big))
    ladder = map_ladder(config, table)
    schedule = policy_schedule(config)
    half = with_weights(config, {"tool_errors_recent": TOOL / 2})
    (run,) = run_cascade(table, ladder, _with(schedule, logged_leave(config, half)))
    # kept failing for 11 calls at its logged cost per call, then big from its start
    assert [(leg.model, leg.calls) for leg in run.legs] == [("small", 11), ("big", 5)]
    assert run.cost_usd == pytest.approx(0.3 / 3 * 11 + 0.5)
    still = with_weights(config, {"step": 0.0})
    (run,) = run_cascade(table, ladder, _with(schedule, logged_leave(config, still)))
    assert not run.solved and run.cost_usd == pytest.approx(0.3)  # failed where it stopped


# The fit ------------------------------------------------------------------------------------


def test_a_signal_that_predicts_failure_gets_more_weight_and_beats_fixed_weights(
    tool_files: tuple[Path, Path],
) -> None:
    config = RouterConfig.from_mapping(two_tiers())
    table = log_table([str(tool_files[1])], config).table
    fitted = calibrate(config, table, target_solved=0.95, folds=4)
    fixed = calibrate(config, table, target_solved=0.95, folds=4, fit_weights=False)
    weights = dict(fitted.weights)
    assert weights["tool_errors_recent"] > TOOL
    assert ("tool_errors_recent", weights["tool_errors_recent"]) in fitted.changed_weights
    assert fixed.weights == () and fixed.changed_weights == ()
    for fold in fitted.folds:
        assert dict(fold.weights)["tool_errors_recent"] > TOOL
    # held out: as many solved, for less
    assert fitted.share("calibrated").mean >= fixed.share("calibrated").mean
    assert fitted.cost("calibrated").mean < fixed.cost("calibrated").mean
    assert fitted.refusal is None
    assert dict(fitted.logged) == {"step": 60 * 8 + 40 * 12, "tool_errors_recent": 40 * 11}
    assert ("tool_errors_recent", "weights fixed") in fixed.not_fitted
    assert patch_data(fitted)["policy"] == {"weights": dict(fitted.changed_weights)}


def test_the_cli_says_what_it_fitted_and_writes_a_patch_that_keeps_the_other_weights(
    tmp_path: Path, tool_files: tuple[Path, Path]
) -> None:
    config, log = tool_files
    patch = tmp_path / "calibrated.yaml"
    out = run_cli(
        "--log", str(log), "--config", str(config), "--target-solved", "0.95",
        "--folds", "4", "--write", str(patch),
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())
    assert "signals fitted (logged steps carrying each): step 960, tool_errors_recent 440" in text
    assert "not fitted (no share in the log)" not in text  # both weighted signals are logged
    assert (
        "not fitted (weight 0 in the config: no share logged, cannot be fitted): content, "
        "tool_errors_total, repeated_tool_calls" in text
    )
    written = yaml.safe_load(patch.read_text(encoding="utf-8"))
    raised = written["policy"]["weights"]["tool_errors_recent"]
    assert raised > TOOL
    merged = load_patched_config(config, patch)
    assert merged.policy.weights["tool_errors_recent"] == raised
    assert merged.policy.weights["step"] == written["policy"]["weights"].get("step", 0.02)


def test_a_log_without_tool_errors_does_not_fit_their_weight_and_says_so(
    tmp_path: Path,
) -> None:
    # the default weights; sessions told apart by length only
    data = config_dict(telemetry={"log_events": False})
    config = tmp_path / "agentroute.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    lines = [session(f"e{i}", [("small", SMALL)] * 6, outcome(True)) for i in range(30)]
    long: list[Step] = []
    long += [("small", SMALL)] * 14 + [("mid", 0.02)] * 15 + [("big", BIG)] * 4
    lines += [session(f"h{i}", long, outcome(True)) for i in range(20)]
    log = write_log(tmp_path / "routing.jsonl", lines)
    out = run_cli(
        "--log", str(log), "--config", str(config), "--target-solved", "0.9",
        "--folds", "3", "--write", str(tmp_path / "p.yaml"),
    )  # fmt: skip
    assert out.exit_code in (0, 1), out.output
    text = " ".join(out.output.split())
    assert "signals fitted (logged steps carrying each): step 840" in text
    assert (
        "not fitted (no share in the log): tool_errors_recent, repeated_tool_calls, "
        "context_fraction, validation_failures" in text
    )
    result = calibrate(
        RouterConfig.from_mapping(data),
        log_table([str(log)], RouterConfig.from_mapping(data)).table,
        target_solved=0.9,
        folds=3,
    )
    assert [name for name, _ in result.weights] == ["step"]


# Outcome tables: as before -------------------------------------------------------------------


def test_an_outcome_table_fits_typical_steps_only_as_before() -> None:
    config = RouterConfig.from_mapping(config_dict(telemetry={"log_events": False}))
    table = generate(config, SyntheticSpec(tasks=60, seed=5))
    result = calibrate(config, table, target_solved=0.9, folds=3)
    fixed = calibrate(config, table, target_solved=0.9, folds=3, fit_weights=False)
    assert result == fixed  # no weight is a knob without logged steps
    assert result.weights == result.changed_weights == result.logged == ()
    assert result.not_fitted == ()
    assert "policy" not in patch_data(result)


def test_a_patch_of_one_weight_keeps_the_default_weights(tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump(config_dict()), encoding="utf-8")  # default weights
    patch = tmp_path / "patch.yaml"
    patch.write_text(yaml.safe_dump({"policy": {"weights": {"step": 0.05}}}), encoding="utf-8")
    defaults = RouterConfig.from_mapping(config_dict()).policy.weights
    assert load_patched_config(base, patch).policy.weights == defaults | {"step": 0.05}
    # a base that writes its weights keeps exactly those, with the patch's merged in
    written = {"policy": {"weights": {"step": 0.02}}}
    patched = {"policy": {"weights": {"tool_errors_recent": 0.9}}}
    merged = merge_patch(written, patched)
    assert merged == {"policy": {"weights": {"step": 0.02, "tool_errors_recent": 0.9}}}
    assert written == {"policy": {"weights": {"step": 0.02}}}  # not changed
    # a base without a policy section gets the defaults too
    assert merge_patch({}, patched)["policy"]["weights"] == defaults | {"tool_errors_recent": 0.9}
