"""``complete()`` with providers you register, and what the router does when they fail.

Uses agentroute's own test doubles, so it runs anywhere:

1. ``east`` is rate-limited (Retry-After 0.2 s, waited), then answers 503: after one retry
   (``max_retries: 1``) the call moves to ``west``, which answers.
2. ``east`` rejects its key: it is cooled down at once and ``west`` is tried; ``west`` times
   out twice; the call raises ``AllAttemptsFailed``, which carries every attempt.
3. ``east`` is still cooling down, so the next call goes straight to ``west``.

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
    "resilience": {"max_retries": 1, "backoff_base_s": 0.05, "cooldown_s": 60},
    "telemetry": {"log_events": False},
}


def show(attempts: tuple[agentroute.Attempt, ...]) -> None:
    for a in attempts:
        status = f" status={a.status_code}" if a.status_code else ""
        print(f"  attempt {a.number}: {a.target.key} {a.outcome} {a.error_type or ''}{status}")


async def main() -> None:
    east = ScriptedProvider(
        [
            agentroute.RateLimited("slow down", status_code=429, retry_after=0.2),
            agentroute.ProviderUnavailable("overloaded", status_code=503),
            agentroute.AuthenticationFailed("invalid api key", status_code=401),
        ]
    )
    west = ScriptedProvider(
        [
            text_result("hello from west", usage=agentroute.Usage(1000, 20)),
            agentroute.ProviderTimeout("no answer in 60 s"),
            agentroute.ProviderTimeout("no answer in 60 s"),
            text_result("west again", usage=agentroute.Usage(1200, 10)),
        ]
    )
    router = agentroute.Router(CONFIG, providers={"east": east, "west": west})
    messages = [{"role": "user", "content": "hi"}]

    result = await router.complete(messages)
    print(f"1. answer: {result.text!r} from {result.target.key if result.target else '?'}")
    show(result.attempts)

    try:
        await router.complete(messages)
    except agentroute.AllAttemptsFailed as group:
        print(f"2. failed: {group}")
        show(group.attempts)

    result = await router.complete(messages)
    print(f"3. answer: {result.text!r} (east is cooling down, so it was not tried)")
    show(result.attempts)


if __name__ == "__main__":
    anyio.run(main)
