"""``agentroute bench cascade`` with output checks and the synthetic run-length options."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_bench_cli import EXAMPLE, run
from tests.test_bench_outcomes import HEADER

SYNTH = ("--synthetic", "--tasks", "30", "--config", str(EXAMPLE))


def test_one_block_and_one_row_per_check_setting(tmp_path: Path) -> None:
    out = tmp_path / "r.md"
    args = ("--verifier-recall", "0.8", "--verifier-fpr", "0.1")
    result = run(
        *SYNTH, *args, "--verifier-recall", "1", "--verifier-fpr", "0", "--output", str(out)
    )
    assert result.exit_code == 0, result.output
    for expected in (
        "frontier with the check R=0.8 F=0.1 (seed 0)",
        "frontier with the check R=1 F=0 (seed 0)",
        "policy + check R=0.8 F=0.1",
        "Policy + check R=1 F=0: ",
        "Output check (R=recall, F=false-positive rate)",
    ):
        assert expected in result.output
    md = out.read_text()
    assert md.count("### Frontier with the check") == 2
    assert "| policy + check R=0.8 F=0.1 | ladder |" in md
    assert (
        "agentroute bench cascade --synthetic --tasks 30 --seed 0 --verifier-recall 0.8 "
        "--verifier-fpr 0.1 --verifier-recall 1 --verifier-fpr 0 --config" in md
    )


def test_without_a_check_the_output_is_as_before() -> None:
    result = run(*SYNTH)
    assert result.exit_code == 0, result.output
    # the config's path is printed, and a checkout may sit under a folder named "check"
    text = result.output.replace(str(EXAMPLE.parent), "<dir>")
    assert "check" not in text.lower()


def test_no_step_escalation_replays_the_check_alone(tmp_path: Path) -> None:
    table = tmp_path / "runs.csv"
    # a: glm-air fails after 20 calls (the policy would climb at step 15); with no step
    # escalation it runs to its end, the perfect check rejects it, and opus solves it
    table.write_text(HEADER + "a,glm-air,false,2.0,20\na,opus,true,4,4\n")
    args = ("--outcomes", str(table), "--config", str(EXAMPLE))
    check = ("--verifier-recall", "1", "--verifier-fpr", "0")
    result = run(*args, *check, "--no-step-escalation", "--output", str(tmp_path / "r.md"))
    assert result.exit_code == 0, result.output
    assert "Check R=1 F=0, no step escalation: 1/1 solved for $6.0000" in result.output
    assert "check R=1 F=0 (seed 0), no step escalation" in result.output
    # the policy's own row stays the configured step escalation: 14/20 of 2.0, then opus
    assert "Policy: 1/1 solved for $5.4000" in result.output
    md = (tmp_path / "r.md").read_text()
    assert "--seed 0 --verifier-recall 1 --verifier-fpr 0 --no-step-escalation" in md


def test_the_seed_picks_the_checks_draws(tmp_path: Path) -> None:
    # 40 tasks, each: glm-air fails in 2 calls (within its budget), opus solves for $1
    table = tmp_path / "runs.csv"
    rows = "".join(f"t{i},glm-air,false,0.01,2\nt{i},opus,true,1,2\n" for i in range(40))
    table.write_text(HEADER + rows)
    check = ("--verifier-recall", "0.5", "--verifier-fpr", "0")

    def solved(seed: str) -> str:
        result = run("--outcomes", str(table), "--config", str(EXAMPLE), *check, "--seed", seed)
        assert result.exit_code == 0, result.output
        return next(x for x in result.output.splitlines() if x.startswith("Policy + check"))

    assert solved("1") == solved("1")
    assert len({solved(s) for s in ("1", "2", "3", "4")}) > 1


def test_calls_scale_and_max_calls(tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    args = ("--calls-scale", "glm-air=4", "--max-calls", "160", "--write-outcomes", str(table))
    result = run(*SYNTH, *args, "--output", str(tmp_path / "r.md"))
    assert result.exit_code == 0, result.output
    assert "glm-air ×4, deepseek-chat ×1, sonnet ×1, opus ×1" in result.output
    assert "within 1 … 160" in result.output
    rows = [line.split(",") for line in table.read_text().splitlines()[1:]]
    longest = max(int(r[4]) for r in rows if r[1] == "glm-air")
    assert longest > 40
    assert "--calls-scale glm-air=4 --max-calls 160" in (tmp_path / "r.md").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--verifier-recall", "1.5", "--verifier-fpr", "0"),
            "Invalid value for '--verifier-recall'",
        ),
        (
            ("--verifier-recall", "0.5", "--verifier-fpr", "-0.1"),
            "Invalid value for '--verifier-fpr'",
        ),
        (("--verifier-recall", "0.5", "--verifier-fpr", "x"), "Invalid value for '--verifier-fpr'"),
        (
            ("--verifier-recall", "0.5", "--verifier-recall", "0.9", "--verifier-fpr", "0"),
            "the same number of times (one output check per pair, by position): got 2 and 1",
        ),
        (("--verifier-recall", "0.5"), "got 1 and 0"),
        (("--no-step-escalation",), "--no-step-escalation needs an output check"),
        (("--calls-scale", "glm-air"), "Invalid value for '--calls-scale': expected MODEL=FACTOR"),
        (("--calls-scale", "glm-air=0"), "with a factor > 0, got 'glm-air=0'"),
        (("--calls-scale", "=2"), "expected MODEL=FACTOR"),
        (("--max-calls", "0"), "Invalid value for '--max-calls'"),
    ],
)
def test_usage_errors_name_the_flag(args: tuple[str, ...], message: str) -> None:
    result = run(*SYNTH, *args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_calls_scale_for_an_unknown_model_names_it() -> None:
    result = run(*SYNTH, "--calls-scale", "gpt=2")
    assert result.exit_code == 2
    assert "calls_scale.gpt: not a model of the config's tiers" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--calls-scale", "glm-air=2"), "--calls-scale needs --synthetic"),
        (("--max-calls", "80"), "--max-calls needs --synthetic"),
        (("--seed", "3"), "--seed needs --synthetic or an output check"),
    ],
)
def test_synthetic_options_need_synthetic(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    table = tmp_path / "runs.csv"
    table.write_text(HEADER + "a,glm-air,true,0.1,2\n")
    result = run("--outcomes", str(table), "--config", str(EXAMPLE), *args)
    assert result.exit_code == 2
    assert message in result.output


def test_seed_with_outcomes_and_a_check_is_accepted(tmp_path: Path) -> None:
    table = tmp_path / "runs.csv"
    table.write_text(HEADER + "a,glm-air,false,0.1,2\na,opus,true,3.0,2\n")
    check = ("--verifier-recall", "1", "--verifier-fpr", "0", "--seed", "9")
    result = run("--outcomes", str(table), "--config", str(EXAMPLE), *check)
    assert result.exit_code == 0, result.output
    # glm-air's failed run ends within its budget: rejected, paid in full, opus solves it
    assert "Policy + check R=1 F=0: 1/1 solved for $3.1000" in result.output


def test_the_plot_marks_each_checks_policy_point(tmp_path: Path) -> None:
    check = ("--verifier-recall", "0.8", "--verifier-fpr", "0.1")
    result = run(*SYNTH, *check, "--plot", str(tmp_path / "p.png"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
