"""``policy.start_tier`` as a guarded calibration knob (agentroute/bench/calibrate.py): the
start moves only where the configured one costs more than the strongest model alone (a cheap
model whose runs are so long it is dominated), to the lowest higher start that pays; where
the cheap tier pays the start stays. The patch, its round-trip through
``load_patched_config`` and the CLI's printout."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from agentroute import RouterConfig
from agentroute.bench.calibrate import calibrate, patch_data
from agentroute.bench.calibrate_cli import start_lines
from agentroute.bench.outcomes import Outcome, OutcomeTable, write_outcomes
from agentroute.bench.synthetic import SyntheticSpec, generate
from agentroute.cli import main
from agentroute.config.patch import load_patched_config
from tests.helpers import config_dict

TARGET = 0.96


def two_close() -> dict[str, Any]:
    """Two tiers 5× apart in price (the two-close ladder of benchmarks/ladders/)."""
    return {
        "providers": {"p": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1"}},
        "models": {
            name: {
                "context_window": 128_000,
                "price": {"input": price, "output": 5 * price},
                "deployments": [{"provider": "p", "name": name}],
            }
            for name, price in (("sonnet", 3.0), ("opus", 15.0))
        },
        "tiers": {"cheap": ["sonnet"], "strong": ["opus"]},
        "telemetry": {"log_events": False},
    }


def table(config: RouterConfig, cheap_scale: float) -> OutcomeTable:
    """100 synthetic tasks; the cheap model's runs ``cheap_scale``× as long (and as dear)."""
    scale = (("sonnet", cheap_scale),) if cheap_scale != 1 else ()
    return generate(config, SyntheticSpec(tasks=100, seed=0, calls_scale=scale, max_calls=160))


def calibrate_cli(tmp_path: Path, runs: OutcomeTable) -> tuple[Any, Path, Path]:
    """``agentroute calibrate`` on ``runs`` over the two-close config, written to files in
    ``tmp_path``: the command's result, the config's path and the patch's."""
    base, csv, patch = tmp_path / "agentroute.yaml", tmp_path / "runs.csv", tmp_path / "p.yaml"
    base.write_text(yaml.safe_dump(two_close(), sort_keys=False), encoding="utf-8")
    write_outcomes(runs, csv)
    args = ["--outcomes", str(csv), "--config", str(base), "--target-solved", str(TARGET)]
    out = CliRunner().invoke(
        main, ["calibrate", *args, "--write", str(patch)], catch_exceptions=False
    )
    return out, base, patch


def test_a_dominated_cheap_model_moves_the_start_and_the_patch_loads(tmp_path: Path) -> None:
    config = RouterConfig.from_mapping(two_close())
    runs = table(config, cheap_scale=4)
    result = calibrate(config, runs, target_solved=TARGET, folds=5, seed=0)
    assert result.strongest == "opus"
    # the configured start costs more than opus alone held out: no escalation point helps
    assert result.cost("default").mean > 1.0
    assert result.start_tier == result.changed_start == "strong"
    assert [f.start_tier for f in result.folds] == ["strong"] * 5
    assert result.cost("calibrated").mean <= 1.0
    assert result.cost("calibrated").high <= 1.0
    assert result.solved_share.mean >= TARGET and result.refusal is None
    assert patch_data(result)["policy"] == {"start_tier": "strong"}
    # the CLI writes the patch, says the start moved, and the patch loads with it
    out, base, patch = calibrate_cli(tmp_path, runs)
    assert out.exit_code == 0, out.output
    assert "fitted start tier (all tasks): strong" in out.output
    assert "start tier per fold" not in out.output  # every fold chose the same
    assert yaml.safe_load(patch.read_text(encoding="utf-8"))["policy"] == {"start_tier": "strong"}
    patched = load_patched_config(base, patch)
    assert patched.start_tier == "strong"
    assert RouterConfig.from_mapping(two_close()).start_tier == "cheap"


def test_where_the_cheap_tier_pays_the_start_stays(tmp_path: Path) -> None:
    config = RouterConfig.from_mapping(two_close())
    runs = table(config, cheap_scale=1)
    result = calibrate(config, runs, target_solved=TARGET, folds=5, seed=0)
    assert result.start_tier == "cheap" and result.changed_start is None
    assert [f.start_tier for f in result.folds] == ["cheap"] * 5
    assert result.cost("calibrated").mean < 1.0
    data = patch_data(result)
    policy = data.get("policy", {})
    assert isinstance(policy, dict) and "start_tier" not in policy
    assert data["models"]  # the step scale moved instead
    out, base, patch = calibrate_cli(tmp_path, runs)
    assert out.exit_code == 0, out.output
    assert "start tier" not in out.output
    assert "start_tier" not in patch.read_text(encoding="utf-8")
    assert load_patched_config(base, patch).start_tier == "cheap"


def test_the_lowest_higher_start_that_pays_is_taken() -> None:
    # simple's model fails at once and dearly; medium's solves everything below big's cost
    config = RouterConfig.from_mapping(config_dict(telemetry={"log_events": False}))
    rows = [
        Outcome(f"t{i}", model, resolved, cost, calls)
        for i in range(10)
        for model, resolved, cost, calls in (
            ("small", False, 5.0, 1),
            ("mid", True, 2.0, 2),
            ("big", True, 3.0, 2),
        )
    ]
    result = calibrate(config, OutcomeTable(tuple(rows), "hand"), target_solved=0.9, folds=2)
    assert result.strongest == "big"
    assert result.changed_start == "medium"
    assert patch_data(result)["policy"] == {"start_tier": "medium"}
    assert result.solved_share.mean == 1.0
    assert result.cost("calibrated").mean == pytest.approx(2 / 3)


def test_the_printout_names_each_folds_start_when_they_differ() -> None:
    config = RouterConfig.from_mapping(two_close())
    result = calibrate(config, table(config, cheap_scale=4), target_solved=TARGET, folds=3)
    assert start_lines(result)[0].startswith("fitted start tier (all tasks): strong")
    folds = list(result.folds)
    folds[1] = dataclasses.replace(folds[1], start_tier="cheap")
    mixed = dataclasses.replace(result, folds=tuple(folds))
    assert start_lines(mixed)[-1] == "start tier per fold: strong, cheap, strong"
    stayed = dataclasses.replace(mixed, changed_start=None, folds=result.folds)
    assert start_lines(stayed) == []
