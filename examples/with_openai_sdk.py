"""The official ``openai`` SDK, routed: swap ``AsyncOpenAI(...)`` for ``router.openai_client()``.

An airline support agent (three tools) runs its usual Chat Completions loop. The cheap model asks
to change a basic economy fare, the tool refuses with ``Error: …``, and the router moves the next
step to the top model, which gets it right. Chat Completions can only reach OpenAI-compatible
deployments, so here both models are served by the simulator's OpenAI-compatible instance.

    python examples/with_openai_sdk.py  # starts a simulator, or uses $AGENTROUTE_SIM_URL
"""

from __future__ import annotations

import json
import sys
from typing import Any

import anyio
from _frameworks import (
    CHAT_TOOLS,
    SYSTEM_PROMPT,
    TOOLS,
    USER_REQUEST,
    StepTable,
    openai_only_config,
    simulator,
)

import agentroute


async def agent(client: Any) -> str:
    """The agent loop, exactly as written for ``openai.AsyncOpenAI``."""
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": USER_REQUEST},
    ]
    for _ in range(10):
        response = await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=messages,
            tools=CHAT_TOOLS,  # the router picks the model
        )
        message = response.choices[0].message
        messages.append(message.model_dump(exclude_none=True))
        if not message.tool_calls:
            return str(message.content)
        for call in message.tool_calls:
            result = TOOLS[call.function.name](**json.loads(call.function.arguments))
            messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
    raise RuntimeError("the agent did not finish")


async def main(url: str) -> int:
    config = openai_only_config(url)  # Chat Completions reaches OpenAI-compatible servers only
    table = StepTable()
    router = agentroute.Router(config, middleware=[table])
    async with router.openai_client() as client:  # was: openai.AsyncOpenAI(...)
        answer = await agent(client)
    print(f"agent: {answer}")
    table.print("openai SDK, routed")
    return 0 if "complex" in table.tiers else 1


if __name__ == "__main__":
    with simulator() as sim_url:
        code = anyio.run(main, sim_url)
    if code:
        print("no escalation happened", file=sys.stderr)
    sys.exit(code)
