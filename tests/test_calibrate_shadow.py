"""``agentroute calibrate --log`` with shadow data: low agreement where the policy held the
cheap tier forbids a patch that holds it longer (the same log without that evidence raises
its ``typical_steps``), the evidence used is printed with its counts, and
:func:`~agentroute.bench.shadow_evidence.hold_evidence` counts only the holding causes, over
enough steps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from agentroute import RouterConfig
from agentroute.bench.calibrate import calibrate
from agentroute.bench.log_table import log_table
from agentroute.bench.shadow_evidence import LoggedShadow, hold_evidence
from agentroute.cli import main
from agentroute.telemetry.routing_log_schema import ShadowRecord
from tests.helpers import config_dict
from tests.log_builder import Step, outcome, session, write_log

SMALL, MID = 0.001, 0.01  # cost per step


def shadow(agreement: float | None, cause: str = "score", tier: str = "simple") -> dict[str, Any]:
    return {
        "served_tier": tier,
        "served_model": "small",
        "cause": cause,
        "reference_tier": "complex",
        "reference_model": "big",
        "agreement": agreement,
        "reason": "tool update_reservation: args cabin",
        "judge": False,
        "cost_usd": 0.01,
        "error_type": None,
    }


def cheap_tier_log(agreement: float | None) -> list[dict[str, Any]]:
    """30 sessions solved on small in 20 steps (the logged step share, 0.02 × step, reaches
    medium's 0.3 at step 15: the configured policy leaves small after 14 calls, so only a
    larger ``typical_steps`` keeps them there, at 20 small calls rather than 5 mid ones); 30
    sessions that a tool error sent to mid (solved there). With ``agreement``, two steps of
    each long small session were shadowed at that agreement (one on the step's ``shadow``
    field, one as a late line)."""
    lines: list[dict[str, Any]] = []
    for i in range(30):
        line = session(f"long{i}", [("small", SMALL)] * 20, outcome(True))
        if agreement is not None:
            line["steps"][4]["shadow"] = shadow(agreement)
            lines.append(line)
            lines.append(
                {
                    "schema": 1,
                    "kind": "shadow",
                    "record_id": f"sh{i}",
                    "session_id": line["session_id"],
                    "session_record": line["record_id"],
                    "step": 9,
                    "shadow": shadow(agreement, cause="hold"),
                }
            )
        else:
            lines.append(line)
    for i in range(30):
        steps: list[Step] = [("small", SMALL), ("small", SMALL)]
        steps.append(("mid", MID, {"step": 0.06, "tool_errors_recent": 0.45}))
        steps += [("mid", MID)] * 4
        lines.append(session(f"mid{i}", steps, outcome(True)))
    return lines


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "agentroute.yaml"
    data = config_dict(telemetry={"log_events": False})
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def run(tmp_path: Path, config: Path, log: Path, *extra: str) -> tuple[Any, dict[str, Any]]:
    patch = tmp_path / "patch.yaml"
    patch.unlink(missing_ok=True)
    out = CliRunner().invoke(
        main,
        ["calibrate", "--log", str(log), "--config", str(config), "--target-solved", "0.9",
         "--folds", "3", "--write", str(patch), *extra],
        catch_exceptions=False,
    )  # fmt: skip
    written = yaml.safe_load(patch.read_text(encoding="utf-8")) if patch.exists() else {}
    return out, written


def test_low_agreement_on_the_cheap_tier_stops_the_patch_holding_it_longer(
    tmp_path: Path, config_file: Path
) -> None:
    # without shadow data the fit keeps small longer: its typical_steps is raised (from 12)
    plain = write_log(tmp_path / "plain.jsonl", cheap_tier_log(None))
    out, patch = run(tmp_path, config_file, plain)
    assert out.exit_code == 0, out.output
    assert "shadow data: no shadow data in the log (no tier constrained)" in out.output
    assert patch["models"]["small"]["typical_steps"] > 12

    # the same log, the cheap tier's holding steps shadowed at agreement 0.3: no raise
    low = write_log(tmp_path / "low.jsonl", cheap_tier_log(0.3))
    out, patch = run(tmp_path, config_file, low)
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())
    assert "simple 60 steps in 30 sessions, agreement 0.30" in text
    assert "the patch may not hold simple longer than configured" in text
    assert "held by shadow agreement: simple" in text
    assert "weights at least as configured: step, tool_errors_recent" in text
    small = patch.get("models", {}).get("small", {}).get("typical_steps", 12)
    assert small <= 12
    assert patch.get("policy", {}).get("weights", {}).get("step", 0.02) >= 0.02

    # high agreement is no evidence against holding: the raise comes back
    high = write_log(tmp_path / "high.jsonl", cheap_tier_log(0.95))
    out, patch = run(tmp_path, config_file, high)
    assert "no tier constrained (agreement below 0.8 over at least 20 steps" in " ".join(
        out.output.split()
    )
    assert patch["models"]["small"]["typical_steps"] > 12

    # the flags move the line: 0.3 is above a minimum of 0.2, and 60 steps short of 61
    for flags in (("--min-agreement", "0.2"), ("--min-shadow-steps", "61")):
        out, patch = run(tmp_path, config_file, low, *flags)
        assert patch["models"]["small"]["typical_steps"] > 12, flags
        assert f"{flags[0]} {flags[1]}" in (tmp_path / "patch.yaml").read_text("utf-8")


def test_the_constraint_in_the_library_call(tmp_path: Path) -> None:
    config = RouterConfig.from_mapping(config_dict(telemetry={"log_events": False}))
    log = write_log(tmp_path / "low.jsonl", cheap_tier_log(0.3))
    table = log_table([str(log)], config).table
    free = calibrate(config, table, target_solved=0.9, folds=3)
    held = calibrate(config, table, target_solved=0.9, folds=3, held=("simple", "nope"))
    assert dict(free.typical_steps)["small"] > 12
    assert dict(held.typical_steps)["small"] <= 12
    assert all(f.typical_steps[0][1] <= 12 for f in held.folds)  # every fold's fit too
    assert held.held == ("simple",)  # a tier the config does not name is ignored
    assert held.held_signals == ("step", "tool_errors_recent")


def sample(cause: str | None, agreement: float | None, record: str = "r") -> LoggedShadow:
    data = shadow(agreement, cause=cause or "score")
    data["cause"] = cause
    return LoggedShadow(record, f"s-{record}", 1, ShadowRecord.model_validate(data))


def test_hold_evidence_counts_holding_causes_over_enough_steps() -> None:
    samples = [sample("score", 0.1, f"r{i}") for i in range(3)]
    samples += [sample("escalation_request", 0.0), sample(None, 0.0), sample("start", None)]
    evidence = hold_evidence(samples, min_agreement=0.5, min_steps=3, order=("simple", "x"))
    (tier,) = evidence.tiers
    assert (tier.tier, tier.steps, tier.sessions, tier.failed) == ("simple", 3, 3, 1)
    assert tier.constrained and evidence.constrained == ("simple",)
    assert evidence.other_steps == 2  # escalation_request and an unrecorded cause
    fewer = hold_evidence(samples, min_agreement=0.5, min_steps=4)
    assert fewer.constrained == ()
    assert hold_evidence([], min_agreement=0.5, min_steps=1).lines() == (
        "shadow data: no shadow data in the log (no tier constrained)",
    )


def test_shadow_flags_need_a_log(tmp_path: Path) -> None:
    out = CliRunner().invoke(
        main,
        ["calibrate", "--outcomes", "x.csv", "--min-agreement", "0.5", "--config", "c.yaml",
         "--target-solved", "0.9", "--write", str(tmp_path / "p.yaml")],
    )  # fmt: skip
    assert out.exit_code == 2
    assert "--min-agreement needs --log" in out.output
