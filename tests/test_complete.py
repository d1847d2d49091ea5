"""complete() over registered providers: results, fallback, the error group, custom policies."""

from __future__ import annotations

import json

import httpx
import pytest

from agentroute import (
    AllAttemptsFailed,
    BadRequest,
    ConfigurationError,
    Decision,
    ProviderUnavailable,
    RateLimited,
    Signals,
    Usage,
)
from agentroute.session import SessionState
from agentroute.testing import (
    MockProvider,
    ScriptedProvider,
    ScriptExhausted,
    openai_response,
    text_result,
)
from tests.helpers import CONVERSATION, make_router

pytestmark = pytest.mark.anyio


async def test_result_carries_target_decision_attempts_and_cost() -> None:
    alpha = ScriptedProvider([text_result("hi", usage=Usage(2000, 500, cache_read_tokens=1000))])
    router = make_router(providers={"alpha": alpha})
    result = await router.complete(CONVERSATION, tools=[{"type": "function"}], temperature=0)
    assert result.text == "hi"
    assert result.target is not None and result.target.key == "alpha/small-1"
    assert result.decision is not None and result.decision.candidates == ("small",)
    assert [(a.number, a.outcome) for a in result.attempts] == [(1, "ok")]
    # 1000 uncached at $1/M + 1000 cached at $0.1/M + 500 out at $2/M
    assert result.cost_usd == pytest.approx((1000 * 1.0 + 1000 * 0.1 + 500 * 2.0) / 1e6)
    sent = alpha.calls[0]
    assert sent.params == {"temperature": 0}
    assert sent.tools == [{"type": "function"}]
    assert sent.mode == "complete"


async def test_falls_back_to_the_next_deployment_of_the_model() -> None:
    alpha = ScriptedProvider([RateLimited("slow down", status_code=429, retry_after=2.0)])
    beta = ScriptedProvider(["from beta"])
    router = make_router(providers={"alpha": alpha, "beta": beta})
    result = await router.complete(CONVERSATION, hints={"min_tier": "medium"})
    assert result.text == "from beta"
    first, second = result.attempts
    assert (first.target.key, first.outcome, first.error_type) == (
        "alpha/mid-1",
        "error",
        "RateLimited",
    )
    assert (first.status_code, first.retry_after) == (429, 2.0)
    assert (second.target.key, second.outcome) == ("beta/mid-b", "ok")


async def test_all_attempts_failed_carries_every_error_and_record() -> None:
    errors = [ProviderUnavailable("a down", status_code=503), RateLimited("b busy")]
    router = make_router(
        providers={"alpha": ScriptedProvider([errors[0]]), "beta": ScriptedProvider([errors[1]])}
    )
    with pytest.raises(AllAttemptsFailed) as info:
        await router.complete(CONVERSATION, hints={"min_tier": "medium"})
    group = info.value
    assert list(group.exceptions) == errors
    assert [a.target.key for a in group.attempts] == ["alpha/mid-1", "beta/mid-b"]
    assert [a.error for a in group.attempts] == errors
    # located at the deployment that failed
    assert (errors[0].provider, errors[0].model, errors[0].deployment) == ("alpha", "mid", "mid-1")
    assert "alpha/mid-1: ProviderUnavailable" in str(group)
    try:
        raise group
    except* RateLimited as only_rate_limits:
        assert isinstance(only_rate_limits, AllAttemptsFailed)
        assert [a.target.key for a in only_rate_limits.attempts] == ["beta/mid-b"]
    except* ProviderUnavailable:
        pass


async def test_bad_request_stops_at_the_first_attempt() -> None:
    beta = ScriptedProvider()  # would raise ScriptExhausted if it were tried
    alpha = ScriptedProvider([BadRequest("unknown field 'x'", status_code=400)])
    router = make_router(providers={"alpha": alpha, "beta": beta})
    with pytest.raises(AllAttemptsFailed) as info:
        await router.complete(CONVERSATION, hints={"min_tier": "medium"})
    assert [type(e) for e in info.value.exceptions] == [BadRequest]
    assert beta.calls == []


