"""Helpers shared by the tests: a small valid config and a conversation, the routing tests'
mock providers, tool and tool-round helpers, and simulators with routers on them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import pytest

from agentroute import ModelCall, ModelResult, Router, RouterConfig, Usage
from agentroute.policy.tokens import EstimateCounter
from agentroute.testing import FakeClock, MockProvider, text_result

if TYPE_CHECKING:
    from agentroute.sim.config import SimConfig
    from agentroute.sim.server import Simulator

Msg = dict[str, Any]


def config_dict(**overrides: Any) -> dict[str, Any]:
    """A small valid config: two providers, three tiers, one model with two deployments.

    Its resilience settings make one attempt per deployment of the chosen tier (no retries,
    no tier up), so tests about the chain and the providers see one attempt per deployment;
    the resilience tests set their own."""
    data: dict[str, Any] = {
        "providers": {
            "alpha": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1"},
            "beta": {"kind": "anthropic"},
        },
        "models": {
            "small": {
                "context_window": 16000,
                "price": {"input": 1.0, "output": 2.0, "cache_read": 0.1},
                "deployments": [{"provider": "alpha", "name": "small-1"}],
            },
            "mid": {
                "context_window": 32000,
                "price": {"input": 2.0, "output": 4.0},
                "deployments": [
                    {"provider": "alpha", "name": "mid-1"},
                    {"provider": "beta", "name": "mid-b"},
                ],
            },
            "big": {
                "context_window": 64000,
                "price": {"input": 10.0, "output": 30.0, "cache_read": 1.0, "cache_write": 12.5},
                "deployments": [{"provider": "beta", "name": "big-b"}],
            },
        },
        "tiers": {"simple": ["small"], "medium": ["mid"], "complex": ["big"]},
        "telemetry": {"log_events": True},
        "resilience": {"max_retries": 0, "escalate_on_exhaustion": False},
    }
    data.update(overrides)
    return data


def make_router(**kwargs: Any) -> Router:
    """A Router on :func:`config_dict` with a fake clock (nothing really sleeps)."""
    kwargs.setdefault("clock", FakeClock())
    return Router(config_dict(), **kwargs)


def policy_config(**policy: Any) -> dict[str, Any]:
    """The shared test config (simple/small, medium/mid, complex/big), quiet, with ``policy``."""
    data = config_dict(telemetry={"log_events": False})
    data["policy"] = policy
    return data


def mock_providers(handler: Callable[[ModelCall], Any]) -> dict[str, MockProvider]:
    """Both providers of :func:`config_dict` answering with ``handler``."""
    return {"alpha": MockProvider(handler), "beta": MockProvider(handler)}


def all_calls(provs: Mapping[str, MockProvider]) -> list[ModelCall]:
    """Every call the mock providers received, provider by provider."""
    return [c for p in provs.values() for c in p.calls]


def answer(_: ModelCall) -> ModelResult:
    """A model that answers with text, 1000 tokens in and 100 out."""
    return text_result("Your flight is rebooked.", usage=Usage(1000, 100))


def tier_index(config: RouterConfig, tier: str) -> int:
    """The position of ``tier`` in the config's order (higher is stronger)."""
    return config.tier_names.index(tier)


def words_for(tokens: int) -> str:
    """A text of about ``tokens`` tokens by the default (estimate) counter."""
    per_word = EstimateCounter().count("word " * 1000) / 1000
    return "word " * int(tokens / per_word)


TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "lookup_booking",
            "description": "Look up a booking by its reference.",
            "parameters": {
                "type": "object",
                "properties": {"booking": {"type": "string"}},
                "required": ["booking"],
            },
        },
    }
]


def append_round(
    messages: list[Msg], result: ModelResult, content: str, error: bool, shape: str
) -> None:
    """What the app appends after a model call: the assistant turn and the tool's answer."""
    (call,) = result.tool_calls
    if shape == "openai":
        messages.append(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": call.arguments},
                    }
                ],
            }
        )
        messages.append({"role": "tool", "tool_call_id": call.id, "content": content})
    else:
        use = {
            "type": "tool_use",
            "id": call.id,
            "name": call.name,
            "input": json.loads(call.arguments),
        }
        messages.append({"role": "assistant", "content": [use]})
        block = {
            "type": "tool_result",
            "tool_use_id": call.id,
            "content": content,
            "is_error": error,
        }
        messages.append({"role": "user", "content": [block]})


CONVERSATION: list[dict[str, Any]] = [
    {"role": "system", "content": "You are a helpful agent."},
    {"role": "user", "content": "Book me a flight."},
]


def require_extra(module: str, extra: str) -> Any:
    """Import ``module`` (a framework an integration needs), or skip the test saying which
    extra installs it. ``.ci/run`` sets ``AGENTROUTE_REQUIRE_INTEGRATIONS=1``: there a missing
    framework is a failure, never a skip."""
    import importlib
    import os

    import pytest

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if os.environ.get("AGENTROUTE_REQUIRE_INTEGRATIONS") == "1":
            raise
        pytest.skip(f"{module} is not installed: pip install 'agentroute[{extra}]' ({exc})")


def frameworks_config(sim_url: str) -> dict[str, Any]:
    """The framework examples' two tiers over the simulator of examples/sim_frameworks.yaml:
    ``small-model`` on its OpenAI-compatible instance, ``big-model`` on its Anthropic one; one
    tool error in the recent steps escalates the next step."""
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


@asynccontextmanager
async def checked_simulator(config: SimConfig | Mapping[str, Any]) -> AsyncIterator[Simulator]:
    """:func:`~agentroute.sim.server.run_simulator` on ``config``; when the block ends without
    an exception, the simulator must have had no internal error (a bug in it, not a fault it
    was told to make)."""
    from agentroute.sim.server import run_simulator

    async with run_simulator(config) as simulator:
        yield simulator
    assert not simulator.internal_errors, list(simulator.internal_errors)


def simulator_fixture(config: SimConfig | Mapping[str, Any]) -> Any:
    """A pytest fixture running :func:`checked_simulator` on ``config`` for each test, named
    as the module attribute it is assigned to: ``sim = simulator_fixture(CONFIG)``."""

    @pytest.fixture
    async def simulator() -> AsyncIterator[Simulator]:
        async with checked_simulator(config) as running:
            yield running

    return simulator


def sim_providers(sim: Simulator, *instances: str, **extra: Any) -> dict[str, dict[str, Any]]:
    """A provider section for each of the simulator's ``instances``: named as the instance, of
    its kind, at its base URL, with ``extra`` settings (an ``api_key`` …)."""
    return {
        name: {"kind": sim.instances[name].config.kind, "base_url": sim.base_url(name), **extra}
        for name in instances
    }


def one_model_config(
    providers: Mapping[str, Mapping[str, Any]],
    *,
    deployment: str = "m",
    context_window: int = 200_000,
    price: Mapping[str, float] | None = None,
    **sections: Any,
) -> dict[str, Any]:
    """A config of one model ``m`` in one tier ``only``, with a deployment named
    ``deployment`` on each of ``providers`` (tried in that order); quiet (no log events).
    ``sections`` set whole top-level sections (``resilience``, ``telemetry`` …)."""
    data: dict[str, Any] = {
        "providers": {name: dict(provider) for name, provider in providers.items()},
        "models": {
            "m": {
                "context_window": context_window,
                "price": dict(price) if price is not None else {"input": 1, "output": 2},
                "deployments": [{"provider": name, "name": deployment} for name in providers],
            }
        },
        "tiers": {"only": ["m"]},
        "telemetry": {"log_events": False},
    }
    data.update(sections)
    return data
