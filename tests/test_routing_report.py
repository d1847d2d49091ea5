"""``agentroute report``: routing logs read, joined and tabled (exact figures on hand-built
logs), bad input named by file:line:field, 80 columns, ``--json``, ``--plot``, and a log that a
real Router wrote."""

from __future__ import annotations

import gzip
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from rich.console import Console

from agentroute import ConfigurationError, Router, Usage
from agentroute.bench.routing_report import expand_inputs, read_routing_logs
from agentroute.bench.routing_report_cli import print_report
from agentroute.cli import main
from agentroute.telemetry.routing_log_schema import RoutingLogLine
from agentroute.testing import FakeClock, ScriptedProvider, text_result
from tests.helpers import config_dict
from tests.log_builder import outcome_line

DAY0 = 1_790_000_000.0  # 2026-09-21 UTC (a day starts at 1_789_948_800)
TOKENS = {"input": 100, "cached": 0, "cache_write": 0, "output": 10}


def step(
    n: int,
    tier: str | None,
    previous: str | None,
    cost: float,
    *,
    cause: str = "score",
    contributions: dict[str, float] | None = None,
    time: float = DAY0,
) -> dict[str, Any]:
    return {
        "step": n,
        "time": time,
        "tier": tier,
        "previous_tier": previous,
        "model": "m",
        "deployment": "p/m",
        "cause": cause if n > 1 else "start",
        "score": 0.1,
        "contributions": contributions or {},
        "tokens": TOKENS,
        "cost_usd": cost,
        "attempts": [],
        "tool_errors": 0,
        "tool_errors_total": 0,
        "error_type": None,
    }


def outcome(success: bool | None, at: float, score: float | None = None) -> dict[str, Any]:
    return {"success": success, "score": score, "label": None, "recorded_at": at}


def session(
    record: str, steps: list[dict[str, Any]], out: dict[str, Any] | None = None, **over: Any
) -> dict[str, Any]:
    tiers = [s["tier"] for s in steps if s["tier"]]
    reached = list(dict.fromkeys(tiers))
    line = {
        "schema": 1,
        "kind": "session",
        "record_id": record,
        "session_id": f"s-{record}",
        "agent": None,
        "user": None,
        "explicit": True,
        "started_at": DAY0,
        "ended_at": DAY0 + 10,
        "end_reason": "exit",
        "start_tier": tiers[0] if tiers else None,
        "highest_tier": over.pop("highest", reached[-1] if reached else None),
        "tiers_reached": reached,
        "step_count": len(steps),
        "total_cost_usd": sum(s["cost_usd"] for s in steps),
        "tokens": TOKENS,
        "outcome": out,
        "steps": steps,
    }
    line.update(over)
    return line


def write(path: Path, *lines: dict[str, Any]) -> Path:
    for line in lines:  # the hand-built lines are valid schema v1
        RoutingLogLine.validate_python(line)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


A, B, C = "simple", "medium", "complex"


def weekly_log(path: Path) -> Path:
    """Four sessions, three outcome lines (a later one, an older one, one for an unknown
    session, one for a session not in the log)."""
    tool = {"tool_errors_recent": 0.3, "step": 0.1}
    return write(
        path,
        # r1: stays on simple, solved on its line
        session("r1", [step(1, A, None, 0.01), step(2, A, A, 0.01)], outcome(True, DAY0 + 20)),
        # r2: simple → medium (score, tool errors dominate) → complex (escalation_request),
        # failed on its line, then an outcome line corrects it to solved (later)
        session(
            "r2",
            [
                step(1, A, None, 0.01),
                step(2, B, A, 0.1, contributions=tool),
                step(3, C, B, 1.0, cause="escalation_request", time=DAY0 + 86_400),
            ],
            outcome(False, DAY0 + 20),
        ),
        # r3: simple → medium → simple (a step-down), failed; an older outcome line loses
        session(
            "r3",
            [
                step(1, A, None, 0.01),
                step(2, B, A, 0.1, cause="escalation_request"),
                step(3, A, B, 0.01, cause="score"),
            ],
            outcome(False, DAY0 + 50),
            highest=B,
        ),
        # r4: no outcome, one step with no recorded tier
        session("r4", [step(1, A, None, 0.01), step(2, None, A, 0.0)]),
        outcome_line("o1", "r2", outcome(True, DAY0 + 30)),
        outcome_line("o2", "r3", outcome(True, DAY0 + 40)),
        outcome_line("o3", None, outcome(True, DAY0 + 60)),
        outcome_line("o4", "gone", outcome(False, DAY0 + 60)),
    )


