"""LiteLLM as the agent's client, routed: ``router.wrap(litellm.acompletion)``, as it is.

LiteLLM speaks both wire formats, so this router escalates across them: the cheap model behind
an OpenAI-compatible server, the top model behind the Anthropic Messages API. The config says
it the LiteLLM way: each deployment's name carries LiteLLM's provider prefix
(``openai/small-model``), and each provider's ``kwargs`` give ``api_base``, ``api_key`` and
``num_retries=0`` (one request per call: the router retries and fails over itself, so it must
see every fault). The loop streams (``stream_options`` ``include_usage`` gives exact usage).

    python examples/with_litellm.py  # starts a simulator, or uses $AGENTROUTE_SIM_URL
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import anyio
from _frameworks import (
    CHAT_TOOLS,
    SYSTEM_PROMPT,
    TOOLS,
    USER_REQUEST,
    StepTable,
    router_config,
    simulator,
)

import agentroute

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # offline: no price map fetch
import litellm

litellm.suppress_debug_info = True  # its price lookup of the simulator's models prints a hint


def litellm_config(url: str) -> dict[str, Any]:
    """The examples' router config, said the LiteLLM way."""
    config = router_config(url)
    for name, provider in config["providers"].items():
        provider["kwargs"] = {
            "api_base": provider.pop("base_url"),
            "api_key": provider.pop("api_key"),
            "num_retries": 0,
        }
        kind = provider["kind"]
        for model in config["models"].values():
            for dep in model["deployments"]:
                if dep["provider"] == name:
                    dep["name"] = f"{kind}/{dep['name']}"  # openai/small-model, anthropic/…
    return config


async def agent(acompletion: Any) -> str:
    """The agent loop, as written for ``litellm.acompletion`` (minus its ``model``)."""
    messages: list[Any] = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": USER_REQUEST},
    ]
    for _ in range(10):
        chunks = await acompletion(
            messages, tools=CHAT_TOOLS, stream=True, stream_options={"include_usage": True}
        )
        response = litellm.stream_chunk_builder([c async for c in chunks], messages=messages)
        message = response.choices[0].message
        messages.append(message.model_dump(exclude_none=True))
        if not message.tool_calls:
            return str(message.content)
        for call in message.tool_calls:
            result = TOOLS[call.function.name](**json.loads(call.function.arguments))
            messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
    raise RuntimeError("the agent did not finish")


async def main(url: str) -> int:
    table = StepTable()
    router = agentroute.Router(litellm_config(url), middleware=[table])
    answer = await agent(router.wrap(litellm.acompletion))  # was: litellm.acompletion
    print(f"agent: {answer}")
    table.print("LiteLLM, routed")
    return 0 if "complex" in table.tiers else 1


if __name__ == "__main__":
    with simulator() as sim_url:
        code = anyio.run(main, sim_url)
    if code:
        print("no escalation happened", file=sys.stderr)
    sys.exit(code)
