"""The demo's session, checked row by row: climb, fallback, escalation, hold, step-down,
pins. The demo runs once per backend (asyncio, trio) for the whole module; each test checks one
thing it is described to do."""

from __future__ import annotations

import anyio
import pytest

from agentroute.demo import DemoReport, StepRow, run_demo


@pytest.fixture(scope="module", params=["asyncio", "trio"])
def report(request: pytest.FixtureRequest) -> DemoReport:
    """The demo's report on each backend (a run takes seconds: shared by the checks)."""
    return anyio.run(run_demo, backend=str(request.param))


def by_step(report: DemoReport) -> dict[int, StepRow]:
    return {r.step: r for r in report.rows}


def held(report: DemoReport) -> list[StepRow]:
    """The steps held on their tier during the dwell window."""
    return [r for r in report.rows if r.cause == "hysteresis_hold"]


def step_down(report: DemoReport) -> StepRow:
    return next(r for r in report.rows if r.reason == "step-down pays")


def test_the_agent_solves_the_task(report: DemoReport) -> None:
    assert report.solved


def test_one_row_per_step_numbered_from_one(report: DemoReport) -> None:
    assert [r.step for r in report.rows] == list(range(1, len(report.rows) + 1))


def test_the_session_starts_on_the_simple_tier(report: DemoReport) -> None:
    assert [r.tier for r in report.rows[:3]] == ["simple"] * 3


def test_the_first_tool_error_climbs_to_medium_at_once(report: DemoReport) -> None:
    # the first tool error lifts the score over the medium threshold
    step = by_step(report)[4]
    assert (step.tier, step.cause) == ("medium", "score")


def test_a_503_is_retried_then_falls_back_to_the_backup_deployment(report: DemoReport) -> None:
    step = by_step(report)[4]
    assert step.attempts == "fastcloud:503 → fastcloud:503 → backup:ok"
    assert step.deployment == "backup/mid-v1"


def test_two_tool_errors_in_a_row_escalate_one_tier_up(report: DemoReport) -> None:
    # the app escalates
    step = by_step(report)[5]
    assert (step.tier, step.cause) == ("complex", "escalation_request")


def test_calm_steps_are_held_through_the_dwell_window(report: DemoReport) -> None:
    steps = held(report)
    assert steps and all(r.tier == "complex" for r in steps)


def test_then_a_step_down_that_pays(report: DemoReport) -> None:
    down = step_down(report)
    assert down.tier == "medium" and down.step > held(report)[-1].step
    saving, loss = (float(x.split("$")[1]) for x in down.switch.split(" vs "))
    assert saving > loss > 0


def test_the_prefix_cache_serves_more_while_the_session_stays_on_one_deployment(
    report: DemoReport,
) -> None:
    cached = [r.usage.cache_read_tokens for r in report.rows[:3]]
    assert cached[0] == 0 and 0 < cached[1] <= cached[2]


def test_a_switch_of_deployment_starts_cold_and_its_price_is_recorded(
    report: DemoReport,
) -> None:
    # a climb's price is recorded on its decision too
    steps = by_step(report)
    assert steps[4].usage.cache_read_tokens == 0
    assert steps[4].switch.startswith("+$")
    assert "cache loss $" in steps[5].switch


def test_automatic_breakpoints_grow_the_cached_prefix_with_the_conversation(
    report: DemoReport,
) -> None:
    # on the pinned Anthropic deployment the cached prefix is the whole conversation so far,
    # not just the system prompt
    steps = by_step(report)
    assert 0 < steps[6].usage.cache_read_tokens < steps[7].usage.cache_read_tokens


def test_affinity_pins_are_made_then_hit_while_fresh(report: DemoReport) -> None:
    assert [r.pin for r in report.rows[:3]] == ["new", "hit", "hit"]


def test_a_fault_breaks_the_pin_and_the_new_deployment_starts_cold(report: DemoReport) -> None:
    # the retry included
    steps = by_step(report)
    assert steps[8].attempts == "bigcloud:529 → bigcloud:529 → backup:ok"
    assert (steps[8].pin, steps[8].deployment) == ("break", "backup/large-v1")
    assert "bigcloud/large-v1" in steps[8].pin_reason
    assert steps[8].usage.cache_read_tokens == 0
    assert steps[9].pin == "hit" and steps[9].usage.cache_read_tokens > 0


def test_the_step_down_returns_to_the_deployment_whose_cache_is_warm(
    report: DemoReport,
) -> None:
    # the deployment mid was pinned to at step 4
    down = step_down(report)
    assert (down.deployment, down.pin) == ("backup/mid-v1", "hit")
    assert down.usage.cache_read_tokens > 0


def test_the_total_cost_is_the_sum_of_the_steps_and_below_the_top_model(
    report: DemoReport,
) -> None:
    assert report.total_cost_usd == pytest.approx(sum(r.cost_usd for r in report.rows))
    assert report.total_cost_usd < report.top_model_cost_usd
