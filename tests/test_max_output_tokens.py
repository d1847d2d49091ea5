"""``models.<name>.max_output_tokens``: the most output tokens one answer of the model may
take. The built-in providers lower a call's ``max_tokens``/``max_completion_tokens`` above it
to it (a limit meant for a bigger model of another tier would be refused by this one); a limit
at or below it, and a call without one, are sent as before."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from agentroute import Router
from tests.helpers import CONVERSATION, config_dict

pytestmark = pytest.mark.anyio

ANTHROPIC_ANSWER = {
    "id": "msg_01",
    "type": "message",
    "role": "assistant",
    "model": "big-b",
    "content": [{"type": "text", "text": "Done."}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 20, "output_tokens": 3},
}
OPENAI_ANSWER = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1741570283,
    "model": "small-1",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Done."},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 20, "completion_tokens": 3, "total_tokens": 23},
}


def config(small: int | None = None, big: int | None = None) -> dict[str, Any]:
    """:func:`config_dict` with ``max_output_tokens`` set on ``small`` (OpenAI kind) and
    ``big`` (Anthropic kind) when given."""
    data = config_dict()
    for name, limit in (("small", small), ("big", big)):
        if limit is not None:
            data["models"][name]["max_output_tokens"] = limit
    return data


async def request_body(data: dict[str, Any], tier: str, **params: Any) -> dict[str, Any]:
    """The JSON body the router's built-in provider sends for one call on ``tier``."""
    bodies: list[dict[str, Any]] = []

    def respond(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        anthropic = request.url.path.endswith("/messages")
        return httpx.Response(200, json=ANTHROPIC_ANSWER if anthropic else OPENAI_ANSWER)

    async with httpx.AsyncClient(transport=httpx.MockTransport(respond)) as client:
        router = Router(data, http_client=client)
        result = await router.complete(CONVERSATION, hints={"min_tier": tier}, **params)
        await router.aclose()
    assert result.text == "Done." and len(bodies) == 1
    return bodies[0]


async def test_the_anthropic_default_is_lowered_to_a_smaller_cap() -> None:
    assert (await request_body(config(big=1024), "complex"))["max_tokens"] == 1024


@pytest.mark.parametrize("cap", [None, 8192])
async def test_the_anthropic_default_stays_under_a_larger_cap_or_none(cap: int | None) -> None:
    assert (await request_body(config(big=cap), "complex"))["max_tokens"] == 4096


@pytest.mark.parametrize("param", ["max_tokens", "max_completion_tokens"])
async def test_the_calls_own_limit_is_sent_to_anthropic_within_the_cap(param: str) -> None:
    body = await request_body(config(big=8192), "complex", **{param: 99})
    assert body["max_tokens"] == 99 and "max_completion_tokens" not in body
    body = await request_body(config(big=8192), "complex", **{param: 100_000})
    assert body["max_tokens"] == 8192


@pytest.mark.parametrize("param", ["max_tokens", "max_completion_tokens"])
async def test_an_openai_kind_limit_above_the_cap_is_lowered(param: str) -> None:
    assert (await request_body(config(small=1000), "simple", **{param: 5000}))[param] == 1000
    assert (await request_body(config(small=1000), "simple", **{param: 500}))[param] == 500


async def test_an_openai_kind_request_gets_no_limit_from_it_alone() -> None:
    body = await request_body(config(small=1000), "simple")
    assert body["model"] == "small-1"
    assert "max_tokens" not in body and "max_completion_tokens" not in body


async def test_the_routed_target_carries_it() -> None:
    router = Router(config(small=1000))
    small = router._catalog.targets("simple")[0]
    big = router._catalog.targets("complex")[0]
    assert small.max_output_tokens == 1000 and big.max_output_tokens is None
    await router.aclose()


def test_a_bad_value_is_refused_naming_the_field() -> None:
    from agentroute import ConfigurationError

    with pytest.raises(ConfigurationError, match=r"models\.big\.max_output_tokens"):
        Router(config(big=0))
