"""Route an agent's existing call function — here the official OpenAI SDK — with ``wrap()``.

The agent loop keeps calling ``call_llm(messages, tools=...)``; the router picks the model and
the deployment's ``base_url``/``api_key`` at every step. To run offline, the SDK's HTTP client
gets a mock transport that answers like a Chat Completions server (a real app drops that).

    python examples/wrap_openai_sdk.py
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx2
import openai

import agentroute

CONFIG = {
    "providers": {
        "cheapcloud": {
            "kind": "openai",
            "kwargs": {"base_url": "https://cheap.example/v1", "api_key": "env:CHEAP_KEY"},
        },
        "bigcloud": {
            "kind": "openai",
            "kwargs": {"base_url": "https://big.example/v1", "api_key": "env:BIG_KEY"},
        },
    },
    "models": {
        "mini": {
            "context_window": 128_000,
            "price": {"input": 0.15, "output": 0.6, "cache_read": 0.075},
            "deployments": [{"provider": "cheapcloud", "name": "mini-2026"}],
        },
        "large": {
            "context_window": 200_000,
            "price": {"input": 2.5, "output": 10, "cache_read": 1.25},
            "deployments": [{"provider": "bigcloud", "name": "large-2026"}],
        },
    },
    "tiers": {"simple": ["mini"], "complex": ["large"]},
    "telemetry": {"log_events": False},
}


def fake_server(request: httpx2.Request) -> httpx2.Response:
    """Answers like a Chat Completions endpoint, with cached tokens in the usage."""
    body = json.loads(request.content)
    turns = len(body["messages"])
    return httpx2.Response(
        200,
        json={
            "id": f"chatcmpl-{turns}",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": f"answer {turns}"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": 1200 * turns,
                "completion_tokens": 50,
                "total_tokens": 1200 * turns + 50,
                "prompt_tokens_details": {"cached_tokens": 1024 * (turns - 1)},
            },
        },
    )


_clients: dict[str, openai.AsyncOpenAI] = {}


async def call_llm(
    messages: list[dict[str, Any]], *, model: str, base_url: str, api_key: str, **kw: Any
) -> Any:
    """The agent's own call function: one SDK client per base URL."""
    client = _clients.get(base_url)
    if client is None:
        transport = httpx2.MockTransport(fake_server)  # offline; a real app omits this
        client = openai.AsyncOpenAI(
            base_url=base_url,
            api_key=api_key,
            max_retries=0,  # the router retries and falls back; the SDK's own retries hide faults
            http_client=httpx2.AsyncClient(transport=transport),
        )
        _clients[base_url] = client
    return await client.chat.completions.create(model=model, messages=messages, **kw)


async def main() -> None:
    import os

    os.environ.setdefault("CHEAP_KEY", "sk-demo-cheap")  # a real app has these set already
    os.environ.setdefault("BIG_KEY", "sk-demo-big")
    router = agentroute.Router(CONFIG)
    routed_call = router.wrap(call_llm)  # same signature, minus `model`

    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a travel agent."},
        {"role": "user", "content": "Find me a flight."},
    ]
    async with router.session(id="example-1", agent="travel") as session:
        for step in range(1, 4):
            if step == 3:
                session.escalate("the user said the answer did not help")
            response = await routed_call(messages)  # an openai ChatCompletion, untouched
            messages.append({"role": "assistant", "content": response.choices[0].message.content})
            messages.append({"role": "user", "content": "and then?"})
        for d in session.decisions:
            print(f"step {d.step}: tier={d.tier} cause={d.cause} {d.reason}")
        u = session.usage
        print(
            f"{session.step} calls, {u.input_tokens} input tokens "
            f"({u.cache_read_tokens} cached), cost ${session.cost_usd:.5f}"
        )
    for client in _clients.values():
        await client.close()


if __name__ == "__main__":
    anyio.run(main)
