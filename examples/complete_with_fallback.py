"""``complete()`` with providers you register, and what a failing deployment looks like.

Uses agentroute's own test doubles, so it runs anywhere: the first deployment of ``mid`` is
rate-limited, the second answers; then both fail and the call raises ``AllAttemptsFailed``,
which carries every attempt.

    python examples/complete_with_fallback.py
"""

from __future__ import annotations

import anyio

import agentroute
from agentroute.testing import ScriptedProvider, text_result

CONFIG = {
    "providers": {"east": {"kind": "openai"}, "west": {"kind": "openai"}},
    "models": {
        "mid": {
            "context_window": 64_000,
            "price": {"input": 0.5, "output": 1.5},
            "deployments": [
                {"provider": "east", "name": "mid"},
                {"provider": "west", "name": "mid"},
            ],
        }
    },
    "tiers": {"medium": ["mid"]},
    "telemetry": {"log_events": False},
}


async def main() -> None:
    east = ScriptedProvider(
        [
            agentroute.RateLimited("slow down", status_code=429, retry_after=2.0),
            agentroute.ProviderUnavailable("overloaded", status_code=503),
        ]
    )
    west = ScriptedProvider(
        [
            text_result("hello from west", usage=agentroute.Usage(1000, 20)),
            agentroute.ProviderTimeout("no answer in 60 s"),
        ]
    )
    router = agentroute.Router(CONFIG, providers={"east": east, "west": west})
    messages = [{"role": "user", "content": "hi"}]

    result = await router.complete(messages)
    print(f"answer: {result.text!r} from {result.target.key if result.target else '?'}")
    for a in result.attempts:
        print(f"  attempt {a.number}: {a.target.key} {a.outcome} {a.error_type or ''}")

    try:
        await router.complete(messages)
    except agentroute.AllAttemptsFailed as group:
        print(f"failed: {group}")
        for a in group.attempts:
            print(f"  attempt {a.number}: {a.target.key} {a.error_type} status={a.status_code}")


if __name__ == "__main__":
    anyio.run(main)
