"""Rebooking tasks for many sessions of the demo's agent on the simulator's airline scenario:
what the end-to-end calibration test (tests/e2e_loop.py) and the shadow-routing benchmark
(benchmarks/shadow.py) run.

A task is *easy* when the reservation the application's ``get_reservation`` returns is an
``economy`` fare (any model rebooks it: read, search, update, confirm, answer) and *hard* when
it is ``basic_economy`` (only a model of skill 2 asks for the upgrade that works). Which tasks
are hard is drawn per task from a seed, so the same draw gives every router compared the same
tasks.

The agent is the demo's loop (:mod:`agentroute.demo`) without its follow-up questions and its
application-side escalation: ``router.complete`` with the scenario's tools, run the tool calls,
until the model answers in text (or ``max_steps``); the outcome is the scenario's own check
(:func:`agentroute.sim.scenario.rebooked`), recorded inside the session so its routing-log line
carries it.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agentroute.clock import SystemClock
from agentroute.demo import assistant_message
from agentroute.router import Router
from agentroute.session import Session
from agentroute.sim.scenario import SYSTEM_PROMPT, TOOLS, USER_REQUEST, rebooked, run_tool

__all__ = ["Task", "airline_sim", "draw_tasks", "run_task", "tool"]

_now = SystemClock().now  # (time.monotonic itself)


@dataclass(frozen=True, slots=True)
class Task:
    id: str
    hard: bool


def draw_tasks(ids: list[str], *, salt: str, hard_share: float) -> tuple[Task, ...]:
    """A task per id, each hard with probability ``hard_share``, drawn from ``salt``."""
    rng = random.Random(salt)
    return tuple(Task(task_id, rng.random() < hard_share) for task_id in ids)


def airline_sim(wander: int, latency_ms: float = 0.0) -> dict[str, Any]:
    """The simulator's config: ``cheap`` (OpenAI-compatible) and ``claude`` (Anthropic), both
    playing the airline agent, ``small-model`` of skill 0 wandering ``wander`` lookups on a hard
    task, ``big-model`` of skill 2; each answer after ``latency_ms``."""
    scenario = {
        "kind": "airline",
        "skills": {"small-model": 0, "big-model": 2},
        "wander": {"small-model": wander},
    }
    latency = {"base_ms": latency_ms}
    return {
        "instances": {
            "cheap": {"kind": "openai", "scenario": scenario, "latency": latency},
            "claude": {
                "kind": "anthropic",
                "context_window": 200_000,
                "scenario": scenario,
                "latency": latency,
            },
        }
    }


def tool(task: Task, name: str, arguments: Mapping[str, Any]) -> str:
    """The application's tools: the scenario's, with an easy task's reservation in economy."""
    out = run_tool(name, arguments)
    if name == "get_reservation" and not task.hard:
        return json.dumps({**json.loads(out), "cabin": "economy"})
    return out


async def run_task(
    router: Router, task: Task, *, max_steps: int, latencies: list[float] | None = None
) -> tuple[bool, Session]:
    """One task as one session of ``router``: whether it was solved, and the (ended) session;
    each model call's latency appended to ``latencies`` when given."""
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": USER_REQUEST},
    ]
    async with router.session(id=task.id, agent="support") as session:
        for _ in range(max_steps):
            start = _now()
            result = await router.complete(messages, tools=TOOLS)
            if latencies is not None:
                latencies.append(_now() - start)
            messages.append(assistant_message(result))
            if not result.tool_calls:
                break
            for tc in result.tool_calls:
                output = tool(task, tc.name, json.loads(tc.arguments))
                messages.append({"role": "tool", "tool_call_id": tc.id, "content": output})
        solved = rebooked(messages)
        session.record_outcome(success=solved)
    return solved, session