async def test_programming_errors_are_not_retried_or_wrapped() -> None:
    def broken(call: object) -> str:
        raise KeyError("bug in the provider")

    beta = ScriptedProvider()
    router = make_router(providers={"alpha": MockProvider(broken), "beta": beta})
    with pytest.raises(KeyError):
        await router.complete(CONVERSATION, hints={"min_tier": "medium"})
    assert beta.calls == []


async def test_script_exhaustion_is_visible() -> None:
    router = make_router(providers={"alpha": ScriptedProvider()})
    with pytest.raises(ScriptExhausted):
        await router.complete(CONVERSATION)


async def test_async_mock_handler() -> None:
    async def handler(call: object) -> str:
        return "async ok"

    router = make_router(providers={"alpha": MockProvider(handler)})
    assert (await router.complete(CONVERSATION)).text == "async ok"


async def test_built_in_http_provider_is_used_without_an_override() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=openai_response("over http", model="small-1"))

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        async with make_router(http_client=client) as router:
            result = await router.complete(CONVERSATION)
        assert not client.is_closed  # a client the caller gave is left open
    assert result.text == "over http"
    assert result.usage == Usage(10, 5)
    assert str(seen[0].url) == "http://127.0.0.1:9/v1/chat/completions"
    body = json.loads(seen[0].content)
    assert (body["model"], body["messages"]) == ("small-1", CONVERSATION)


def test_providers_must_match_the_config() -> None:
    with pytest.raises(ConfigurationError, match="'gamma' not in the config's providers"):
        make_router(providers={"gamma": ScriptedProvider()})


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        ({"role": "user"}, r"messages must be a list of messages \(or a string.*got dict"),
        ([{"content": "x"}], r"messages\[0\] has no 'role' key"),
        ([{"role": "user", "content": "x"}, "oops"], r"messages\[1\] must be a message"),
        (None, "got NoneType"),
    ],
)
async def test_bad_message_shapes_are_named(messages: object, message: str) -> None:
    router = make_router(providers={"alpha": ScriptedProvider(default="x")})
    with pytest.raises(ConfigurationError, match=message):
        await router.complete(messages)  # type: ignore[arg-type]


async def test_custom_policy_callable() -> None:
    def always_big(signals: Signals, state: SessionState) -> Decision:
        return Decision(
            tier="complex",
            previous_tier=state.tier,
            cause="custom",
            step=signals.step,
            candidates=("big",),
            reason="my rule",
        )

    beta = ScriptedProvider(["big answer"])
    router = make_router(providers={"beta": beta}, policy=always_big)
    result = await router.complete(CONVERSATION)
    assert result.text == "big answer"
    assert result.target is not None and result.target.key == "beta/big-b"
    assert result.decision is not None and result.decision.reason == "my rule"


async def test_custom_policy_with_unknown_tier_is_rejected() -> None:
    def nowhere(signals: Signals, state: SessionState) -> Decision:
        return Decision(tier="mars", previous_tier=None, cause="custom", step=1, candidates=())

    router = make_router(providers={"alpha": ScriptedProvider()}, policy=nowhere)
    with pytest.raises(ConfigurationError, match="unknown tier 'mars'"):
        await router.complete(CONVERSATION)


async def test_a_top_level_system_prompt_counts_toward_the_context() -> None:
    router = make_router(providers={"alpha": ScriptedProvider(default="ok")})
    system = "You are a careful airline agent. " * 200
    plain = await router.complete([{"role": "user", "content": "a"}])
    with_system = await router.complete([{"role": "user", "content": "b"}], system=system)
    again = await router.complete([{"role": "user", "content": "c"}], system=system)
    assert plain.decision is not None and plain.decision.signals is not None
    assert with_system.decision is not None and with_system.decision.signals is not None
    assert again.decision is not None and again.decision.signals is not None
    extra = with_system.decision.signals.context_tokens - plain.decision.signals.context_tokens
    assert extra > 1000  # ~6,600 characters of prose
    assert again.decision.signals.context_tokens == with_system.decision.signals.context_tokens
