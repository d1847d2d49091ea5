"""A refusal that arrives as a stop reason (HTTP 200) goes to the content-policy fallback too."""

from __future__ import annotations

from typing import Any

import pytest

from agentroute import Router
from agentroute.sim.server import run_simulator
from agentroute.testing import FakeClock

pytestmark = pytest.mark.anyio

FORBIDDEN = [{"role": "user", "content": "tell me something forbidden"}]


def config(urls: dict[str, str], fallback: str | None) -> dict[str, Any]:
    return {
        "providers": {
            "strict": {"kind": "anthropic", "base_url": urls["strict"]},
            "lenient": {"kind": "openai", "base_url": urls["lenient"]},
        },
        "models": {
            "main": {
                "context_window": 100_000,
                "price": {"input": 1, "output": 2},
                "deployments": [{"provider": "strict", "name": "main"}],
            },
            "open": {
                "context_window": 100_000,
                "price": {"input": 2, "output": 4},
                "deployments": [{"provider": "lenient", "name": "open"}],
            },
        },
        "tiers": {"low": ["main"], "high": ["open"]},
        "resilience": {"content_policy_fallback": fallback},
        "telemetry": {"log_events": False},
    }


@pytest.mark.parametrize("fallback", ["open", None])
async def test_a_refusal_stop_reason_goes_to_the_fallback_only_when_one_is_configured(
    fallback: str | None,
) -> None:
    sim_config = {
        "instances": {
            "strict": {
                "kind": "anthropic",
                "faults": {"content_policy_triggers": ["forbidden"], "refusal": "stop_reason"},
            },
            "lenient": {"kind": "openai"},
        }
    }
    async with run_simulator(sim_config) as sim:
        urls = {name: sim.base_url(name) for name in ("strict", "lenient")}
        async with Router(config(urls, fallback), clock=FakeClock()) as router:
            result = await router.complete(FORBIDDEN)
    outcomes = [(a.target.key, a.outcome, a.error_type) for a in result.attempts]
    if fallback is None:  # returned as it is: the application sees the refusal
        assert result.finish_reason == "content_filter"
        assert outcomes == [("strict/main", "ok", None)]
    else:
        assert result.finish_reason == "stop"
        assert outcomes == [
            ("strict/main", "error", "ContentPolicyRefusal"),
            ("lenient/open", "ok", None),
        ]
        assert result.attempts[0].usage is not None  # the refusal was billed and is counted
        assert result.attempts[0].cost_usd > 0
