"""``agentroute calibrate --log`` and ``agentroute bench cascade --log``: routing logs in, the
log's facts and proxy printed, a patch written (with ``--log`` in its command line) and
loadable, a refusal, and the usage errors (flags named, exit 2; a bad line names file:line; a
log without a verdict is a clear error)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from agentroute import RouterConfig
from agentroute.bench.cascade import run_cascade
from agentroute.bench.ladder import fixed_schedule, map_ladder
from agentroute.bench.log_table import PROXY_NOTE
from agentroute.bench.outcomes import Outcome, OutcomeTable
from agentroute.bench.synthetic import SyntheticSpec, generate
from agentroute.cli import main
from agentroute.config.patch import load_patched_config
from tests.helpers import config_dict
from tests.log_builder import from_runs, outcome, session, write_log


def base_data() -> dict[str, Any]:
    return config_dict(telemetry={"log_events": False})


def logged_sessions(tasks: int = 120) -> list[dict[str, Any]]:
    """A router that left each tier after 4 calls, on synthetic tasks whose cheap model runs
    4× as long: one session line per task, its outcome the replayed result."""
    config = RouterConfig.from_mapping(base_data())
    spec = SyntheticSpec(tasks=tasks, seed=3, strength=(("mid", 0.8), ("big", 0.85)))
    rows = tuple(
        Outcome(r.task_id, r.model, r.resolved, r.cost_usd * 4, r.calls * 4, r.line)
        if r.model == "small"
        else r
        for r in generate(config, spec).rows
    )
    table = OutcomeTable(rows, "synthetic-4x")
    return from_runs(run_cascade(table, map_ladder(config, table), fixed_schedule(3, 0, 4)))


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    config = tmp_path / "agentroute.yaml"
    config.write_text(yaml.safe_dump(base_data(), sort_keys=False), encoding="utf-8")
    return config, write_log(tmp_path / "routing.jsonl", logged_sessions())


def calibrate(*args: str) -> Any:
    return CliRunner().invoke(main, ["calibrate", *args], catch_exceptions=False)


def cascade(*args: str) -> Any:
    return CliRunner().invoke(main, ["bench", "cascade", *args], catch_exceptions=False)


# calibrate --log ----------------------------------------------------------------------------


def test_calibrate_from_a_log_writes_a_patch_that_loads(
    tmp_path: Path, files: tuple[Path, Path]
) -> None:
    config, log = files
    patch = tmp_path / "calibrated.yaml"
    out = calibrate(
        "--log", str(log), "--config", str(config), "--target-solved", "0.9",
        "--folds", "3", "--write", str(patch),
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())  # rich wraps long lines
    assert "routing log: 120 sessions read from 1 files, 0 without a verdict" in text
    assert "120 tasks, 360 rows: 120 complete runs, 219 censored, 21 imputed (seed 0)" in text
    assert "imputed rows: big 21" in text
    assert " ".join(PROXY_NOTE.split()) in text
    assert "calibrated policy" in out.output and "patch written" in out.output
    header = patch.read_text(encoding="utf-8").splitlines()
    assert header[0].startswith("# agentroute calibrate --log ")
    assert f"--log {log} --config {config}" in header[0]
    assert header[2].startswith("# from routing logs: censored runs assumed to keep failing")
    merged = load_patched_config(config, patch)
    written = yaml.safe_load(patch.read_text(encoding="utf-8"))["models"]
    assert written  # something moved, and the merged config holds it
    for model, keys in written.items():
        assert merged.models[model].typical_steps == keys["typical_steps"]


def test_calibrate_from_a_log_refuses_what_the_held_out_does_not_support(
    tmp_path: Path, files: tuple[Path, Path]
) -> None:
    config, log = files
    patch = tmp_path / "p.yaml"
    out = calibrate(
        "--log", str(log), "--config", str(config), "--target-solved", "0.9",
        "--max-cost-ratio", "0.05", "--folds", "3", "--write", str(patch),
    )  # fmt: skip
    assert out.exit_code == 1
    assert "no patch written" in out.output and "above the allowed 0.05×" in out.output
    assert not patch.exists()


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ((), "give exactly one of --outcomes FILE and --log FILE"),
        (("--outcomes", "x.csv", "--log", "y.jsonl"), "give exactly one of --outcomes FILE and"),
        (("--outcomes", "x.csv", "--skip-bad"), "--skip-bad needs --log"),
    ],
)
def test_calibrate_source_flags_are_exclusive(
    tmp_path: Path, source: tuple[str, ...], message: str
) -> None:
    out = CliRunner().invoke(
        main,
        ["calibrate", *source, "--config", "c.yaml", "--target-solved", "0.9",
         "--write", str(tmp_path / "p.yaml")],
    )  # fmt: skip
    assert out.exit_code == 2
    assert message in out.output


def test_calibrate_names_a_bad_line_and_skip_bad_goes_on(
    tmp_path: Path, files: tuple[Path, Path]
) -> None:
    config, log = files
    lines = log.read_text(encoding="utf-8").splitlines(keepends=True)
    lines.insert(4, '{"schema": 1, "kind": "session", "record_id": 7}\n')
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(lines), encoding="utf-8")
    args = ["--config", str(config), "--target-solved", "0.9", "--folds", "3"]
    args += ["--write", str(tmp_path / "p.yaml")]
    out = calibrate("--log", str(bad), *args)
    assert out.exit_code == 2
    assert f"{bad}:5: record_id" in " ".join(out.output.split())
    out = calibrate("--log", str(bad), "--skip-bad", *args)
    assert out.exit_code == 0, out.output
    assert "1 bad lines skipped" in out.output


def test_calibrate_on_a_log_without_verdicts_is_a_clear_error(
    tmp_path: Path, files: tuple[Path, Path]
) -> None:
    config, _ = files
    log = write_log(
        tmp_path / "none.jsonl",
        [session("a", [("small", 0.1)]), session("b", [("big", 1.0)], outcome(None))],
    )
    out = calibrate(
        "--log", str(log), "--config", str(config), "--target-solved", "0.9",
        "--write", str(tmp_path / "p.yaml"),
    )  # fmt: skip
    assert out.exit_code == 2
    text = " ".join(out.output.split())
    assert "no session with a verdict among the 2 sessions read" in text
    assert not (tmp_path / "p.yaml").exists()


def test_a_glob_of_logs_is_read_as_one(tmp_path: Path, files: tuple[Path, Path]) -> None:
    config, log = files
    lines = log.read_text(encoding="utf-8").splitlines(keepends=True)
    (tmp_path / "part-1.jsonl").write_text("".join(lines[:60]), encoding="utf-8")
    (tmp_path / "part-2.jsonl").write_text("".join(lines[60:]), encoding="utf-8")
    out = calibrate(
        "--log", str(tmp_path / "part-*.jsonl"), "--config", str(config),
        "--target-solved", "0.9", "--folds", "3", "--write", str(tmp_path / "p.yaml"),
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    assert "120 sessions read from 2 files" in " ".join(out.output.split())
    assert f"--log '{tmp_path}/part-*.jsonl'" in (tmp_path / "p.yaml").read_text("utf-8")


# bench cascade --log ------------------------------------------------------------------------


def test_bench_cascade_from_a_log(tmp_path: Path, files: tuple[Path, Path]) -> None:
    config, log = files
    report = tmp_path / "r.md"
    out = cascade("--log", str(log), "--config", str(config), "--output", str(report))
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())
    assert "120 tasks, 360 rows: 120 complete runs, 219 censored, 21 imputed" in text
    assert " ".join(PROXY_NOTE.split()) in text
    markdown = report.read_text(encoding="utf-8")
    assert f"agentroute bench cascade --log {log} --seed 0 --config {config}" in markdown
    assert "censored" in markdown and "imputed rows: big 21" in markdown


def test_bench_cascade_log_takes_a_seed_for_its_imputed_rows(
    tmp_path: Path, files: tuple[Path, Path]
) -> None:
    config, log = files
    outs = [cascade("--log", str(log), "--config", str(config), "--seed", s).output for s in "01"]
    assert all("imputed (seed" in o for o in outs)
    assert "imputed (seed 1)" in " ".join(outs[1].split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--log", "x.jsonl", "--synthetic"), "give exactly one of --outcomes FILE and"),
        (("--log", "x.jsonl", "--outcomes", "y.csv"), "(or, instead of both, --log FILE)"),
        (("--synthetic", "--skip-bad"), "--skip-bad needs --log"),
        (("--log", "x.jsonl", "--write-outcomes", "t.csv"), "--write-outcomes with --log"),
        (("--log", "x.jsonl", "--tasks", "3"), "--tasks needs --synthetic"),
    ],
)
def test_bench_cascade_log_usage_errors(args: tuple[str, ...], message: str) -> None:
    out = CliRunner().invoke(main, ["bench", "cascade", *args])
    assert out.exit_code == 2
    assert message in " ".join(out.output.split())


def test_bench_cascade_names_a_missing_log(tmp_path: Path, files: tuple[Path, Path]) -> None:
    config, _ = files
    out = cascade("--log", str(tmp_path / "nope.jsonl"), "--config", str(config))
    assert out.exit_code == 2
    assert "no such file" in out.output
