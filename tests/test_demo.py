"""The demo's session, checked row by row: climb, fallback, escalation, hold, step-down,
pins."""

from __future__ import annotations

import pytest

from agentroute.demo import run_demo

pytestmark = pytest.mark.anyio


async def test_demo_session_behaves_as_described() -> None:
    report = await run_demo()
    rows = report.rows
    by_step = {r.step: r for r in rows}
    assert report.solved
    assert [r.step for r in rows] == list(range(1, len(rows) + 1))
    assert [r.tier for r in rows[:3]] == ["simple"] * 3
    # the first tool error lifts the score over the medium threshold: climb at once
    assert (by_step[4].tier, by_step[4].cause) == ("medium", "score")
    assert by_step[4].attempts == "fastcloud:503 → fastcloud:503 → backup:ok"
    assert by_step[4].deployment == "backup/mid-v1"
    # two tool errors in a row: the app escalates one tier up
    assert (by_step[5].tier, by_step[5].cause) == ("complex", "escalation_request")
    # calm follow-ups: held during the dwell window, then a step-down that pays
    held = [r for r in rows if r.cause == "hysteresis_hold"]
    assert held and all(r.tier == "complex" for r in held)
    down = next(r for r in rows if r.reason == "step-down pays")
    assert down.tier == "medium" and down.step > held[-1].step
    saving, loss = (float(x.split("$")[1]) for x in down.switch.split(" vs "))
    assert saving > loss > 0
    # while a session stays on one deployment, its prefix cache serves more and more input
    cached = [r.usage.cache_read_tokens for r in rows[:3]]
    assert cached[0] == 0 and 0 < cached[1] <= cached[2]
    # a switch of deployment starts cold; a climb's price is recorded on its decision too
    assert by_step[4].usage.cache_read_tokens == 0
    assert by_step[4].switch.startswith("+$")
    assert "cache loss $" in by_step[5].switch
    # the automatic cache breakpoints: on the pinned Anthropic deployment the cached prefix
    # grows with the conversation (the whole conversation so far, not just the system prompt)
    assert 0 < by_step[6].usage.cache_read_tokens < by_step[7].usage.cache_read_tokens
    # affinity: pins are made, hit while fresh, and broken by a fault (the retry included)
    assert [r.pin for r in rows[:3]] == ["new", "hit", "hit"]
    assert by_step[8].attempts == "bigcloud:529 → bigcloud:529 → backup:ok"
    assert (by_step[8].pin, by_step[8].deployment) == ("break", "backup/large-v1")
    assert "bigcloud/large-v1" in by_step[8].pin_reason
    assert by_step[8].usage.cache_read_tokens == 0  # the new deployment starts cold
    assert by_step[9].pin == "hit" and by_step[9].usage.cache_read_tokens > 0
    # the step-down returns to the deployment mid was pinned to at step 4: its cache is warm
    assert (down.deployment, down.pin) == ("backup/mid-v1", "hit")
    assert down.usage.cache_read_tokens > 0
    assert report.total_cost_usd == pytest.approx(sum(r.cost_usd for r in rows))
    assert report.total_cost_usd < report.top_model_cost_usd
