"""``agentroute bench cascade`` as a user meets it: tables, files, errors, the optional plot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from agentroute.cli import main
from tests.test_bench_outcomes import HEADER

EXAMPLE = Path(__file__).parent.parent / "examples" / "agentroute.yaml"
WIDE = {"COLUMNS": "200"}


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["bench", "cascade", *args], env=WIDE)


def test_synthetic_run_prints_tables_and_writes_files(tmp_path: Path) -> None:
    out = tmp_path / "res"
    result = run(
        "--synthetic",
        "--tasks",
        "40",
        "--seed",
        "5",
        "--config",
        str(EXAMPLE),
        "--write-outcomes",
        str(tmp_path / "table.csv"),
        "--plot",
        str(out / "plot.png"),
        "--output",
        str(out / "result.md"),
    )
    assert result.exit_code == 0, result.output
    text = result.output
    for expected in (
        "tier ladder (policy)",
        "glm-air",
        "opus (strongest)",
        "oracle, unsolved at $0",
        "frontier: each tier left after k calls on it",
        "restart approximation",
        "Against the strongest single model, opus",
    ):
        assert expected in text
    assert (out / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "result.md").read_text()
    assert "agentroute bench cascade --synthetic --tasks 40 --seed 5 --config" in md
    assert "![cost vs solved](plot.png)" in md
    assert "| policy | ladder |" in md

    # the written table, read back, gives the same numbers
    again = run("--outcomes", str(tmp_path / "table.csv"), "--config", str(EXAMPLE))
    assert again.exit_code == 0, again.output
    policy_line = next(line for line in text.splitlines() if line.startswith("Policy:"))
    assert policy_line in again.output


def test_outcomes_from_a_file(tmp_path: Path) -> None:
    table = tmp_path / "runs.csv"
    table.write_text(
        HEADER
        + "a,glm-air,true,0.1,2\na,opus,true,3.0,2\nb,glm-air,false,0.5,20\nb,opus,true,4,4\n"
    )
    result = run("--outcomes", str(table), "--config", str(EXAMPLE))
    assert result.exit_code == 0, result.output
    assert "tier medium skipped" in result.output
    assert "tier complex skipped" in result.output
    # b: 14/20 of 0.5 on glm-air, then opus as recorded (4.0): both solved for 0.1 + 0.35 + 4
    assert "Policy: 2/2 solved for $4.4500 (1 tasks escalated)." in result.output


def test_bad_table_is_a_clear_error_exit_2(tmp_path: Path) -> None:
    table = tmp_path / "runs.csv"
    table.write_text(HEADER + "a,glm-air,true,0.1,2\na,opus,true,cheap,2\n")
    result = run("--outcomes", str(table), "--config", str(EXAMPLE))
    assert result.exit_code == 2
    assert f"{table}:3: column 'cost_usd': not a number: 'cheap'" in result.output
    assert "Traceback" not in result.output


def test_unknown_model_in_the_config_exit_2(tmp_path: Path) -> None:
    table = tmp_path / "runs.jsonl"
    table.write_text(
        '{"task_id": "a", "model": "glm-air", "resolved": true, "cost_usd": 1, "calls": 1}\n'
        '{"task_id": "a", "model": "claude-opus", "resolved": true, "cost_usd": 1, "calls": 1}\n'
    )
    result = run("--outcomes", str(table), "--config", str(EXAMPLE))
    assert result.exit_code == 2
    assert "unknown model in the config: 'deepseek-chat' (tier medium)" in result.output
    assert "'claude-opus' (line 2)" in result.output
    assert f"{table}:2: column 'model'" in result.output


def test_bad_config_exit_2(tmp_path: Path) -> None:
    result = run("--synthetic", "--config", str(tmp_path / "none.yaml"))
    assert result.exit_code == 2
    assert "cannot read config" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give exactly one of --outcomes FILE and --synthetic"),
        (("--synthetic", "--outcomes", "x.csv"), "give exactly one of"),
        (("--outcomes", "x.csv", "--seed", "3"), "--seed needs --synthetic"),
    ],
)
def test_usage_errors(args: tuple[str, ...], message: str) -> None:
    result = run(*args)
    assert result.exit_code == 2
    assert message in result.output


def test_without_config_uses_the_example_here_else_the_demo_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("--synthetic", "--tasks", "10")
    assert result.exit_code == 0, result.output
    assert "config: the demo's embedded config" in result.output
    assert "large (strongest)" in result.output
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "agentroute.yaml").write_text(EXAMPLE.read_text())
    result = run("--synthetic", "--tasks", "10", "--output", "r.md")
    assert "config: examples/agentroute.yaml" in result.output
    assert "--config examples/agentroute.yaml" in (tmp_path / "r.md").read_text()


def test_without_matplotlib_the_plot_is_skipped_with_a_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    result = run(
        "--synthetic",
        "--tasks",
        "10",
        "--config",
        str(EXAMPLE),
        "--plot",
        str(tmp_path / "p.png"),
        "--output",
        str(tmp_path / "r.md"),
    )
    assert result.exit_code == 0, result.output
    assert "pip install 'agentroute[bench]'" in result.output
    assert not (tmp_path / "p.png").exists()
    assert "![" not in (tmp_path / "r.md").read_text()


def test_matplotlib_is_not_imported_at_startup_or_without_a_plot(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "import agentroute.cli\n"
        "assert 'matplotlib' not in sys.modules, 'imported with the CLI'\n"
        "r = CliRunner().invoke(agentroute.cli.main, ['bench', 'cascade', '--synthetic', "
        f"'--tasks', '5', '--config', {str(EXAMPLE)!r}])\n"
        "assert r.exit_code == 0, r.output\n"
        "assert 'matplotlib' not in sys.modules, 'imported without --plot'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
