"""Fault injection, seen through the official SDKs: each fault gives the SDK exception a real
provider would cause, with the real error body, and the simulator keeps serving afterwards."""

from __future__ import annotations

import re
from typing import Any

import anthropic
import anyio
import httpx2
import openai
import pytest

from agentroute.sim.config import FaultsConfig, LatencyConfig
from agentroute.sim.faults import Faults
from agentroute.sim.server import Simulator, run_simulator
from tests.helpers import simulator_fixture

pytestmark = pytest.mark.anyio

SCHEDULE = {
    1: {"kind": "rate_limit", "retry_after_s": 2},
    2: "server_error",
    3: "unavailable",
    4: "overloaded",
    5: "drop",
    6: "drop_mid_response",
    7: "context_window",
    8: "content_policy",
}
SMALL_WINDOW = {"context_window": 100_000, "context_windows": {"tiny": 50}}
CONFIG: dict[str, Any] = {
    "instances": {
        "oa": {"kind": "openai", "faults": {"schedule": SCHEDULE}, **SMALL_WINDOW},
        "an": {"kind": "anthropic", "faults": {"schedule": SCHEDULE}, **SMALL_WINDOW},
        "oa_hang": {"kind": "openai", "faults": {"schedule": {1: "timeout"}}},
        "an_hang": {"kind": "anthropic", "faults": {"schedule": {1: "timeout"}}},
        "oa_cut": {"kind": "openai", "faults": {"schedule": {1: "drop_mid_response"}}},
        "an_cut": {"kind": "anthropic", "faults": {"schedule": {1: "drop_mid_response"}}},
        "slow": {
            "kind": "openai",
            "faults": {"schedule": {1: {"kind": "timeout", "delay_s": 0.2}}},
        },
        "oa_policy": {
            "kind": "openai",
            "faults": {"content_policy_triggers": ["Forbidden"]},
            **SMALL_WINDOW,
        },
        "an_policy": {
            "kind": "anthropic",
            "faults": {"content_policy_triggers": ["forbidden"]},
            **SMALL_WINDOW,
        },
        "oa_refuse": {
            "kind": "openai",
            "faults": {"content_policy_triggers": ["x"], "refusal": "stop_reason"},
        },
        "an_refuse": {
            "kind": "anthropic",
            "faults": {"content_policy_triggers": ["x"], "refusal": "stop_reason"},
        },
        "keyed": {"kind": "openai", "api_key": "sk-right"},
        "random": {
            "kind": "openai",
            "faults": {"seed": 11, "rates": {"server_error": 0.3, "rate_limit": 0.2}},
        },
    }
}
USER = [{"role": "user", "content": "hello"}]


sim = simulator_fixture(CONFIG)


def oa(sim: Simulator, name: str, **kw: Any) -> openai.AsyncOpenAI:
    kw.setdefault("api_key", "k")
    return openai.AsyncOpenAI(base_url=sim.base_url(name), max_retries=0, **kw)


def an(sim: Simulator, name: str, **kw: Any) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=sim.base_url(name), api_key="k", max_retries=0, **kw)


async def oa_call(c: openai.AsyncOpenAI, model: str = "m") -> Any:
    return await c.chat.completions.create(model=model, messages=USER)  # type: ignore[arg-type]


async def an_call(c: anthropic.AsyncAnthropic, model: str = "m", text: str = "hello") -> Any:
    return await c.messages.create(
        model=model, max_tokens=16, messages=[{"role": "user", "content": text}]
    )


async def test_openai_schedule_gives_each_sdk_error(sim: Simulator) -> None:
    async with oa(sim, "oa") as c:
        with pytest.raises(openai.RateLimitError) as rate:
            await oa_call(c)
        assert rate.value.response.headers["retry-after"] == "2"
        assert rate.value.response.headers["retry-after-ms"] == "2000"
        assert rate.value.code == "rate_limit_exceeded" and rate.value.type == "requests"
        assert "Please try again in 2s" in rate.value.message
        for status in (500, 503, 503):  # server_error, unavailable, overloaded (no 529 at OpenAI)
            with pytest.raises(openai.InternalServerError) as err:
                await oa_call(c)
            assert err.value.status_code == status and err.value.type == "server_error"
        with pytest.raises(openai.APIConnectionError) as dropped:
            await oa_call(c)
        assert type(dropped.value) is openai.APIConnectionError
        with pytest.raises(openai.APIConnectionError) as cut:
            await oa_call(c)
        assert type(cut.value) is openai.APIConnectionError
        with pytest.raises(openai.BadRequestError) as window:  # forced, though the prompt fits
            await oa_call(c)
        assert window.value.code == "context_length_exceeded" and window.value.param == "messages"
        with pytest.raises(openai.BadRequestError) as policy:
            await oa_call(c)
        assert policy.value.code == "invalid_prompt"
        assert policy.value.body["message"].startswith(  # type: ignore[index]
            "Invalid prompt: your prompt was flagged as potentially violating our usage policy."
        )
        ok = await oa_call(c)  # request 9: the simulator is still serving
    assert ok.choices[0].message.content == "You said: hello"
    stats = sim.stats("oa")
    assert stats.requests == 9 and stats.answered == 2  # 6 was answered, then cut short
    assert stats.faults == {k if isinstance(k, str) else k["kind"]: 1 for k in SCHEDULE.values()}


