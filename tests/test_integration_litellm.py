"""LiteLLM as the agent's client: ``router.wrap(litellm.acompletion)`` as it is, against the
simulator.

The config that fits LiteLLM: each deployment's name carries LiteLLM's provider prefix
(``openai/small-model``, ``anthropic/big-model``), and each provider's ``kwargs`` give
``api_base``, ``api_key`` and ``num_retries=0`` (LiteLLM then makes one request per call, and
the router sees every fault). The airline loop (tests/sdk_harness.py) escalates from the cheap
OpenAI-compatible model to the Anthropic one, plain and streamed (``stream_options``
``include_usage``): one ``agentroute.route`` span per call, exact usage, one session. Then a
rate limit failed over with no LiteLLM retry, and the retry warning.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from agentroute import Router
from agentroute.sim.scenario import run_tool
from agentroute.sim.server import Simulator
from agentroute.telemetry import attributes as A
from tests.helpers import config_dict, require_extra, simulator_fixture
from tests.sdk_harness import (
    CHAT_TOOLS,
    EXPECTED,
    SECRET,
    SIM_CONFIG,
    SYSTEM_PROMPT,
    USER_REQUEST,
    Spans,
    check_usage,
)

# LiteLLM fetches its model price map from GitHub when first used, unless told not to
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
litellm = require_extra("litellm", "litellm")

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.filterwarnings("ignore:Async generator '.*':ResourceWarning"),
    # LiteLLM builds a pydantic schema for a TypedDict of its own (OAuth device codes) the
    # first time a call needs it, and pydantic warns about its ReadOnly items
    pytest.mark.filterwarnings("ignore:Items .* the `ReadOnly` qualifier:UserWarning"),
]


@contextlib.contextmanager
def no_retry_warning() -> Iterator[None]:
    """Inside: agentroute gives no warning about a retrying client."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        yield
    assert [str(w.message) for w in seen if "agentroute" in str(w.message)] == []


@pytest.fixture
def anyio_backend() -> str:
    """asyncio only: LiteLLM's async path awaits asyncio futures, so under trio every call
    fails ("trio.run received unrecognized yield message <Future pending …>"; tried)."""
    return "asyncio"


sim = simulator_fixture(SIM_CONFIG)


def litellm_config(sim: Simulator, *, flaky: bool = False, retries: bool = False) -> dict[str, Any]:
    """``small-model`` on the OpenAI-compatible instance (behind its flaky twin if ``flaky``),
    ``big-model`` on the Anthropic one."""

    def provider(kind: str, instance: str) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"api_base": sim.base_url(instance), "api_key": SECRET}
        if not retries:
            kwargs["num_retries"] = 0
        return {"kind": kind, "kwargs": kwargs}

    def model(name: str, kind: str, *providers: str) -> dict[str, Any]:
        return {
            "context_window": 128_000,
            "price": {"input": 1.0, "output": 4.0, "cache_read": 0.1, "cache_write": 1.25},
            "deployments": [{"provider": p, "name": f"{kind}/{name}"} for p in providers],
        }

    return {
        "providers": {
            "cheap": provider("openai", "cheap"),
            "twin": provider("openai", "flaky"),
            "claude": provider("anthropic", "claude"),
        },
        "models": {
            "small-model": model(
                "small-model", "openai", *(("twin", "cheap") if flaky else ("cheap",))
            ),
            "big-model": model("big-model", "anthropic", "claude"),
        },
        "tiers": {"simple": ["small-model"], "complex": ["big-model"]},
        "policy": {"start_tier": "simple", "thresholds": {"complex": 0.4}},
        "resilience": {"max_retries": 0},
        "telemetry": {"log_events": False},
    }


async def step(call: Any, messages: list[Any], stream: bool) -> dict[str, Any]:
    if not stream:
        response = await call(messages, tools=CHAT_TOOLS)
        assert isinstance(response, litellm.ModelResponse)
        return dict(response.choices[0].message.model_dump(exclude_none=True))
    chunks = await call(
        messages, tools=CHAT_TOOLS, stream=True, stream_options={"include_usage": True}
    )
    parts = [chunk async for chunk in chunks]
    rebuilt = litellm.stream_chunk_builder(parts, messages=messages)
    return dict(rebuilt.choices[0].message.model_dump(exclude_none=True))


