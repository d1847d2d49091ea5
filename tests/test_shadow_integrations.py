"""Shadow routing under the routed SDK stand-ins (``router.openai_client()``,
``router.anthropic_client()``): the shadow call goes through the same per-deployment SDK client
to the reference model, and the SDK's own response objects are compared (the airline agent's
first two steps: the strong model makes the same lookups)."""

from __future__ import annotations

from typing import Any

import pytest

from agentroute import Router
from tests.helpers import require_extra, simulator_fixture
from tests.sdk_harness import CHAT_TOOLS, SIM_CONFIG, SYSTEM_PROMPT, USER_REQUEST, router_config

openai = require_extra("openai", "openai")
anthropic = require_extra("anthropic", "anthropic")

pytestmark = pytest.mark.anyio

sim = simulator_fixture(SIM_CONFIG)

ANTHROPIC_TOOLS = [
    {
        "name": t["function"]["name"],
        "description": t["function"].get("description", ""),
        "input_schema": t["function"]["parameters"],
    }
    for t in CHAT_TOOLS
]


def shadowed(sim: Any, kind: str) -> dict[str, Any]:
    config = router_config(sim, kind)
    config["shadow"] = {"sample": 1.0, "tier": "complex"}
    return config


async def test_openai_client_steps_are_shadowed(sim: Any) -> None:
    async with Router(shadowed(sim, "openai")) as router, router.openai_client() as client:
        with router.bind_session("ticket-1"):
            response = await client.chat.completions.create(
                model="any",
                messages=[
                    {"role": "system", "content": SYSTEM_PROMPT},
                    {"role": "user", "content": USER_REQUEST},
                ],
                tools=CHAT_TOOLS,
            )
        await router.drain_shadow()
        stats = router.shadow_stats()
    assert isinstance(response, openai.types.chat.ChatCompletion)
    assert response.choices[0].message.tool_calls[0].function.name == "get_reservation"
    assert stats is not None and (stats.compared, stats.failed) == (1, 0)
    assert stats.by_tier["simple"].mean == 1.0  # the strong model's first move is the same


async def test_anthropic_client_steps_are_shadowed(sim: Any) -> None:
    router = Router(shadowed(sim, "anthropic"))
    async with router, router.anthropic_client() as client:
        with router.bind_session("ticket-2"):
            message = await client.messages.create(
                model="any",
                max_tokens=512,
                system=SYSTEM_PROMPT,
                messages=[{"role": "user", "content": USER_REQUEST}],
                tools=ANTHROPIC_TOOLS,
            )
        await router.drain_shadow()
        stats = router.shadow_stats()
    assert isinstance(message, anthropic.types.Message)
    assert [b.type for b in message.content if b.type == "tool_use"] == ["tool_use"]
    assert stats is not None and (stats.compared, stats.failed) == (1, 0)
    assert stats.by_tier["simple"].mean == 1.0