def test_the_weekly_figures_are_exact(tmp_path: Path) -> None:
    r = read_routing_logs([str(weekly_log(tmp_path / "log.jsonl"))])
    assert (r.lines, r.sessions, r.calls) == (8, 4, 10)
    assert r.cost_usd == pytest.approx(1.26)
    assert [t.tier for t in r.tiers] == [A, B, C, "?"]
    tiers = {t.tier: t for t in r.tiers}
    assert (tiers[A].calls, tiers[B].calls, tiers[C].calls, tiers["?"].calls) == (6, 2, 1, 1)
    assert tiers[A].cost_usd == pytest.approx(0.06) and tiers[C].cost_usd == pytest.approx(1.0)
    assert (tiers[A].sessions_reached, tiers[B].sessions_reached) == (4, 2)
    assert (tiers[A].sessions_highest, tiers[B].sessions_highest, tiers[C].sessions_highest) == (
        2,
        1,
        1,
    )
    # r1 solved (simple); r3 failed (medium: the older outcome line lost); r2 solved (complex)
    assert (tiers[A].judged, tiers[A].solved) == (1, 1)
    assert (tiers[B].judged, tiers[B].solved) == (1, 0)
    assert (tiers[C].judged, tiers[C].solved) == (1, 1)
    assert (r.escalations, r.step_downs) == (3, 1)
    causes = {c.cause: c for c in r.causes}
    assert causes["escalation_request"].escalations == 2
    assert causes["escalation_request"].share == pytest.approx(2 / 3)
    assert causes["score:tool_errors_recent"].escalations == 1
    assert (causes["escalation_request"].sessions, causes["escalation_request"].solved) == (2, 1)
    assert (causes["(no escalation)"].sessions, causes["(no escalation)"].judged) == (2, 1)
    assert r.causes[0].cause == "escalation_request" and r.causes[-1].cause == "(no escalation)"
    assert dict(r.switches) == {"0": 2, "1": 0, "2": 2, "3": 0, "4+": 0}
    assert (r.with_outcome, r.without_outcome, r.judged, r.solved) == (3, 1, 3, 2)
    assert (r.escalated_failed, r.escalated_failed_ids) == (1, ("s-r3",))
    assert (r.outcome_lines, r.unknown_session_outcomes, r.orphan_outcomes) == (4, 1, 1)
    days = {(d.day, d.tier): d.cost_usd for d in r.days}
    assert days[("2026-09-22", C)] == pytest.approx(1.0)
    assert days[("2026-09-21", B)] == pytest.approx(0.2)


def test_a_score_only_outcome_and_a_label_only_one(tmp_path: Path) -> None:
    log = write(
        tmp_path / "l.jsonl",
        session("a", [step(1, A, None, 0.1)], outcome(None, DAY0, score=0.5)),
        session("b", [step(1, A, None, 0.1)], outcome(None, DAY0, score=0.2)),
        session("c", [step(1, A, None, 0.1)], {**outcome(None, DAY0), "label": "x"}),
    )
    r = read_routing_logs([str(log)])
    assert (r.with_outcome, r.judged, r.solved, r.no_verdict) == (3, 2, 1, 1)


def test_an_outcome_line_read_before_its_session_still_joins(tmp_path: Path) -> None:
    first = write(tmp_path / "a.jsonl", outcome_line("o", "r", outcome(True, DAY0 + 9)))
    second = write(tmp_path / "b.jsonl", session("r", [step(1, A, None, 0.1)]))
    r = read_routing_logs(expand_inputs([str(tmp_path / "*.jsonl")]))
    assert r.files == (str(first), str(second))
    assert (r.solved, r.orphan_outcomes, r.without_outcome) == (1, 0, 0)


def test_a_repeated_session_line_is_counted_once(tmp_path: Path) -> None:
    line = session("r", [step(1, A, None, 0.1)])
    r = read_routing_logs([str(write(tmp_path / "l.jsonl", line, line))])
    assert (r.sessions, r.duplicate_sessions, r.calls) == (1, 1, 1)


def test_gzip_and_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = weekly_log(tmp_path / "log.jsonl").read_bytes()
    (tmp_path / "log.jsonl.gz").write_bytes(gzip.compress(text))
    assert read_routing_logs([str(tmp_path / "log.jsonl.gz")]).calls == 10
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text)))
    r = read_routing_logs(["-"])
    assert (r.calls, r.files) == (10, ("<stdin>",))


# Bad input


def test_a_bad_field_is_named_with_file_and_line(tmp_path: Path) -> None:
    good = session("r", [step(1, A, None, 0.1)])
    bad = session("s", [step(1, A, None, 0.1), step(2, A, A, -1.0)], total_cost_usd=0.1)
    log = write(tmp_path / "l.jsonl", good)
    with log.open("a") as f:
        f.write(json.dumps(bad) + "\n")
    with pytest.raises(ConfigurationError) as info:
        read_routing_logs([str(log)])
    assert str(info.value).startswith(f"{log}:2: steps.1.cost_usd: ")
    r = read_routing_logs([str(log)], skip_bad=True)
    assert (r.sessions, r.bad_lines) == (1, 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("not json\n", ":1: not a JSON object"),
        ('{"schema": 1, "kind": "nope"}\n', ":1: kind: "),
        ('{"schema": 1, "kind": "outcome"}\n', ":1: record_id: Field required"),
    ],
)
def test_malformed_lines(tmp_path: Path, text: str, expected: str) -> None:
    log = tmp_path / "l.jsonl"
    log.write_text(text)
    with pytest.raises(ConfigurationError, match=expected):
        read_routing_logs([str(log)])


