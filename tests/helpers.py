"""Helpers shared by the tests: a small valid config and a conversation."""

from __future__ import annotations

from typing import Any

from agentroute import Router
from agentroute.testing import FakeClock


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
