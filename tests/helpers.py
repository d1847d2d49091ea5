"""Helpers shared by the tests: a small valid config and a conversation."""

from __future__ import annotations

from typing import Any

from agentroute import Router


def config_dict(**overrides: Any) -> dict[str, Any]:
    """A small valid config: two providers, three tiers, one model with two deployments."""
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
    }
    data.update(overrides)
    return data


def make_router(**kwargs: Any) -> Router:
    return Router(config_dict(), **kwargs)


CONVERSATION: list[dict[str, Any]] = [
    {"role": "system", "content": "You are a helpful agent."},
    {"role": "user", "content": "Book me a flight."},
]
