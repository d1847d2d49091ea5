"""The CLI as a user meets it: the demo, and config check on good and bad files."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from agentroute.cli import main

EXAMPLE = Path(__file__).parent.parent / "examples" / "agentroute.yaml"


def test_demo_prints_a_row_per_step_and_a_summary() -> None:
    result = CliRunner().invoke(main, ["demo"], env={"COLUMNS": "220"})
    assert result.exit_code == 0, result.output
    out = result.output
    for heading in ("step", "tier", "model", "deployment", "cause", "cached", "cost $"):
        assert heading in out
    assert "escalation_request" in out
    assert "step-down pays" in out
    assert "fastcloud:503 → fastcloud:503 → backup:ok" in out
    assert "solved: yes" in out
    assert "saved:" in out


def test_config_check_accepts_the_example(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    result = CliRunner().invoke(main, ["config", "check", str(EXAMPLE)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "valid" in result.output
    assert "tiers (cheap → strong)" in result.output
    assert "environment variable not set" in result.output


def test_config_check_names_every_bad_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "providers: {p: {kind: openai}}\n"
        "models:\n"
        "  a: {context_window: 1000, price: {input: 1, output: 1},"
        " deployments: [{provider: nope, name: a}]}\n"
        "tiers: {simple: [a], complex: [ghost]}\n"
    )
    result = CliRunner().invoke(main, ["config", "check", str(bad)], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert "models.a.deployments.0.provider: unknown provider 'nope'" in result.output
    assert "tiers.complex: unknown model 'ghost'" in result.output


def test_config_check_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["config", "check", str(tmp_path / "none.yaml")])
    assert result.exit_code == 1
    assert "cannot read config" in result.output
