"""The demo's session, checked row by row: escalation, fallback, cache growth."""

from __future__ import annotations

import pytest

from agentroute.demo import run_demo

pytestmark = pytest.mark.anyio


async def test_demo_session_behaves_as_described() -> None:
    report = await run_demo()
    rows = report.rows
    assert report.solved
    assert [r.step for r in rows] == list(range(1, len(rows) + 1))
    assert [r.tier for r in rows[:4]] == ["simple"] * 4
    # two tool errors in a row → the app escalates → the next step is one tier up
    assert (rows[4].tier, rows[4].cause) == ("medium", "escalation_request")
    assert rows[4].attempts == "fastcloud:503 → backup:ok"
    assert rows[4].deployment == "backup/mid-v1"
    assert rows[5].tier == "complex"
    # while a session stays on one deployment, its prefix cache serves more and more input
    cached = [r.usage.cache_read_tokens for r in rows[:4]]
    assert cached[0] == 0 and cached[1] > 0 and cached == sorted(cached)
    # a switch of deployment starts cold
    assert rows[4].usage.cache_read_tokens == 0
    assert report.total_cost_usd == pytest.approx(sum(r.cost_usd for r in rows))
    assert report.total_cost_usd < report.top_model_cost_usd