async def test_anthropic_schedule_gives_each_sdk_error(sim: Simulator) -> None:
    async with an(sim, "an") as c:
        with pytest.raises(anthropic.RateLimitError) as rate:
            await an_call(c)
        assert rate.value.response.headers["retry-after"] == "2"
        assert rate.value.body == {
            "type": "error",
            "error": {
                "type": "rate_limit_error",
                "message": "This request would exceed your account's rate limit. "
                "Please try again later.",
            },
            "request_id": rate.value.request_id,
        }
        with pytest.raises(anthropic.InternalServerError) as err:
            await an_call(c)
        assert err.value.status_code == 500
        with pytest.raises(anthropic.ServiceUnavailableError):
            await an_call(c)
        with pytest.raises(anthropic.OverloadedError) as overloaded:
            await an_call(c)
        assert overloaded.value.status_code == 529
        assert overloaded.value.body["error"] == {
            "type": "overloaded_error",
            "message": "Overloaded",
        }  # type: ignore[index]
        with pytest.raises(anthropic.APIConnectionError) as dropped:
            await an_call(c)
        assert type(dropped.value) is anthropic.APIConnectionError
        with pytest.raises(anthropic.APIConnectionError):
            await an_call(c)
        with pytest.raises(anthropic.BadRequestError) as window:
            await an_call(c)
        assert re.fullmatch(
            r"prompt is too long: \d+ tokens > 100000 maximum",
            window.value.body["error"]["message"],
        )  # type: ignore[index]
        with pytest.raises(anthropic.BadRequestError) as policy:
            await an_call(c)
        assert policy.value.body["error"] == {  # type: ignore[index]
            "type": "invalid_request_error",
            "message": "Output blocked by content filtering policy",
        }
        ok = await an_call(c)
    assert ok.content[0].text == "You said: hello"


async def test_context_window_from_the_prompt_size(sim: Simulator) -> None:
    long = "word " * 100  # 500 characters: well over the 50-token window of model "tiny"
    async with oa(sim, "oa_policy") as o, an(sim, "an_policy") as a:
        with pytest.raises(openai.BadRequestError) as oe:
            await o.chat.completions.create(
                model="tiny", messages=[{"role": "user", "content": long}]
            )
        with pytest.raises(anthropic.BadRequestError) as ae:
            await an_call(a, model="tiny", text=long)
        await oa_call(o, model="big")  # another model of the same instance has room
    o_tokens = sim.records("oa_policy")[0]
    assert o_tokens.status == 400 and o_tokens.fault == "context_window"
    message = oe.value.body["message"]  # type: ignore[index]
    m = re.fullmatch(
        r"This model's maximum context length is 50 tokens\. However, your messages resulted in "
        r"(\d+) tokens\. Please reduce the length of the messages\.",
        message,
    )
    assert m is not None and int(m.group(1)) > 100
    assert oe.value.code == "context_length_exceeded"
    am = re.fullmatch(
        r"prompt is too long: (\d+) tokens > 50 maximum", ae.value.body["error"]["message"]
    )  # type: ignore[index]
    assert am is not None and int(am.group(1)) > 100


async def test_content_policy_trigger_in_the_last_user_message(sim: Simulator) -> None:
    async with oa(sim, "oa_policy") as o, an(sim, "an_policy") as a:
        with pytest.raises(openai.BadRequestError):
            await o.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "say FORBIDDEN"}]
            )
        with pytest.raises(anthropic.BadRequestError):
            await an_call(a, text="something forbidden")
        earlier = [
            {"role": "user", "content": "forbidden"},
            {"role": "assistant", "content": "no"},
            {"role": "user", "content": "fine"},
        ]
        ok = await o.chat.completions.create(model="m", messages=earlier)  # type: ignore[arg-type]
    assert ok.choices[0].finish_reason == "stop"
    assert sim.stats("oa_policy").faults == {"content_policy": 1}


async def test_refusal_as_a_stop_reason(sim: Simulator) -> None:
    async with oa(sim, "oa_refuse", _strict_response_validation=True) as o:
        r = await o.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    async with an(sim, "an_refuse", _strict_response_validation=True) as a:
        m = await an_call(a, text="x")
        async with a.messages.stream(
            model="m", max_tokens=8, messages=[{"role": "user", "content": "x"}]
        ) as s:
            streamed = await s.get_final_message()
    assert r.choices[0].finish_reason == "content_filter" and r.choices[0].message.content is None
    assert m.stop_reason == "refusal" and m.content == []
    assert streamed.stop_reason == "refusal"


