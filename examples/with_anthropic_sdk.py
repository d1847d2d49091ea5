"""The official ``anthropic`` SDK, routed: swap ``AsyncAnthropic(...)`` for
``router.anthropic_client()``.

An airline support agent (three tools) runs its usual Messages loop, streaming each answer with
``messages.stream()``. The cheap model asks to change a basic economy fare, the tool refuses with
``Error: …``, and the router moves the next step to the top model, which gets it right. The
Messages API can only reach Anthropic deployments, so here both models are served by the
simulator's Anthropic instance.

    python examples/with_anthropic_sdk.py  # starts a simulator, or uses $AGENTROUTE_SIM_URL
"""

from __future__ import annotations

import sys
from typing import Any

import anyio
from _frameworks import (
    ANTHROPIC_TOOLS,
    SYSTEM_PROMPT,
    TOOLS,
    USER_REQUEST,
    StepTable,
    router_config,
    simulator,
)

import agentroute


async def agent(client: Any) -> str:
    """The agent loop, exactly as written for ``anthropic.AsyncAnthropic``."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": USER_REQUEST}]
    for _ in range(10):
        async with client.messages.stream(
            model="claude-haiku",  # the router picks the model
            max_tokens=1024,
            system=SYSTEM_PROMPT,
            messages=messages,
            tools=ANTHROPIC_TOOLS,
        ) as stream:
            message = await stream.get_final_message()
        messages.append({"role": "assistant", "content": message.content})
        uses = [block for block in message.content if block.type == "tool_use"]
        if not uses:
            return "".join(block.text for block in message.content if block.type == "text")
        results = [
            {"type": "tool_result", "tool_use_id": use.id, "content": TOOLS[use.name](**use.input)}
            for use in uses
        ]
        messages.append({"role": "user", "content": results})
    raise RuntimeError("the agent did not finish")


async def main(url: str) -> int:
    config = router_config(url)
    # both tiers on the Anthropic instance (it serves both models)
    config["models"]["small-model"]["deployments"] = [
        {"provider": "claudesim", "name": "small-model"}
    ]
    table = StepTable()
    router = agentroute.Router(config, middleware=[table])
    async with router.anthropic_client() as client:  # was: anthropic.AsyncAnthropic(...)
        answer = await agent(client)
    print(f"agent: {answer}")
    table.print("anthropic SDK, routed")
    return 0 if "complex" in table.tiers else 1


if __name__ == "__main__":
    with simulator() as sim_url:
        code = anyio.run(main, sim_url)
    if code:
        print("no escalation happened", file=sys.stderr)
    sys.exit(code)
