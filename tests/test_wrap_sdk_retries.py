"""wrap(): a client that retries by itself hides faults from the router; wrap() says so once
(a UserWarning on the first call, a route.sdk_retries event), wherever it can see the client."""

from __future__ import annotations

import functools
import json
import warnings
from typing import Any

import httpx2
import openai
import pytest

from agentroute import Router
from agentroute.testing import capture_logs, openai_response
from tests.helpers import CONVERSATION, config_dict, make_router

pytestmark = pytest.mark.anyio

RESPONSE = openai_response("ok", prompt_tokens=10, completion_tokens=2)


def _server(request: httpx2.Request) -> httpx2.Response:
    body = json.loads(request.content)
    return httpx2.Response(
        200,
        json={
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "ok"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
        },
    )


def sdk_client(**kwargs: Any) -> openai.AsyncOpenAI:
    transport = httpx2.MockTransport(_server)
    return openai.AsyncOpenAI(
        api_key="sk-test",
        base_url="http://127.0.0.1:9/v1",
        http_client=httpx2.AsyncClient(transport=transport),
        **kwargs,
    )


DEFAULT_CLIENT = sdk_client()  # max_retries=2, the SDK's default
QUIET_CLIENT = sdk_client(max_retries=0)


async def _called_twice(routed: Any, **kwargs: Any) -> list[str]:
    """Call twice (the messages by keyword); the warnings the calls gave (the first's, once)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await routed(messages=CONVERSATION, **kwargs)
        first = len(caught)
        await routed(messages=CONVERSATION, **kwargs)
    assert len(caught) == first, "warned again on the second call"
    return [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


async def test_the_sdks_bound_method_with_default_retries_warns_once() -> None:
    routed = make_router().wrap(DEFAULT_CLIENT.chat.completions.create)
    with capture_logs() as events:
        with pytest.warns(UserWarning, match=r"retries failed requests by itself.*max_retries=0"):
            response = await routed(messages=CONVERSATION)
        assert response.choices[0].message.content == "ok"
        await routed(messages=CONVERSATION)  # no second warning (they are errors in this suite)
    (event,) = [e for e in events if e["event"] == "route.sdk_retries"]
    assert event["log_level"] == "warning"
    assert event["max_retries"] == 2
    assert "AsyncCompletions of AsyncOpenAI" in event["source"]


async def test_a_client_with_retries_off_is_quiet() -> None:
    routed = make_router().wrap(QUIET_CLIENT.chat.completions.create)
    assert await _called_twice(routed) == []


async def test_a_module_client_the_function_reads_is_seen() -> None:
    async def call_llm(messages: list[Any], *, model: str, **kw: Any) -> Any:
        return await DEFAULT_CLIENT.chat.completions.create(model=model, messages=messages, **kw)

    async def quiet_llm(messages: list[Any], *, model: str, **kw: Any) -> Any:
        return await QUIET_CLIENT.chat.completions.create(model=model, messages=messages, **kw)

    router = make_router()
    (said,) = await _called_twice(router.wrap(call_llm))
    assert "DEFAULT_CLIENT" in said and "AsyncOpenAI" in said
    assert await _called_twice(router.wrap(quiet_llm)) == []


async def test_a_client_in_a_partial_or_an_object_is_seen() -> None:
    async def call_llm(client: Any, messages: list[Any], *, model: str) -> Any:
        return RESPONSE

    class Agent:
        def __init__(self, client: Any) -> None:
            self.client = client

        async def __call__(self, messages: list[Any], *, model: str) -> Any:
            return RESPONSE

    router = make_router()
    assert len(await _called_twice(router.wrap(functools.partial(call_llm, DEFAULT_CLIENT)))) == 1
    assert len(await _called_twice(router.wrap(Agent(DEFAULT_CLIENT)))) == 1
    assert await _called_twice(router.wrap(functools.partial(call_llm, QUIET_CLIENT))) == []
    assert await _called_twice(router.wrap(Agent(QUIET_CLIENT))) == []


async def _answer(messages: list[Any], *, model: str, **kw: Any) -> Any:
    return RESPONSE


async def test_a_client_or_a_retry_count_in_the_call_is_seen() -> None:
    router = make_router()
    (said,) = await _called_twice(router.wrap(_answer), client=DEFAULT_CLIENT)
    assert "the call's argument 'client'" in said
    (said,) = await _called_twice(router.wrap(_answer), num_retries=3)
    assert "num_retries=3" in said
    assert await _called_twice(router.wrap(_answer), client=QUIET_CLIENT, max_retries=0) == []


async def test_a_client_or_a_retry_count_in_the_config_kwargs_is_seen() -> None:
    data = config_dict()
    data["providers"]["beta"]["kwargs"] = {"client": DEFAULT_CLIENT}
    (said,) = await _called_twice(Router(data).wrap(_answer))
    assert "beta/" in said
    data["providers"]["beta"]["kwargs"] = {"max_retries": 4}
    (said,) = await _called_twice(Router(data).wrap(_answer))
    assert "max_retries=4" in said


async def test_litellm_retries_unless_max_retries_is_zero() -> None:
    async def acompletion(model: str, messages: list[Any], **kwargs: Any) -> Any:
        return RESPONSE

    acompletion.__module__ = "litellm.main"  # what wrap(litellm.acompletion) sees
    (said,) = await _called_twice(make_router().wrap(acompletion))
    assert "LiteLLM" in said
    assert await _called_twice(make_router().wrap(acompletion), max_retries=0) == []
    data = config_dict()
    for provider in data["providers"].values():
        provider["kwargs"] = {"max_retries": 0}
    assert await _called_twice(Router(data).wrap(acompletion)) == []