def test_a_newer_schema_is_refused_even_with_skip_bad(tmp_path: Path) -> None:
    log = tmp_path / "l.jsonl"
    log.write_text(json.dumps({**session("r", [step(1, A, None, 0.1)]), "schema": 2}) + "\n")
    with pytest.raises(ConfigurationError, match=r"l.jsonl:1: schema: 2 is newer .* \(1\)"):
        read_routing_logs([str(log)], skip_bad=True)


def test_missing_inputs_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="no file matches"):
        expand_inputs([str(tmp_path / "*.jsonl")])
    with pytest.raises(ConfigurationError, match="no such file"):
        expand_inputs([str(tmp_path / "x.jsonl")])


# Rendering and the command


def test_every_line_fits_80_columns(tmp_path: Path) -> None:
    r = read_routing_logs([str(weekly_log(tmp_path / "log.jsonl"))])
    console = Console(width=80, record=True, file=io.StringIO())
    print_report(console, r)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "score:tool_errors_recent" in text and "e.g. s-r3" in text
    assert "1 have none (left out of every solved rate)" in text


def run(*args: str) -> Any:
    return CliRunner().invoke(main, ["report", *args], catch_exceptions=False)


def test_cli_tables_and_json(tmp_path: Path) -> None:
    log = str(weekly_log(tmp_path / "log.jsonl"))
    shown = run(log)
    assert shown.exit_code == 0, shown.output
    assert "Escalations: 3 (step-downs: 1)" in shown.output
    as_json = run(log, "--json", "--quiet")
    data = json.loads(as_json.output)
    assert data["schema"] == 1 and data["sessions"] == 4
    assert data["switches"] == {"0": 2, "1": 0, "2": 2, "3": 0, "4+": 0}
    assert data["tiers"][0] == {
        "tier": A,
        "calls": 6,
        "cost_usd": pytest.approx(0.06),
        "sessions_reached": 4,
        "sessions_highest": 2,
        "cost_usd_highest": pytest.approx(0.03),
        "judged": 1,
        "solved": 1,
    }


def test_cli_bad_input_exits_2_with_the_place(tmp_path: Path) -> None:
    log = tmp_path / "l.jsonl"
    log.write_text("[]\n")
    result = CliRunner().invoke(main, ["report", str(log)])
    assert result.exit_code == 2
    assert f"{log}:1:" in result.output


def test_cli_plot(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")  # the bench extra; installed in the dev environment
    out = tmp_path / "p.png"
    result = run(str(weekly_log(tmp_path / "log.jsonl")), "--plot", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_plot_without_matplotlib_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    out = tmp_path / "p.png"
    result = run(str(weekly_log(tmp_path / "log.jsonl")), "--plot", str(out))
    assert result.exit_code == 0 and "pip install 'agentroute[bench]'" in result.output
    assert not out.exists()


# What a real Router writes


@pytest.mark.anyio
async def test_the_report_reads_what_the_router_writes(tmp_path: Path) -> None:
    path = tmp_path / "routing.jsonl"
    provider = ScriptedProvider(default=text_result("ok", Usage(1000, 20, cache_read_tokens=600)))
    router = Router(
        config_dict(),
        providers={"alpha": provider, "beta": provider},
        routing_log=str(path),
        clock=FakeClock(),
    )
    messages = [{"role": "user", "content": "hi"}]
    async with router:
        async with router.session(id="calm") as s:
            await router.complete(messages)
            s.record_outcome(success=True)
        async with router.session(id="hard") as s:
            await router.complete(messages)
            s.escalate("test")
            await router.complete(messages)
        async with router.session(id="quiet"):
            await router.complete(messages)
        await router.record_outcome("hard", success=False)
    r = read_routing_logs([str(path)])
    assert (r.sessions, r.calls, r.outcome_lines) == (3, 4, 1)
    assert [(t.tier, t.calls) for t in r.tiers] == [("simple", 3), ("medium", 1)]
    assert (r.causes[0].cause, r.causes[0].escalations) == ("escalation_request", 1)
    assert (r.solved, r.judged, r.without_outcome) == (1, 2, 1)
    assert r.escalated_failed_ids == ("hard",)
    assert r.cost_usd == pytest.approx(sum(t.cost_usd for t in r.tiers)) and r.cost_usd > 0
