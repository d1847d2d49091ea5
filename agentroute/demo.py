"""The main job on embedded defaults: one support-agent session routed step by step.

The agent rebooks a flight, then answers two easy follow-up questions
(:mod:`agentroute.sim.scenario`). The simulator (:mod:`agentroute.sim.server`) runs in this
process on a free loopback port and plays three providers (two OpenAI-compatible, one
Anthropic), so every step is a real HTTP call through the built-in providers, yet it needs no
network and no keys. The scored policy climbs when tool errors show up, the application escalates
after two tool errors in a row (``session.escalate``), one deployment answers 503 twice (the
router retries it once, then falls back to the other deployment of the same model), the
session stays pinned to the deployment whose prompt cache is warm until a fault there breaks
the pin, the policy steps back down on the calm follow-ups once the saving beats the cache
loss, and each deployment's prefix cache shows cached input growing while a session stays on
it.
:func:`run_demo` returns one row per step for the CLI to print.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

import yaml
from opentelemetry.trace import TracerProvider

from agentroute._types import Attempt, ModelResult, SwitchCost, Usage
from agentroute.config import RouterConfig
from agentroute.pricing import cost_usd
from agentroute.router import Router
from agentroute.shadow.ledger import ShadowStats
from agentroute.sim.scenario import FOLLOW_UPS, SYSTEM_PROMPT, TOOLS, USER_REQUEST, run_tool
from agentroute.sim.server import run_simulator
from agentroute.testing import CallRecorder

__all__ = [
    "DEMO_CONFIG_YAML",
    "SKILLS",
    "DemoReport",
    "StepRow",
    "assistant_message",
    "demo_config",
    "run_demo",
    "simulator_config",
]

DEMO_CONFIG_YAML = """\
# The demo's embedded config: three providers (served by the simulator), three tiers.
providers:
  fastcloud: {kind: openai, cache_ttl_s: 300}
  bigcloud:  {kind: anthropic, cache_ttl_s: 300}
  backup:    {kind: openai, cache_ttl_s: 300}
models:
  small: {context_window: 128000, price: {input: 0.15, output: 0.60, cache_read: 0.015},
          deployments: [{provider: fastcloud, name: small-v1}]}
  mid:   {context_window: 128000, price: {input: 0.50, output: 2.00, cache_read: 0.05},
          deployments: [{provider: fastcloud, name: mid-v1}, {provider: backup, name: mid-v1}]}
  large: {context_window: 200000,
          price: {input: 3.00, output: 15.00, cache_read: 0.30, cache_write: 3.75},
          deployments: [{provider: bigcloud, name: large-v1}, {provider: backup, name: large-v1}]}
tiers:
  simple: [small]
  medium: [mid]
  complex: [large]
# A support session runs long (expected_steps), so a step-down has time to pay back the cache
# it throws away; a lighter per-step weight than the default keeps long sessions from drifting up.
policy:
  start_tier: simple
  weights: {tool_errors_recent: 0.45, repeated_tool_calls: 0.35, step: 0.01, context_fraction: 0.5}
  dwell_steps: 2
  expected_steps: 20
budget: {max_cost_usd: 1.0, max_steps: 30}
# One retry of a failing deployment (after a short backoff), then its sibling deployment.
resilience: {max_retries: 1, backoff_base_s: 0.05}
telemetry: {log_events: null}  # emitted when the app (here: the CLI) configured structlog
"""

SKILLS = {"small-v1": 0, "mid-v1": 1, "large-v1": 2}


def simulator_config() -> dict[str, Any]:
    """One simulator instance per provider, all playing the airline agent.

    ``fastcloud`` answers its 4th request (the first ``mid-v1`` call) and the retry of it with a
    503; ``bigcloud`` answers its 4th request and the retry with a 529 (overloaded), which
    breaks the session's pin to it.
    """
    scenario = {"kind": "airline", "skills": SKILLS}
    return {
        "instances": {
            "fastcloud": {
                "kind": "openai",
                "scenario": scenario,
                "faults": {"schedule": {4: "unavailable", 5: "unavailable"}},
            },
            "bigcloud": {
                "kind": "anthropic",
                "context_window": 200_000,
                "scenario": scenario,
                "faults": {"schedule": {4: "overloaded", 5: "overloaded"}},
            },
            "backup": {"kind": "openai", "scenario": scenario},
        }
    }


@dataclass(frozen=True, slots=True)
class StepRow:
    step: int
    tier: str
    model: str
    deployment: str
    """The deployment that served the step, ``provider/name``."""
    provider: str
    cause: str
    reason: str
    attempts: str
    usage: Usage
    cost_usd: float
    action: str
    score: float
    switch: str
    pin: str = ""
    """What affinity did: ``new``, ``hit`` or ``break`` (empty for a model without pins)."""
    pin_reason: str = ""


@dataclass(frozen=True, slots=True)
class DemoReport:
    rows: tuple[StepRow, ...]
    total_cost_usd: float
    top_model: str
    top_model_cost_usd: float
    usage: Usage
    solved: bool
    shadow: ShadowStats | None = None
    """What shadow routing did (``run_demo(shadow=...)``); ``None``: off."""


def demo_config(
    base_urls: dict[str, str] | None = None, *, shadow: float | None = None
) -> RouterConfig:
    """The embedded config, with each provider's ``base_url`` pointed at the simulator;
    ``shadow``: shadow routing on, sampling this share of the steps served below the top tier
    against it."""
    data = yaml.safe_load(DEMO_CONFIG_YAML)
    for name, url in (base_urls or {}).items():
        data["providers"][name]["base_url"] = url
    if shadow is not None:
        data["shadow"] = {"sample": shadow, "tier": list(data["tiers"])[-1]}
    return RouterConfig.from_mapping(data, source="demo config")


def assistant_message(result: ModelResult) -> dict[str, Any]:
    """The model's turn as an OpenAI Chat assistant message: its text, or its tool calls."""
    if not result.tool_calls:
        return {"role": "assistant", "content": result.text}
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": tc.id,
                "type": "function",
                "function": {"name": tc.name, "arguments": tc.arguments},
            }
            for tc in result.tool_calls
        ],
    }


