"""`agentroute demo --shadow 1 --routing-log LOG` then `agentroute report LOG`: the README's
"Is my routing right?" shows exactly what they print, and the shadow comparisons say where
the cheap tiers went wrong (the rebooking step's cabin)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from agentroute.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def shadowed_demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, Path]:
    log = tmp_path_factory.mktemp("demo") / "demo.jsonl"
    runner = CliRunner(env={"COLUMNS": "80"})
    demo = runner.invoke(main, ["demo", "--shadow", "1", "--routing-log", str(log)])
    assert demo.exit_code == 0, demo.output
    report = runner.invoke(main, ["report", str(log)], catch_exceptions=False)
    assert report.exit_code == 0, report.output
    return demo.output, report.output, log


def readme_blocks() -> list[str]:
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("## Is my routing right?")[1]
    section = section.split("\n## ", 1)[0]
    return [block.split("\n", 1)[1] for block in section.split("```text\n")[1:]]


def test_the_readme_shows_what_the_demo_and_the_report_print(
    shadowed_demo: tuple[str, str, Path],
) -> None:
    demo, report, _ = shadowed_demo
    shadow_line, report_block = (b.split("```")[0] for b in readme_blocks())
    assert shadow_line.strip() in [line.strip() for line in demo.splitlines()]
    shown = report_block.rstrip("\n").splitlines()
    printed = [line.rstrip() for line in report.splitlines()]
    start = printed.index(shown[0].rstrip())
    assert printed[start : start + len(shown)] == [line.rstrip() for line in shown]


def test_the_cheap_tiers_disagree_at_the_rebooking_step(
    shadowed_demo: tuple[str, str, Path],
) -> None:
    _, _, log = shadowed_demo
    (line,) = [json.loads(x) for x in log.read_text(encoding="utf-8").splitlines()]
    shadows = {s["step"]: s["shadow"] for s in line["steps"] if s.get("shadow")}
    assert shadows, "no step was shadowed"
    assert all(s["served_tier"] != "complex" for s in shadows.values())
    disagreed = {step for step, s in shadows.items() if s["agreement"] < 1.0}
    assert disagreed and all("update_reservation" in shadows[step]["reason"] for step in disagreed)
    assert line["outcome"]["success"] is True
    # the session's cost is the served steps' alone
    assert line["total_cost_usd"] == pytest.approx(sum(s["cost_usd"] for s in line["steps"]))
