"""Hand-built routing-log lines (schema v1) for the tests of ``log_table``, ``calibrate --log``
and ``bench cascade --log``: every line written is validated against the schema first."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agentroute.bench.cascade import TaskRun
from agentroute.telemetry.routing_log_schema import RoutingLogLine

T0 = 1_790_000_000.0
TOKENS = {"input": 100, "cached": 0, "cache_write": 0, "output": 10}
TIER = {"small": "simple", "mid": "medium", "big": "complex"}

STEP_WEIGHT = 0.02
"""The default ``policy.weights.step``: a step's default logged share is ``0.02 × step``."""

Step = tuple[str | None, float] | tuple[str | None, float, dict[str, float]]
"""(model, cost_usd) of one step, optionally with its logged ``contributions`` (default:
``{"step": STEP_WEIGHT × step}``, the default policy's); the tier is the model's in
tests.helpers.config_dict."""


def outcome(success: bool | None, *, score: float | None = None, at: float = T0) -> dict[str, Any]:
    return {"success": success, "score": score, "label": "x", "recorded_at": at}


def session(
    record: str, steps: Sequence[Step], out: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A session line whose steps are served by the given models at the given costs."""
    made, previous = [], None
    for n, step in enumerate(steps, start=1):
        model, cost = step[0], step[1]
        shares = step[2] if len(step) == 3 else {"step": STEP_WEIGHT * n}
        tier = TIER.get(model or "", "simple")
        made.append(
            {
                "step": n,
                "time": T0 + n,
                "tier": tier,
                "previous_tier": previous,
                "model": model,
                "deployment": None if model is None else f"p/{model}",
                "cause": "start" if n == 1 else "score",
                "score": sum(shares.values()),
                "contributions": shares,
                "tokens": TOKENS,
                "cost_usd": cost,
                "attempts": [],
                "tool_errors": 0,
                "tool_errors_total": 0,
                "error_type": None,
            }
        )
        previous = tier
    reached = list(dict.fromkeys(s["tier"] for s in made))
    return {
        "schema": 1,
        "kind": "session",
        "record_id": record,
        "session_id": f"s-{record}",
        "agent": None,
        "user": None,
        "explicit": True,
        "started_at": T0,
        "ended_at": T0 + 100,
        "end_reason": "exit",
        "start_tier": reached[0] if reached else None,
        "highest_tier": max(reached, key=list(TIER.values()).index) if reached else None,
        "tiers_reached": reached,
        "step_count": len(made),
        "total_cost_usd": sum(s["cost_usd"] for s in made),
        "tokens": TOKENS,
        "outcome": out,
        "steps": made,
    }


def outcome_line(record: str, target: str | None, out: dict[str, Any]) -> dict[str, Any]:
    return {
        "schema": 1,
        "kind": "outcome",
        "record_id": record,
        "session_id": f"s-{target}",
        "session_known": target is not None,
        "session_record": target,
        "agent": None,
        "start_tier": None,
        "highest_tier": None,
        "outcome": out,
    }


def from_runs(runs: Sequence[TaskRun]) -> list[dict[str, Any]]:
    """One session line per replayed task: each leg's calls as steps of its model (the leg's
    cost spread evenly), the task's result as the outcome — a log a router could have written
    routing those tasks with the replayed schedule."""
    lines = []
    for run in runs:
        steps: list[Step] = [
            (leg.model, leg.cost_usd / leg.calls) for leg in run.legs for _ in range(leg.calls)
        ]
        if steps:
            lines.append(session(run.task_id, steps, outcome(run.solved)))
    return lines


def write_log(path: Path, lines: Sequence[dict[str, Any]]) -> Path:
    """Write the lines as JSONL, each validated against the schema first."""
    for line in lines:
        RoutingLogLine.validate_python(line)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path