def tool_message(call: Mapping[str, Any]) -> dict[str, Any]:
    output = run_tool(call["function"]["name"], json.loads(call["function"]["arguments"]))
    return {"role": "tool", "tool_call_id": call["id"], "content": output}


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_wrap_acompletion_escalates_across_wire_formats(sim: Simulator, stream: bool) -> None:
    spans = Spans()
    router = Router(litellm_config(sim), tracer_provider=spans.provider)
    with no_retry_warning():  # num_retries=0 in the config
        call = router.wrap(litellm.acompletion)
        messages: list[Any] = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": USER_REQUEST},
        ]
        calls = 0
        for calls in range(1, 10):  # noqa: B007 - the count is read after the loop
            message = await step(call, messages, stream)
            messages.append(message)
            if not message.get("tool_calls"):
                break
            messages += [tool_message(c) for c in message["tool_calls"]]
    routes = spans.routes
    assert len(routes) == calls == len(EXPECTED)
    assert [(r.attributes or {})[A.DECISION_TIER] for r in routes] == [t for t, _ in EXPECTED]
    assert (routes[3].attributes or {})[A.DECISION_CAUSE] == "score"
    assert len({(r.attributes or {})[A.GEN_AI_CONVERSATION_ID] for r in routes}) == 1
    cheap, claude = sim.records("cheap"), sim.records("claude")
    assert [r.model for r in cheap + claude] == [m for _, m in EXPECTED]
    chats = spans.chats
    check_usage(chats[: len(cheap)], cheap, "openai")
    check_usage(chats[len(cheap) :], claude, "anthropic")


async def test_a_rate_limit_fails_over_without_a_litellm_retry(sim: Simulator) -> None:
    spans = Spans()
    router = Router(litellm_config(sim, flaky=True), tracer_provider=spans.provider)
    call = router.wrap(litellm.acompletion)
    response = await call([{"role": "user", "content": USER_REQUEST}])
    assert isinstance(response, litellm.ModelResponse)
    (failed,) = sim.records("flaky")  # one request: neither LiteLLM nor its SDK retried
    assert failed.status == 429
    (route,) = spans.routes
    assert (route.attributes or {})[A.ATTEMPT_COUNT] == 2
    assert (spans.chats[1].attributes or {})[A.DEPLOYMENT] == "cheap/openai/small-model"
    check_usage(spans.chats, sim.records("cheap"), "openai")


async def test_litellm_retries_are_told_unless_num_retries_is_zero(sim: Simulator) -> None:
    """Regression: ``num_retries=0`` (which LiteLLM also gives its SDK client as max_retries)
    was taken for LiteLLM's retrying default."""
    messages = [{"role": "user", "content": USER_REQUEST}]
    quiet = Router(litellm_config(sim, retries=True)).wrap(litellm.acompletion)
    with no_retry_warning():
        await quiet(messages, num_retries=0)
    loud = Router(litellm_config(sim, retries=True)).wrap(litellm.acompletion)
    with pytest.warns(UserWarning, match="LiteLLM's default"):
        await loud(messages)
    told = Router(litellm_config(sim, retries=True)).wrap(litellm.acompletion)
    with pytest.warns(UserWarning, match="num_retries=2"):
        await told(messages, num_retries=2)


async def test_num_retries_zero_in_the_config_silences_the_warning() -> None:
    """The same rule for a stand-in with LiteLLM's module (no server needed)."""

    async def acompletion(model: str, messages: list[Any], **kwargs: Any) -> Any:
        return {"usage": {"prompt_tokens": 3, "completion_tokens": 1}}

    acompletion.__module__ = "litellm.main"  # what wrap(litellm.acompletion) sees
    data = config_dict()
    for provider in data["providers"].values():
        provider["kwargs"] = {"num_retries": 0}
    with no_retry_warning():
        await Router(data).wrap(acompletion)([{"role": "user", "content": "hi"}])
    data = config_dict()
    with pytest.warns(UserWarning, match="LiteLLM's default"):
        await Router(data).wrap(acompletion)([{"role": "user", "content": "hi"}])