async def test_timeout_until_the_client_gives_up_then_serving_again(sim: Simulator) -> None:
    async with oa(sim, "oa_hang", timeout=0.15) as o, an(sim, "an_hang", timeout=0.15) as a:
        with anyio.fail_after(5):
            with pytest.raises(openai.APITimeoutError):
                await oa_call(o)
            with pytest.raises(anthropic.APITimeoutError):
                await an_call(a)
            assert (await oa_call(o)).choices[0].message.content == "You said: hello"
            assert (await an_call(a)).content[0].text == "You said: hello"
    assert sim.records("oa_hang")[0].status == 0


async def test_timeout_with_a_delay_answers_late(sim: Simulator) -> None:
    async with oa(sim, "slow") as o:
        start = anyio.current_time()
        r = await oa_call(o)
        took = anyio.current_time() - start
    assert r.choices[0].message.content == "You said: hello"
    assert took >= 0.2


async def drain(stream: Any, into: list[Any]) -> None:
    async for item in stream:
        into.append(item)


@pytest.mark.filterwarnings("ignore:Async generator '.*':ResourceWarning")
async def test_connection_dropped_mid_stream(sim: Simulator) -> None:
    async with oa(sim, "oa_cut") as o, an(sim, "an_cut") as a:
        text = [{"role": "user", "content": "a long enough sentence for several chunks"}]
        stream = await o.chat.completions.create(model="m", messages=text, stream=True)  # type: ignore[arg-type]
        got: list[Any] = []
        with pytest.raises(openai.APIConnectionError):
            await drain(stream, got)
        assert got  # the first half arrived
        an_stream = await a.messages.create(model="m", max_tokens=16, messages=text, stream=True)  # type: ignore[arg-type]
        events: list[Any] = []
        # the anthropic SDK lets the transport's error through while iterating a stream
        with pytest.raises(httpx2.RemoteProtocolError):
            await drain(an_stream, events)
        assert events and events[0].type == "message_start"
        assert (await oa_call(o)).choices[0].message.content == "You said: hello"


async def test_api_key_is_checked_when_configured(sim: Simulator) -> None:
    async with (
        oa(sim, "keyed", api_key="sk-wrong") as bad,
        oa(sim, "keyed", api_key="sk-right") as good,
    ):
        with pytest.raises(openai.AuthenticationError) as err:
            await oa_call(bad)
        assert err.value.code == "invalid_api_key" and "sk-wrong" not in str(err.value)
        assert (await oa_call(good)).choices[0].message.content == "You said: hello"


async def test_probabilistic_faults_are_reproducible_from_the_seed(sim: Simulator) -> None:
    async def outcomes(s: Simulator) -> list[int]:
        out = []
        async with oa(s, "random") as c:
            for _ in range(20):
                try:
                    await oa_call(c)
                    out.append(200)
                except openai.APIStatusError as exc:
                    out.append(exc.status_code)
        return out

    first = await outcomes(sim)
    async with run_simulator(CONFIG) as again:
        second = await outcomes(again)
    assert first == second
    assert {200, 429, 500} <= set(first)
    plan = Faults(
        FaultsConfig(seed=11, rates={"server_error": 0.3, "rate_limit": 0.2}), LatencyConfig()
    )
    expected = [
        {"server_error": 500, "rate_limit": 429}[f.kind] if (f := plan.pick(n)) else 200
        for n in range(1, 21)
    ]
    assert first == expected


def test_schedule_wins_over_rates_without_shifting_them() -> None:
    base = Faults(FaultsConfig(seed=5, rates={"drop": 0.5}), LatencyConfig())
    scheduled = Faults(
        FaultsConfig(seed=5, rates={"drop": 0.5}, schedule={2: "overloaded"}), LatencyConfig()
    )
    a = [base.pick(n) for n in range(1, 30)]
    b = [scheduled.pick(n) for n in range(1, 30)]
    assert b[1] is not None and b[1].kind == "overloaded"
    assert a[:1] + a[2:] == b[:1] + b[2:]


def test_latency_jitter_is_seeded_and_never_negative() -> None:
    latency = LatencyConfig(base_ms=5, jitter_ms=20)
    one = Faults(FaultsConfig(seed=1), latency)
    two = Faults(FaultsConfig(seed=1), latency)
    draws = [one.first_byte_s() for _ in range(50)]
    assert draws == [two.first_byte_s() for _ in range(50)]
    assert min(draws) == 0.0 and max(draws) <= 0.025