def _action(result: ModelResult, messages: list[dict[str, Any]]) -> tuple[str, int]:
    """Run the tools the model asked for; append the turn; return (summary, errors)."""
    messages.append(assistant_message(result))
    if not result.tool_calls:
        return f"answer: {result.text}", 0
    summary, errors = [], 0
    for tc in result.tool_calls:
        output = run_tool(tc.name, json.loads(tc.arguments))
        messages.append({"role": "tool", "tool_call_id": tc.id, "content": output})
        failed = output.startswith("Error")
        errors += failed
        summary.append(f"{tc.name} → {'error' if failed else 'ok'}")
    return "; ".join(summary), errors


def _switch_text(switch: SwitchCost | None) -> str:
    if switch is None:
        return ""
    if switch.expected_saving < 0:
        return f"+${-switch.expected_saving:.5f} to the end, cache loss ${switch.cache_loss:.5f}"
    return f"saving ${switch.expected_saving:.5f} vs cache loss ${switch.cache_loss:.5f}"


def _attempt_label(attempt: Attempt) -> str:
    outcome = "ok" if attempt.outcome == "ok" else attempt.status_code or attempt.error_type
    return f"{attempt.target.provider}:{outcome}"


async def run_demo(
    max_steps: int = 20,
    tracer_provider: TracerProvider | None = None,
    *,
    shadow: float | None = None,
    routing_log: str | None = None,
) -> DemoReport:
    """Run the support-agent session; one :class:`StepRow` per routed call. Spans go to
    ``tracer_provider`` (else the global provider). ``shadow``: shadow routing on, sampling
    this share of the steps below the top tier (the demo waits for each step's shadow call
    before the next step, so the simulator sees the same requests in the same order every run;
    an application never waits). ``routing_log``: a path the routing log is appended to."""
    async with run_simulator(simulator_config()) as sim:
        config = demo_config(
            {name: sim.base_url(name) for name in ("fastcloud", "bigcloud", "backup")},
            shadow=shadow,
        )
        seen = CallRecorder()  # each call's progress record: what affinity did for it
        async with Router(
            config, tracer_provider=tracer_provider, middleware=[seen], routing_log=routing_log
        ) as router:
            report = await _session(router, seen, max_steps)
            return dataclasses.replace(report, shadow=router.shadow_stats())


async def _session(router: Router, seen: CallRecorder, max_steps: int) -> DemoReport:
    rows: list[StepRow] = []
    messages: list[dict[str, Any]] = [
        # No cache markers here: the router puts Anthropic's cache_control breakpoints on the
        # stable prefix itself (tools, system, the last message); OpenAI-compatible
        # deployments cache prefixes automatically.
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": USER_REQUEST},
    ]
    errors_in_a_row = 0
    solved = False
    follow_ups = list(FOLLOW_UPS)
    async with router.session(id="demo-ticket-42", agent="support") as session:
        for _ in range(max_steps):
            result = await router.complete(messages, tools=TOOLS)
            await router.drain_shadow()  # (the demo only: the same order of requests every run)
            action, errors = _action(result, messages)
            errors_in_a_row = errors_in_a_row + errors if errors else 0
            if errors_in_a_row >= 2:
                session.escalate(f"{errors_in_a_row} tool errors in a row")
            decision, target = result.decision, result.target
            progress = seen.calls[-1].progress
            pin = progress.pin if progress is not None else None
            if decision is None or target is None:  # pragma: no cover - the chain always sets them
                raise RuntimeError("routed result without decision or target")
            rows.append(
                StepRow(
                    step=decision.step,
                    tier=decision.tier,
                    model=target.model,
                    deployment=target.key,
                    provider=target.provider,
                    cause=str(decision.cause),
                    reason=decision.reason,
                    attempts=" → ".join(_attempt_label(a) for a in result.attempts),
                    usage=result.usage,
                    cost_usd=result.cost_usd,
                    action=action,
                    score=decision.score,
                    switch=_switch_text(decision.switch),
                    pin=pin.kind if pin else "",
                    pin_reason=pin.reason if pin else "",
                )
            )
            if not result.tool_calls:
                if not follow_ups:
                    solved = True
                    break
                messages.append({"role": "user", "content": follow_ups.pop(0)})
        session.record_outcome(success=solved)  # (the scenario's own check: the routing log's)
        total_usage = session.usage
        total_cost = session.cost_usd
    top_tier = router.config.tier_names[-1]
    top_model = router.config.tiers[top_tier][0]
    top_price = router.config.models[top_model].price
    return DemoReport(
        rows=tuple(rows),
        total_cost_usd=total_cost,
        top_model=top_model,
        top_model_cost_usd=sum(cost_usd(r.usage, top_price) for r in rows),
        usage=total_usage,
        solved=solved,
    )
