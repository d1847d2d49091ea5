"""Both built-in providers against the simulator over real loopback HTTP.

Plain, tool-calling and streamed calls parse, usage (cached tokens included) equals what the
simulator reported, and every fault the simulator injects arrives as the right error class.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from agentroute import (
    AllAttemptsFailed,
    ContentPolicyRefusal,
    ContextWindowExceeded,
    ModelCall,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    Router,
    Target,
    Usage,
)
from agentroute.providers.anthropic import AnthropicProvider
from agentroute.providers.openai import OpenAIProvider
from agentroute.sim.scenario import SYSTEM_PROMPT, TOOLS
from agentroute.sim.server import Simulator, run_simulator
from agentroute.testing import FakeClock
from tests.helpers import one_model_config, sim_providers, simulator_fixture

pytestmark = pytest.mark.anyio

SCHEDULE = {
    2: "rate_limit",
    3: "server_error",
    4: "unavailable",
    5: "overloaded",
    6: "drop",
    7: {"kind": "timeout"},
    8: "context_window",
}
SIM = {
    "instances": {
        name: {
            "kind": kind,
            "scenario": {"kind": "airline", "skills": {"m": 2}},
            "faults": {"schedule": SCHEDULE, "retry_after_s": 3},
        }
        for name, kind in (("oa", "openai"), ("an", "anthropic"))
    }
    | {
        f"{name}_policy": {"kind": kind, "faults": {"content_policy_triggers": ["forbidden"]}}
        for name, kind in (("oa", "openai"), ("an", "anthropic"))
    }
}
CONVO: list[dict[str, Any]] = [
    {"role": "system", "content": SYSTEM_PROMPT},
    {"role": "user", "content": "Please move my flight ZFA04Y."},
]


sim = simulator_fixture(SIM)


def provider(sim: Simulator, name: str) -> OpenAIProvider | AnthropicProvider:
    cls = OpenAIProvider if name.startswith("oa") else AnthropicProvider
    return cls(name=name, base_url=sim.base_url(name), api_key="sk-sim")


def call(name: str, messages: list[dict[str, Any]] = CONVO) -> ModelCall:
    kind = "openai" if name.startswith("oa") else "anthropic"
    return ModelCall(
        messages=messages, tools=TOOLS, target=Target("m", "t", name, kind, "m", 200_000)
    )


@pytest.mark.parametrize("name", ["oa", "an"])
async def test_tool_call_and_usage_match_the_simulator(sim: Simulator, name: str) -> None:
    p = provider(sim, name)
    try:
        result = await p.send(call(name))
    finally:
        await p.aclose()
    (tool_call,) = result.tool_calls
    assert tool_call.name == "get_reservation"
    assert tool_call.arguments.replace(" ", "") == '{"reservation_id":"ZFA04Y"}'
    assert result.finish_reason == "tool_calls"
    record = sim.records(name)[-1]
    assert record.usage is not None
    assert result.usage.input_tokens == record.usage.prompt_tokens
    assert result.usage.cache_read_tokens == record.usage.read_tokens
    assert result.usage.output_tokens == record.output_tokens


@pytest.mark.parametrize("name", ["oa", "an"])
async def test_streamed_answer_and_its_usage(sim: Simulator, name: str) -> None:
    p = provider(sim, name)
    await p.send(call(name))  # request 1; the faults start at 2
    async with run_simulator({"instances": {name: SIM["instances"][name] | {"faults": {}}}}) as s:
        p2 = provider(s, name)
        try:
            chunks = [c async for c in p2.stream(call(name))]
        finally:
            await p2.aclose()
        record = s.records(name)[-1]
    await p.aclose()
    names = [d.name for c in chunks for d in c.tool_calls if d.name]
    assert names == ["get_reservation"]
    usage = [c.usage for c in chunks if c.usage is not None]
    assert usage and usage[-1].output_tokens == record.output_tokens
    assert record.usage is not None and usage[-1].input_tokens == record.usage.prompt_tokens


@pytest.mark.parametrize("name", ["oa", "an"])
async def test_every_scheduled_fault_maps_to_its_error(sim: Simulator, name: str) -> None:
    p = provider(sim, name)
    expected: list[tuple[type[ProviderError], int | None]] = [
        (RateLimited, 429),
        (ProviderUnavailable, 500),
        (ProviderUnavailable, 503),
        (ProviderUnavailable, 503 if name == "oa" else 529),  # OpenAI has no 529
        (ProviderConnectionError, None),
        (ProviderTimeout, None),
        (ContextWindowExceeded, 400),
    ]
    try:
        await p.send(call(name))  # request 1 succeeds
        for number, (cls, status) in enumerate(expected, start=2):
            c = call(name)
            if cls is ProviderTimeout:
                async with httpx.AsyncClient(timeout=0.3) as client:
                    p2 = type(p)(name=name, base_url=sim.base_url(name), api_key="k", client=client)
                    with pytest.raises(ProviderTimeout):
                        await p2.send(c)
                continue
            with pytest.raises(cls) as info:
                await p.send(c)
            assert info.value.status_code == status, number
            if cls is RateLimited:
                assert info.value.retry_after == pytest.approx(3.0)
        assert (await p.send(call(name))).tool_calls  # and it keeps serving
    finally:
        await p.aclose()


@pytest.mark.parametrize("name", ["oa_policy", "an_policy"])
async def test_content_policy_refusal(sim: Simulator, name: str) -> None:
    p = provider(sim, name)
    bad = [{"role": "user", "content": "say something forbidden"}]
    try:
        with pytest.raises(ContentPolicyRefusal):
            await p.send(call(name, bad))
    finally:
        await p.aclose()


async def test_a_routed_call_falls_back_across_wire_formats(sim: Simulator) -> None:
    """A 429 from the OpenAI-compatible deployment; the Anthropic one answers the same call."""
    config = one_model_config(
        sim_providers(sim, "oa", "an"),
        resilience={"max_retries": 0},  # move on at once instead of retrying oa
    )
    async with Router(config, clock=FakeClock()) as router:
        first = await router.complete(CONVO, tools=TOOLS)  # oa request 1: fine
        second = await router.complete(CONVO, tools=TOOLS)  # oa request 2: 429 → an
    assert first.target is not None and first.target.provider == "oa"
    assert [a.outcome for a in second.attempts] == ["error", "ok"]
    assert second.attempts[0].error_type == "RateLimited"
    assert second.target is not None and second.target.provider == "an"
    assert second.tool_calls[0].name == "get_reservation"
    assert second.usage.input_tokens > 0 and second.usage != Usage()


async def test_all_attempts_failed_over_http(sim: Simulator) -> None:
    config = one_model_config(sim_providers(sim, "oa"))
    clock = FakeClock(draw=0.5)
    async with Router(config, clock=clock) as router:
        await router.complete(CONVO)
        with pytest.raises(AllAttemptsFailed) as info:
            await router.complete(CONVO)
    # request 2: 429 with Retry-After 3 s (waited as given), request 3: 500 (backoff: half of
    # the first step, 0.5 s), request 4: 503; max_retries (2) spent and no other deployment
    assert [a.error_type for a in info.value.attempts] == [
        "RateLimited",
        "ProviderUnavailable",
        "ProviderUnavailable",
    ]
    assert [a.target.key for a in info.value.attempts] == ["oa/m"] * 3
    assert clock.sleeps == [3.0, 0.5]
    assert "no deployment left to try" in str(info.value)
