"""``agentroute calibrate`` (agentroute/bench/calibrate.py, calibrate_cli.py) and config patches
(agentroute/config/patch.py): the fit on synthetic tables whose models' run lengths differ 4×,
the held-out evaluation, the refusal, the patch round-trip into a router, the CLI's errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from agentroute import ConfigurationError, Router, RouterConfig
from agentroute.bench.calibrate import calibrate, split_tasks
from agentroute.bench.outcomes import Outcome, OutcomeTable, write_outcomes
from agentroute.bench.synthetic import SyntheticSpec, generate
from agentroute.cli import main
from agentroute.config.patch import load_patched_config, merge_patch
from tests.helpers import Msg, answer, config_dict, mock_providers

pytestmark = pytest.mark.anyio


def base_data() -> dict[str, Any]:
    return config_dict(telemetry={"log_events": False})


def long_cheap_table(seed: int = 3, tasks: int = 200) -> OutcomeTable:
    """Synthetic runs where the cheap model's runs are 4× as long (and cost 4× as much per
    run) as the generator makes them; mid is nearly as strong as big."""
    config = RouterConfig.from_mapping(base_data())
    spec = SyntheticSpec(tasks=tasks, seed=seed, strength=(("mid", 0.8), ("big", 0.85)))
    rows = tuple(
        Outcome(r.task_id, r.model, r.resolved, r.cost_usd * 4, r.calls * 4, r.line)
        if r.model == "small"
        else r
        for r in generate(config, spec).rows
    )
    return OutcomeTable(rows, "synthetic-4x")


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    config = tmp_path / "agentroute.yaml"
    config.write_text(yaml.safe_dump(base_data(), sort_keys=False), encoding="utf-8")
    table = tmp_path / "runs.csv"
    write_outcomes(long_cheap_table(), table)
    return config, table


def run_cli(*args: str) -> Any:
    return CliRunner().invoke(main, ["calibrate", *args], catch_exceptions=False)


# The fit ------------------------------------------------------------------------------------


def test_the_folds_split_by_task_from_the_seed() -> None:
    tasks = [f"t{i}" for i in range(11)]
    folds = split_tasks(tasks, 3, seed=1)
    assert sorted(t for f in folds for t in f) == sorted(tasks)
    assert [len(f) for f in folds] == [4, 4, 3]
    assert split_tasks(tasks, 3, seed=1) == folds
    assert split_tasks(tasks, 3, seed=2) != folds


def test_calibration_meets_the_target_held_out_and_is_deterministic() -> None:
    config = RouterConfig.from_mapping(base_data())
    table = long_cheap_table()
    result = calibrate(config, table, target_solved=0.96, max_cost_ratio=0.6, folds=5, seed=0)
    assert result.strongest == "big"
    assert result.refusal is None
    assert result.solved_share.mean >= 0.96
    assert result.cost_ratio.mean <= 0.6
    assert result.solved_share.low <= result.solved_share.mean <= result.solved_share.high
    # cheaper than the configured policy, whose step points ignore the 4× run lengths
    assert result.cost("calibrated").mean < result.cost("default").mean
    fitted = dict(result.typical_steps)
    assert set(fitted) == {"small", "mid"}  # the top tier is never left: no knob
    assert dict(result.changed) == {m: v for m, v in fitted.items() if v != 12}
    again = calibrate(config, table, target_solved=0.96, max_cost_ratio=0.6, folds=5, seed=0)
    assert again == result


def test_run_length_differences_move_the_fitted_scale() -> None:
    # the same table with the cheap model's runs not stretched: its fitted scale is shorter
    config = RouterConfig.from_mapping(base_data())
    spec = SyntheticSpec(tasks=200, seed=3, strength=(("mid", 0.8), ("big", 0.85)))
    plain = calibrate(config, generate(config, spec), target_solved=0.96, folds=4)
    stretched = calibrate(config, long_cheap_table(), target_solved=0.96, folds=4)
    assert dict(stretched.typical_steps)["small"] > dict(plain.typical_steps)["small"]


def test_tiers_in_the_wrong_order_are_named_in_the_refusal() -> None:
    # a config written with sorted keys puts "complex" first: starting on "simple", now the
    # top tier, the policy has no tier to leave; the error shows the order it read
    data = base_data()
    data["tiers"] = dict(sorted(data["tiers"].items()))
    data["policy"] = {"start_tier": "simple"}
    with pytest.raises(ConfigurationError) as info:
        calibrate(RouterConfig.from_mapping(data), long_cheap_table(), target_solved=0.9)
    text = str(info.value)
    assert "no tier to calibrate" in text
    assert "start tier 'simple'" in text
    assert "complex (big), medium (mid), simple (small)" in text


def test_a_policy_that_never_escalates_on_steps_cannot_be_calibrated() -> None:
    data = base_data() | {"policy": {"weights": {"step": 0.0, "tool_errors_recent": 0.45}}}
    with pytest.raises(ConfigurationError, match=r"policy\.weights\.step"):
        calibrate(RouterConfig.from_mapping(data), long_cheap_table(), target_solved=0.9)


# Patches ------------------------------------------------------------------------------------


def test_merge_patch_merges_mappings_and_replaces_the_rest() -> None:
    base = {"models": {"a": {"x": 1, "y": [1, 2]}}, "tiers": {"t": ["a"]}}
    patch = {"models": {"a": {"y": [3], "z": None}}}
    assert merge_patch(base, patch) == {
        "models": {"a": {"x": 1, "y": [3], "z": None}},
        "tiers": {"t": ["a"]},
    }
    assert base["models"]["a"] == {"x": 1, "y": [1, 2]}  # unchanged


def test_a_bad_patch_value_names_its_field(tmp_path: Path, files: tuple[Path, Path]) -> None:
    config, _ = files
    patch = tmp_path / "patch.yaml"
    patch.write_text("models:\n  mid:\n    typical_steps: 0\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"models\.mid\.typical_steps"):
        load_patched_config(config, patch)


async def test_the_written_patch_round_trips_into_the_routers_policy(
    tmp_path: Path, files: tuple[Path, Path]
) -> None:
    config, table = files
    patch = tmp_path / "calibrated.yaml"
    out = run_cli(
        "--outcomes", str(table), "--config", str(config), "--target-solved", "0.96",
        "--max-cost-ratio", "0.6", "--write", str(patch),
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    assert "calibrated policy" in out.output and "patch written" in out.output
    written = yaml.safe_load(patch.read_text(encoding="utf-8"))
    assert set(written) == {"models"}  # only the changed keys
    small = written["models"]["small"]["typical_steps"]
    assert small != 12
    merged = load_patched_config(config, patch)
    assert merged.models["small"].typical_steps == small
    assert (
        merged.models["small"].deployments
        == load_patched_config(config).models["small"].deployments
    )
    # the router built on base + patch counts the cheap model's steps at 12/small each
    router = Router(merged, providers=mock_providers(answer))
    messages: list[Msg] = [{"role": "user", "content": "Move my booking to Friday."}]
    async with router.session() as s:
        for _ in range(3):
            await router.complete(messages)
    parts = [dict(d.contributions)["step"] for d in s.decisions]
    assert parts == pytest.approx([0.02 * 12 / small * k for k in (1, 2, 3)])


# Refusal and errors -------------------------------------------------------------------------


def test_it_refuses_a_patch_the_held_out_result_does_not_support(
    tmp_path: Path, files: tuple[Path, Path]
) -> None:
    config, table = files
    patch = tmp_path / "p.yaml"
    out = run_cli(
        "--outcomes", str(table), "--config", str(config), "--target-solved", "0.96",
        "--max-cost-ratio", "0.05", "--write", str(patch),
    )  # fmt: skip
    assert out.exit_code == 1
    assert "no patch written" in out.output and "above the allowed 0.05×" in out.output
    assert not patch.exists()
    # the cheap models fail at once (a confident wrong answer): no step point can help
    hopeless = tmp_path / "hopeless.csv"
    rows = [
        Outcome(f"t{i}", model, model == "big", cost, 1)
        for i in range(10)
        for model, cost in (("small", 0.1), ("mid", 0.2), ("big", 1.0))
    ]
    write_outcomes(OutcomeTable(tuple(rows), "hand"), hopeless)
    out = run_cli(
        "--outcomes", str(hopeless), "--config", str(config), "--target-solved", "0.9",
        "--write", str(patch),
    )  # fmt: skip
    assert out.exit_code == 1 and "0.0% of the strongest" in out.output
    assert "below the target 90.0%" in out.output
    assert not patch.exists()


@pytest.mark.parametrize(
    ("change", "flag"),
    [
        ({"--folds": "1"}, "--folds"),
        ({"--folds": "100000"}, "--folds"),
        ({"--target-solved": "1.5"}, "--target-solved"),
        ({"--target-solved": "0"}, "--target-solved"),
        ({"--max-cost-ratio": "-1"}, "--max-cost-ratio"),
        ({"--write": None}, "--write"),
        ({"--outcomes": None}, "--outcomes"),
    ],
)
def test_cli_errors_name_the_flag(
    tmp_path: Path, files: tuple[Path, Path], change: dict[str, str | None], flag: str
) -> None:
    config, table = files
    args = {
        "--outcomes": str(table),
        "--config": str(config),
        "--target-solved": "0.9",
        "--write": str(tmp_path / "p.yaml"),
    } | change
    argv = [x for k, v in args.items() if v is not None for x in (k, v)]
    out = CliRunner().invoke(main, ["calibrate", *argv])
    assert out.exit_code == 2
    assert flag in out.output
    assert not (tmp_path / "p.yaml").exists()


def test_a_bad_table_is_reported_with_its_line(tmp_path: Path, files: tuple[Path, Path]) -> None:
    config, _ = files
    table = tmp_path / "bad.csv"
    table.write_text("task_id,model,resolved,cost_usd,calls\nA,small,maybe,1,2\n", "utf-8")
    out = run_cli(
        "--outcomes", str(table), "--config", str(config), "--target-solved", "0.9",
        "--write", str(tmp_path / "p.yaml"),
    )  # fmt: skip
    assert out.exit_code == 2 and "bad.csv:2" in out.output


def test_the_held_out_table_reads_at_80_columns(tmp_path: Path, files: tuple[Path, Path]) -> None:
    config, table = files
    out = CliRunner().invoke(
        main,
        ["calibrate", "--outcomes", str(table), "--config", str(config), "--target-solved",
         "0.96", "--folds", "3", "--write", str(tmp_path / "p.yaml")],
        env={"COLUMNS": "80"},
    )  # fmt: skip
    lines = out.output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["contender", "solved"])
    body = lines[header + 2 : header + 8]
    assert [line.split()[0] for line in body] == [
        "small", "mid", "big", "oracle", "default", "calibrated"
    ]  # fmt: skip
    for line in lines:
        assert len(line) <= 80 and "…" not in line
    # every row whole on one line: name, solved, range, cost ×, range
    assert all(
        re.search(r"\d%\s+\d+%–\d+%\s+\d+\.\d\d\s+\d+\.\d\d–\d+\.\d\d$", x.rstrip()) for x in body
    )
