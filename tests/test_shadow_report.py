"""``agentroute report`` on shadow data: a step's ``shadow`` field and late ``shadow`` lines
joined to their session's steps (counted once), the per-tier-and-cause agreement table and the
steps that disagreed most (exact figures on a hand-built log), 80 columns, ``--json``, and a
log without shadow data."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from rich.console import Console

from agentroute.bench.routing_report import read_routing_logs
from agentroute.bench.routing_report_cli import print_report
from agentroute.cli import main
from tests.test_routing_report import session, step, write

A, C = "simple", "complex"


def shadow(
    agreement: float | None,
    *,
    tier: str = A,
    cause: str | None = "score",
    reason: str = "same tool calls",
    cost: float = 0.01,
) -> dict[str, Any]:
    return {
        "served_tier": tier,
        "served_model": "m",
        "cause": cause,
        "reference_tier": C,
        "reference_model": "big",
        "agreement": agreement,
        "reason": reason,
        "judge": False,
        "cost_usd": cost,
        "error_type": None if agreement is not None else "ProviderTimeout",
    }


def shadowed(n: int, tier: str | None, previous: str | None, record: dict[str, Any] | None,
             **kw: Any) -> dict[str, Any]:  # fmt: skip
    made = step(n, tier, previous, 0.01, **kw)
    if record is not None:
        made["shadow"] = record
    return made


def shadow_line(
    record: str, target: str | None, n: int, data: dict[str, Any], session_id: str = ""
) -> dict[str, Any]:
    return {
        "schema": 1,
        "kind": "shadow",
        "record_id": record,
        "session_id": session_id or f"s-{target}",
        "session_record": target,
        "step": n,
        "shadow": data,
    }


def shadow_log(path: Path) -> Path:
    """r1: three steps on simple, two shadowed on the line (1.0 at start, 0.2 at score), one
    late (0.0, as a shadow line); r2: a failed shadow call (null) and an escalation_request
    step on complex; a shadow line repeating r1's step 2 (not counted twice); a shadow line
    for a session not in the log (counted by its own tier and cause)."""
    return write(
        path,
        session(
            "r1",
            [
                shadowed(1, A, None, shadow(1.0, cause="start")),
                shadowed(2, A, A, shadow(0.2, reason="tool update_reservation: args cabin")),
                shadowed(3, A, A, None),
            ],
        ),
        session(
            "r2",
            [
                shadowed(1, A, None, shadow(None, cause="start", cost=0.0)),
                shadowed(
                    2,
                    C,
                    A,
                    shadow(0.9, tier=C, cause="escalation_request"),
                    cause="escalation_request",
                ),
            ],
        ),
        shadow_line("x1", "r1", 3, shadow(0.0, reason="text vs tool call search_flights")),
        shadow_line("x2", "r1", 2, shadow(0.3)),  # r1's step 2 again: the first read is kept
        shadow_line("x3", "gone", 4, shadow(0.6, cost=0.02), session_id="s-gone"),
    )


def test_shadow_rows_per_tier_and_cause(tmp_path: Path) -> None:
    r = read_routing_logs([str(shadow_log(tmp_path / "log.jsonl"))])
    assert r.shadow_lines == 3
    assert r.shadow_unjoined == 1
    rows = {(row.tier, row.cause): row for row in r.shadow}
    assert [(row.tier, row.cause) for row in r.shadow] == [
        (A, "score"),
        (A, "start"),
        (C, "escalation_request"),
    ]
    score = rows[A, "score"]  # r1 step 2 (0.2), r1 step 3 (0.0, late), gone step 4 (0.6)
    assert (score.shadowed, score.failed) == (3, 0)
    assert abs((score.mean_agreement or 0) - 0.8 / 3) < 1e-9
    assert abs((score.below_share or 0) - 2 / 3) < 1e-9
    assert abs(score.cost_usd - 0.04) < 1e-9
    start = rows[A, "start"]  # r1 step 1 (1.0), r2 step 1 (failed)
    assert (start.shadowed, start.failed, start.mean_agreement, start.below_share) == (
        2, 1, 1.0, 0.0,
    )  # fmt: skip
    assert [(s.session_id, s.step, s.agreement) for s in r.shadow_worst] == [
        ("s-r1", 3, 0.0),
        ("s-r1", 2, 0.2),
        ("s-gone", 4, 0.6),
        ("s-r2", 2, 0.9),
        ("s-r1", 1, 1.0),
    ]
    assert r.shadow_worst[1].reason == "tool update_reservation: args cabin"
    assert (r.shadow_worst[0].served_tier, r.shadow_worst[0].reference_tier) == (A, C)
    # the rest of the report is as without shadow data
    assert (r.sessions, r.calls, r.escalations) == (2, 5, 1)


def test_shadow_section_printed_at_80_columns(tmp_path: Path) -> None:
    r = read_routing_logs([str(shadow_log(tmp_path / "log.jsonl"))])
    console = Console(width=80, record=True, file=io.StringIO())
    print_report(console, r)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    section = text[text.index("Shadow agreement") :]
    flat = " ".join(section.split())
    assert "Shadow agreement: 6 shadowed steps (3 from shadow lines, 1 of them for" in flat
    assert "simple score 3 0.27 67% 0 0.0400" in flat
    assert "simple start 2 1.00 0% 1 0.0100" in flat
    assert "complex escalation_request 1 0.90 0% 0 0.0100" in flat
    assert "Steps that disagreed most" in flat
    assert "s-r1 3 simple → complex 0.00 text vs tool call search_flights" in flat


def test_no_shadow_data(tmp_path: Path) -> None:
    log = write(tmp_path / "plain.jsonl", session("r", [step(1, A, None, 0.01)]))
    out = CliRunner().invoke(main, ["report", str(log), "--quiet"], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert out.output.rstrip().endswith("Shadow agreement: no shadowed steps")
    data = json.loads(
        CliRunner().invoke(main, ["report", str(log), "--json"], catch_exceptions=False).output
    )
    assert (data["shadow"], data["shadow_worst"], data["shadow_lines"]) == ([], [], 0)


def test_shadow_in_json(tmp_path: Path) -> None:
    log = shadow_log(tmp_path / "log.jsonl")
    out = CliRunner().invoke(main, ["report", str(log), "--json"], catch_exceptions=False)
    data = json.loads(out.output)
    assert data["shadow"][1] == {
        "tier": A,
        "cause": "start",
        "shadowed": 2,
        "failed": 1,
        "mean_agreement": 1.0,
        "below_share": 0.0,
        "cost_usd": 0.01,
    }
    assert data["shadow_worst"][0]["session_id"] == "s-r1"
    assert (data["shadow_lines"], data["shadow_unjoined"]) == (3, 1)


def test_a_bad_shadow_line_names_its_field(tmp_path: Path) -> None:
    line = shadow_line("x", "r", 1, shadow(0.5))
    line["shadow"]["agreement"] = 1.5
    log = tmp_path / "bad.jsonl"
    log.write_text(json.dumps(line) + "\n", encoding="utf-8")
    out = CliRunner().invoke(main, ["report", str(log)])
    assert out.exit_code == 2
    assert f"{log}:1: shadow.agreement:" in " ".join(out.output.split())
