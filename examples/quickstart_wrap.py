"""README Quickstart, section 1, as it runs: an agent's own OpenAI-SDK call function, routed.

The code between the two ``README`` marker lines is the README's Quickstart block, character
for character (``tests/test_readme_quickstart.py`` checks it): a support agent with one tool,
``lookup_order``, in a plain tool-calling loop whose every model call goes through
``router.wrap()``. What follows the block only makes it run offline: it starts the simulator in
this process on a free loopback port (two OpenAI-compatible providers playing a scripted
model that mistypes the order id once, so the tool answers with an error and the router
climbs a tier), writes ``agentroute.yaml`` pointing the providers at it, and calls ``main``.

    python examples/quickstart_wrap.py
"""

# --- README.md Quickstart "### 1. Wrap the call function your agent already has" (begin) ---
import json

import openai

import agentroute

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Look up an order by its id.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}},
                "required": ["order_id"],
            },
        },
    }
]
ORDERS = {"A-10": {"status": "shipped", "arrives": "tomorrow"}}


def lookup_order(order_id):  # your tool
    order = ORDERS.get(order_id)
    return json.dumps(order) if order else f"Error: no order {order_id!r}"


clients = {}  # one SDK client per endpoint


async def call_llm(messages, *, model, base_url, api_key, **kw):  # your call function
    if base_url not in clients:
        # max_retries=0: the router retries and fails over, so it must see every fault
        clients[base_url] = openai.AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0)
    return await clients[base_url].chat.completions.create(model=model, messages=messages, **kw)


async def main(config_path="agentroute.yaml"):
    async with agentroute.Router.from_file(config_path) as router:
        routed = router.wrap(call_llm)  # same signature minus `model`, same return value
        messages = [
            {"role": "system", "content": "You are a support agent. Use the tools."},
            {"role": "user", "content": "Where is my order A-10?"},
        ]
        async with router.session(id="ticket-42", agent="support", user="u1") as s:
            for _ in range(10):
                resp = await routed(messages, tools=TOOLS)  # the router picks the model
                msg = resp.choices[0].message
                messages.append(msg.model_dump(exclude_none=True))
                if not msg.tool_calls:
                    break
                for call in msg.tool_calls:
                    result = lookup_order(**json.loads(call.function.arguments))
                    messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
        print(msg.content)
        for d in s.decisions:
            print(f"step {d.step}: {d.tier} ({d.cause}) {d.reason}".rstrip())
        print(f"cost: ${s.cost_usd:.6f}")


# --- README.md Quickstart (end) ---


# Offline set-up, not in the README (its imports are inside `offline` so that the README's stay
# at the top of the file): the simulator plays both providers, and the config, as a user would
# write it, gives each provider the `kwargs` the wrapped function receives, pointed at it.
CONFIG = """\
providers:
  cheapcloud:
    kind: openai
    kwargs: {{base_url: "{cheapcloud}", api_key: env:CHEAPCLOUD_API_KEY}}
  bigcloud:
    kind: openai
    kwargs: {{base_url: "{bigcloud}", api_key: env:BIGCLOUD_API_KEY}}
models:
  small:
    context_window: 128000
    price: {{input: 0.15, output: 0.60, cache_read: 0.075}}
    deployments: [{{provider: cheapcloud, name: small-2026}}]
  large:
    context_window: 200000
    price: {{input: 2.50, output: 10.00, cache_read: 1.25}}
    deployments: [{{provider: bigcloud, name: large-2026}}]
tiers:
  simple: [small]
  complex: [large]
telemetry: {{log_events: false}}
"""

SCRIPT = {
    "kind": "scripted",
    "steps": [
        {"tool": "lookup_order", "arguments": {"order_id": "A-1O"}},  # a typo: the tool fails
        {"tool": "lookup_order", "arguments": {"order_id": "A-10"}},
        {"text": "Your order A-10 has shipped; it arrives tomorrow."},
    ],
}


async def offline() -> None:
    """Run ``main`` against the simulator, with a config file pointing at it."""
    import os
    import tempfile
    from pathlib import Path

    from agentroute.sim.server import run_simulator

    os.environ.setdefault("CHEAPCLOUD_API_KEY", "sk-sim-cheap")  # the simulator takes any key
    os.environ.setdefault("BIGCLOUD_API_KEY", "sk-sim-big")
    instances = {
        name: {"kind": "openai", "scenario": SCRIPT} for name in ("cheapcloud", "bigcloud")
    }
    async with run_simulator({"instances": instances}) as sim:
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "agentroute.yaml"
            urls = {name: sim.base_url(name) for name in instances}
            config.write_text(CONFIG.format(**urls), encoding="utf-8")
            try:
                await main(str(config))
            finally:
                for sdk_client in clients.values():
                    await sdk_client.close()


if __name__ == "__main__":
    import anyio

    anyio.run(offline)
