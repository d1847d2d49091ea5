"""The demo agent run for many sessions on the simulator, each session's outcome recorded: the
traffic the end-to-end calibration test (tests/test_calibrate_e2e.py) logs and measures.

**The tasks** (drawn, and run by the agent's loop, with :mod:`agentroute.sim.airline_tasks`).
Each session is one airline rebooking task (:mod:`agentroute.sim.scenario`);
a task is *easy* when the reservation the application's ``get_reservation`` returns is an
``economy`` fare (any model rebooks it in 5 calls: read, search, update, confirm, answer) and
*hard* when it is ``basic_economy`` (only the strong model, skill 2, asks for the upgrade that
works). Which tasks are hard is drawn per task from a seed, so the same ``(n, seed)`` give the
same tasks to every router the test compares.

**The ladder** (:func:`router_data`): ``small-model`` (skill 0) on an OpenAI-compatible
instance, ``big-model`` (skill 2) on an Anthropic one, the default policy with default
weights and thresholds. The simulator's ``wander`` makes the cheap model fail a hard task
*quietly*: it reads the fare rules with ``get_policy`` on :data:`WANDER` distinct topics, then
answers without changing anything — no tool error, no repeated call, so only the step signal
can move the session up. The default policy leaves the cheap tier after about 14 calls, long
after an easy task is done: that is what calibration has to learn.

**The agent** is the demo's loop (:mod:`agentroute.demo`) without its follow-up questions and
its application-side escalation: ``router.complete`` with the scenario's tools, run the tool
calls, until the model answers in text (or :data:`MAX_STEPS`). The outcome is the scenario's
own success check (:func:`agentroute.sim.scenario.rebooked`), recorded with
``session.record_outcome(success=...)`` inside the session, so its routing-log line carries it.
Sessions run concurrently (at most :data:`PARALLEL` at a time) in one task group.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from agentroute import Router
from agentroute.config import RouterConfig
from agentroute.sim.airline_tasks import Task, airline_sim, draw_tasks, run_task
from tests.helpers import frameworks_config

__all__ = [
    "MAX_STEPS",
    "PARALLEL",
    "WANDER",
    "Measured",
    "Task",
    "make_tasks",
    "router_data",
    "run_sessions",
    "sim_data",
]

WANDER = 20
"""``get_policy`` lookups the cheap model makes on a hard task before giving up: its failed
run (23 calls) outlasts the default policy's stay on the cheap tier."""
MAX_STEPS = 40
"""A session that has not answered by then is cut off (unsolved); none gets near it."""
PARALLEL = 8
"""Sessions in flight at once."""


@dataclass(frozen=True, slots=True)
class Measured:
    """What one router did over the tasks: sessions solved and their total cost."""

    sessions: int
    solved: int
    cost_usd: float
    calls: int


def make_tasks(n: int, *, seed: int, hard_share: float) -> tuple[Task, ...]:
    """``n`` tasks, each hard with probability ``hard_share`` (drawn from ``seed``)."""
    ids = [f"task-{i:03d}" for i in range(n)]
    return draw_tasks(ids, salt=f"e2e-tasks/{seed}", hard_share=hard_share)


def sim_data() -> dict[str, Any]:
    """The simulator: both instances play the airline agent; the cheap model wanders."""
    return airline_sim(WANDER)


def router_data(sim_url: str) -> dict[str, Any]:
    """The framework tests' two tiers over the simulator, with the default policy (weights,
    thresholds) untouched."""
    data = frameworks_config(sim_url)
    data["policy"] = {"start_tier": "simple"}
    return data


async def _session(router: Router, task: Task) -> tuple[bool, float, int]:
    solved, session = await run_task(router, task, max_steps=MAX_STEPS)
    return solved, session.cost_usd, session.step


async def run_sessions(
    config: RouterConfig, tasks: Sequence[Task], routing_log: Path | None = None
) -> Measured:
    """Run every task as one session through a router on ``config`` (writing ``routing_log``
    when given; the router is closed before returning, so the log is complete)."""
    results: dict[str, tuple[bool, float, int]] = {}
    limit = anyio.Semaphore(PARALLEL)

    async def one(router: Router, task: Task) -> None:
        async with limit:
            results[task.id] = await _session(router, task)

    async with Router(config, routing_log=routing_log) as router, anyio.create_task_group() as tg:
        for task in tasks:
            tg.start_soon(one, router, task)
    return Measured(
        sessions=len(results),
        solved=sum(ok for ok, _, _ in results.values()),
        cost_usd=sum(cost for _, cost, _ in results.values()),
        calls=sum(steps for _, _, steps in results.values()),
    )
