"""What the framework examples (``examples/with_*.py``) share: the simulator they run against,
a two-tier router over it, the airline agent's three tools, and the per-step tier table.

Not an example itself (CI runs ``examples/[!_]*.py``). The router config is the part to read:
a cheap OpenAI-compatible model and a top model served over the Anthropic Messages API, so
every example shows an escalation across wire formats in the middle of one run.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from anyio.from_thread import start_blocking_portal

from agentroute import CallNext, ModelCall, ModelResult
from agentroute.sim.config import load_sim_config
from agentroute.sim.scenario import SYSTEM_PROMPT, USER_REQUEST, run_tool
from agentroute.sim.server import run_simulator

__all__ = [
    "ANTHROPIC_TOOLS",
    "CHAT_TOOLS",
    "SYSTEM_PROMPT",
    "TOOLS",
    "USER_REQUEST",
    "StepTable",
    "ToolRefused",
    "get_reservation",
    "openai_only_config",
    "router_config",
    "search_flights",
    "simulator",
    "update_reservation",
]

SIM_CONFIG = Path(__file__).with_name("sim_frameworks.yaml")


@contextlib.contextmanager
def simulator() -> Iterator[str]:
    """The simulator's address: ``$AGENTROUTE_SIM_URL`` (CI starts ``agentroute sim serve
    --config examples/sim_frameworks.yaml`` once for all examples), else one started here on
    a loopback port, in a background thread (so sync framework entry points work too)."""
    url = os.environ.get("AGENTROUTE_SIM_URL")
    if url:
        yield url.rstrip("/")
        return
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(run_simulator(load_sim_config(SIM_CONFIG))) as sim,
    ):
        yield sim.url


def router_config(sim_url: str) -> dict[str, Any]:
    """Two tiers: ``small-model`` on an OpenAI-compatible server, ``big-model`` on an
    Anthropic one. One tool error in the recent steps scores 0.45 (the default weight), past
    the top tier's threshold: the next step escalates."""
    return {
        "providers": {
            "cheapsim": {"kind": "openai", "base_url": f"{sim_url}/cheap/v1", "api_key": "sim"},
            "claudesim": {"kind": "anthropic", "base_url": f"{sim_url}/claude", "api_key": "sim"},
        },
        "models": {
            "small-model": {
                "context_window": 128_000,
                "price": {"input": 0.15, "output": 0.6, "cache_read": 0.075},
                "deployments": [{"provider": "cheapsim", "name": "small-model"}],
            },
            "big-model": {
                "context_window": 200_000,
                "price": {"input": 3, "output": 15, "cache_read": 0.3, "cache_write": 3.75},
                "deployments": [{"provider": "claudesim", "name": "big-model"}],
            },
        },
        "tiers": {"simple": ["small-model"], "complex": ["big-model"]},
        "policy": {"start_tier": "simple", "thresholds": {"complex": 0.4}},
        "telemetry": {"log_events": False},
    }


class ToolRefused(Exception):
    """A tool's failure, for the frameworks whose tools report errors by raising."""


def get_reservation(reservation_id: str) -> str:
    """Read a reservation."""
    return run_tool("get_reservation", {"reservation_id": reservation_id})


def search_flights(origin: str, destination: str, date: str) -> str:
    """Search direct flights."""
    return run_tool("search_flights", {"origin": origin, "destination": destination, "date": date})


def update_reservation(reservation_id: str, flight: str, cabin: str) -> str:
    """Change flight and cabin. A basic economy fare cannot be changed: the tool says
    ``Error: …`` (raise :class:`ToolRefused` with it instead where the framework expects)."""
    args = {"reservation_id": reservation_id, "flight": flight, "cabin": cabin}
    return run_tool("update_reservation", args)


TOOLS = {f.__name__: f for f in (get_reservation, search_flights, update_reservation)}
"""The three tools by name."""

_PARAMS = {
    "get_reservation": ["reservation_id"],
    "search_flights": ["origin", "destination", "date"],
    "update_reservation": ["reservation_id", "flight", "cabin"],
}


def _schema(params: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {p: {"type": "string"} for p in params},
        "required": params,
    }


CHAT_TOOLS = [
    {
        "type": "function",
        "function": {"name": name, "description": TOOLS[name].__doc__, "parameters": _schema(ps)},
    }
    for name, ps in _PARAMS.items()
]
"""The three tools as Chat Completions tool definitions (the openai SDK, LiteLLM)."""

ANTHROPIC_TOOLS = [
    {"name": name, "description": TOOLS[name].__doc__, "input_schema": _schema(ps)}
    for name, ps in _PARAMS.items()
]
"""The three tools as Anthropic Messages tool definitions."""


def openai_only_config(sim_url: str) -> dict[str, Any]:
    """:func:`router_config` with both tiers on the OpenAI-compatible instance (it serves both
    models by name): for clients that speak the OpenAI APIs only."""
    config = router_config(sim_url)
    config["providers"].pop("claudesim")
    config["models"]["big-model"]["deployments"] = [{"provider": "cheapsim", "name": "big-model"}]
    return config


class StepTable:
    """A router middleware that notes every routed step, to print the per-step tier table."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, int, str, str, str]] = []

    async def __call__(self, call: ModelCall, call_next: CallNext) -> ModelResult:
        result = await call_next(call)
        decision = result.decision or call.decision
        session = call.session.key if call.session is not None else "-"
        model = result.target.model if result.target is not None else "?"
        if decision is not None:
            self.rows.append((session, decision.step, decision.tier, model, decision.cause))
        return result

    def print(self, title: str) -> None:
        print(f"{title}: {len(self.rows)} routed model calls")
        print(f"  {'session':<38} {'step':>4}  {'tier':<8} {'model':<12} cause")
        for session, step, tier, model, cause in self.rows:
            print(f"  {session[:38]:<38} {step:>4}  {tier:<8} {model:<12} {cause}")

    @property
    def tiers(self) -> list[str]:
        return [row[2] for row in self.rows]
