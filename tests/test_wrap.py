"""wrap(): signature, arguments passed, usage from SDK objects and dicts, errors classified."""

from __future__ import annotations

import inspect
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest
from anthropic.types import Message as AnthropicMessage
from openai.types.chat import ChatCompletion

from agentroute import (
    AllAttemptsFailed,
    AuthenticationFailed,
    BadRequest,
    BudgetExceeded,
    ConfigurationError,
    ModelResult,
    ProviderConnectionError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    Router,
    Usage,
)
from agentroute.testing import CallRecorder
from tests.helpers import CONVERSATION, config_dict, make_router

pytestmark = pytest.mark.anyio

OPENAI_BODY: dict[str, Any] = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "small-1-2026",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "hello"},
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 5000,
        "completion_tokens": 300,
        "total_tokens": 5300,
        "prompt_tokens_details": {"cached_tokens": 4096},
        "completion_tokens_details": {"reasoning_tokens": 100},
    },
}

ANTHROPIC_BODY: dict[str, Any] = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "big-b",
    "content": [{"type": "text", "text": "hello"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 50,
        "output_tokens": 200,
        "cache_read_input_tokens": 3000,
        "cache_creation_input_tokens": 1000,
    },
}

# 904 uncached x $1 + 4096 cached x $0.1 + 300 out x $2 (model "small")
OPENAI_COST = (904 * 1.0 + 4096 * 0.1 + 300 * 2.0) / 1e6
OPENAI_USAGE = Usage(5000, 300, cache_read_tokens=4096, reasoning_tokens=100)
# model "big": 50 x $10 + 3000 x $1 + 1000 written x $12.5 + 200 out x $30
ANTHROPIC_COST = (50 * 10.0 + 3000 * 1.0 + 1000 * 12.5 + 200 * 30.0) / 1e6
ANTHROPIC_USAGE = Usage(4050, 200, cache_read_tokens=3000, cache_write_tokens=1000)


def returning(response: Any, seen: list[dict[str, Any]] | None = None) -> Any:
    async def call_llm(messages: list[dict[str, Any]], *, model: str, **kwargs: Any) -> Any:
        if seen is not None:
            seen.append({"messages": messages, "model": model, **kwargs})
        return response

    return call_llm


@pytest.mark.parametrize(
    ("response", "hints", "usage", "cost"),
    [
        (ChatCompletion.model_validate(OPENAI_BODY), None, OPENAI_USAGE, OPENAI_COST),
        (OPENAI_BODY, None, OPENAI_USAGE, OPENAI_COST),
        (
            AnthropicMessage.model_validate(ANTHROPIC_BODY),
            {"min_tier": "complex"},
            ANTHROPIC_USAGE,
            ANTHROPIC_COST,
        ),
        (ANTHROPIC_BODY, {"min_tier": "complex"}, ANTHROPIC_USAGE, ANTHROPIC_COST),
    ],
    ids=["openai-object", "openai-dict", "anthropic-object", "anthropic-dict"],
)
async def test_usage_and_cost_are_read_from_the_response(
    response: Any, hints: dict[str, str] | None, usage: Usage, cost: float
) -> None:
    router = make_router()
    routed = router.wrap(returning(response))
    async with router.session(metadata=hints) as s:
        got = await routed(CONVERSATION)
    assert got is response  # handed back untouched
    assert s.usage == usage
    assert s.cost_usd == pytest.approx(cost)


async def test_usage_of_callable_reads_custom_shapes() -> None:
    router = make_router()
    routed = router.wrap(
        returning({"tokens": (10, 2)}),
        usage_of=lambda r: Usage(input_tokens=r["tokens"][0], output_tokens=r["tokens"][1]),
    )
    async with router.session() as s:
        await routed(CONVERSATION)
    assert s.usage == Usage(10, 2)


async def test_a_response_without_usage_is_charged_the_counted_input() -> None:
    router = make_router()
    body = {k: v for k, v in OPENAI_BODY.items() if k != "usage"}
    routed = router.wrap(returning(body))
    async with router.session(metadata={"max_cost_usd": 1e-9}) as s:
        assert await routed(CONVERSATION) is body
        decision = s.decisions[-1]
        assert decision.signals is not None
        counted = decision.signals.context_tokens
        assert counted > 0
        assert s.usage == Usage(input_tokens=counted)
        assert s.cost_usd > 0
        assert s.state.last_attempts[-1].usage == Usage(input_tokens=counted)
        # not free: a budget sees the spend and refuses the next call
        with pytest.raises(BudgetExceeded):
            await routed(CONVERSATION)


@pytest.mark.parametrize(("drop_usage", "flag"), [(True, True), (False, False)])
async def test_the_result_says_whether_its_usage_was_estimated(
    drop_usage: bool, flag: bool
) -> None:
    recorder = CallRecorder()
    router = make_router(middleware=[recorder])
    body = {k: v for k, v in OPENAI_BODY.items() if not (drop_usage and k == "usage")}
    await router.wrap(returning(body))(CONVERSATION)
    (result,) = recorder.results
    assert isinstance(result, ModelResult)
    assert result.usage_estimated is flag
    assert (result.usage.output_tokens == 0) is flag


async def test_signature_drops_the_model_parameter() -> None:
    async def call_llm(
        messages: list[dict[str, Any]], *, model: str, tools: list[Any] | None = None
    ) -> Any:
        return OPENAI_BODY

    routed = make_router().wrap(call_llm)
    assert list(inspect.signature(routed).parameters) == ["messages", "tools"]
    assert routed.__name__ == "call_llm"
    assert routed.__doc__ == call_llm.__doc__


async def test_router_passes_model_deployment_kwargs_and_caller_arguments(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AR_WRAP_KEY", "sk-wrap-secret-0001")
    data = config_dict()
    data["providers"]["alpha"]["kwargs"] = {"base_url": "http://alpha.invalid/v1"}
    data["models"]["small"]["deployments"][0]["kwargs"] = {"api_key": "env:AR_WRAP_KEY"}
    seen: list[dict[str, Any]] = []
    routed = Router(data).wrap(returning(OPENAI_BODY, seen))
    tools = [{"type": "function", "function": {"name": "f"}}]
    await routed(CONVERSATION, tools=tools, temperature=0.2, model="caller-choice")
    assert seen == [
        {
            "messages": CONVERSATION,
            "model": "small-1",
            "tools": tools,
            "temperature": 0.2,
            "base_url": "http://alpha.invalid/v1",
            "api_key": "sk-wrap-secret-0001",
        }
    ]


async def test_messages_by_keyword_and_custom_parameter_names() -> None:
    seen: list[dict[str, Any]] = []

    async def create(*, engine: str, prompt: list[dict[str, Any]], n: int = 1) -> Any:
        seen.append({"engine": engine, "prompt": prompt, "n": n})
        return OPENAI_BODY

    routed = make_router().wrap(create, model_param="engine", messages_param="prompt")
    await routed(prompt=CONVERSATION, n=2)
    assert seen == [{"engine": "small-1", "prompt": CONVERSATION, "n": 2}]


async def test_extra_positional_arguments_are_named() -> None:
    seen: list[dict[str, Any]] = []

    async def call_llm(messages: list[Any], temperature: float, model: str = "") -> Any:
        seen.append({"temperature": temperature, "model": model})
        return OPENAI_BODY

    await make_router().wrap(call_llm)(CONVERSATION, 0.7)
    assert seen == [{"temperature": 0.7, "model": "small-1"}]


def test_wrap_rejects_functions_without_a_model_parameter() -> None:
    async def no_model(messages: list[Any]) -> Any:
        return None

    with pytest.raises(ConfigurationError, match="no parameter 'model'"):
        make_router().wrap(no_model)


def test_sync_functions_are_rejected_at_wrap_time() -> None:
    calls: list[str] = []

    def sync_call(messages: list[Any], *, model: str) -> Any:
        calls.append(model)  # a billed request, were it ever called
        return OPENAI_BODY

    with pytest.raises(ConfigurationError, match="sync_call is not an async function"):
        make_router().wrap(sync_call)
    assert calls == []


async def test_missing_env_var_is_named_at_use_without_a_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AR_ABSENT_KEY", raising=False)
    data = config_dict()
    data["providers"]["alpha"]["kwargs"] = {"api_key": "env:AR_ABSENT_KEY"}
    routed = Router(data).wrap(returning(OPENAI_BODY))
    with pytest.raises(ConfigurationError, match="environment variable AR_ABSENT_KEY is not set"):
        await routed(CONVERSATION)


async def test_garbage_usage_is_reported() -> None:
    routed = make_router().wrap(returning({"usage": {"prompt_tokens": "many"}}))
    with pytest.raises(ConfigurationError, match=r"cannot read token usage.*prompt_tokens"):
        await routed(CONVERSATION)


REQ = httpx2.Request("POST", "https://api.example.invalid/v1/chat/completions")
HREQ = httpx.Request("POST", "https://api.example.invalid/v1/chat/completions")


def _openai_status(cls: type[openai.APIStatusError], status: int, **headers: str) -> Exception:
    body = {"error": {"message": f"status {status}", "type": "x", "code": None}}
    return cls(
        f"Error code: {status}",
        response=httpx2.Response(status, headers=headers, json=body, request=REQ),
        body=body,
    )


ERROR_CASES: list[tuple[str, Exception, type[Exception], int | None, float | None]] = [
    (
        "openai-429-retry-after",
        _openai_status(openai.RateLimitError, 429, **{"retry-after": "7"}),
        RateLimited,
        429,
        7.0,
    ),
    ("openai-400", _openai_status(openai.BadRequestError, 400), BadRequest, 400, None),
    (
        "openai-401",
        _openai_status(openai.AuthenticationError, 401),
        AuthenticationFailed,
        401,
        None,
    ),
    (
        "openai-500",
        _openai_status(openai.InternalServerError, 500),
        ProviderUnavailable,
        500,
        None,
    ),
    ("openai-timeout", openai.APITimeoutError(request=REQ), ProviderTimeout, None, None),
    (
        "openai-connection",
        openai.APIConnectionError(request=REQ),
        ProviderConnectionError,
        None,
        None,
    ),
    (
        "anthropic-529",
        anthropic.APIStatusError(
            "Overloaded",
            response=httpx2.Response(529, request=REQ),
            body={"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        ),
        ProviderUnavailable,
        529,
        None,
    ),
    (
        "httpx-status-429",
        httpx.HTTPStatusError(
            "429",
            request=HREQ,
            response=httpx.Response(429, headers={"retry-after": "3"}, request=HREQ),
        ),
        RateLimited,
        429,
        3.0,
    ),
    ("httpx-read-timeout", httpx.ReadTimeout("slow", request=HREQ), ProviderTimeout, None, None),
    (
        "httpx-connect-error",
        httpx.ConnectError("refused", request=HREQ),
        ProviderConnectionError,
        None,
        None,
    ),
]


@pytest.mark.parametrize(
    ("raised", "expected", "status", "retry_after"),
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
async def test_exceptions_from_the_function_are_classified(
    raised: Exception, expected: type[Exception], status: int | None, retry_after: float | None
) -> None:
    async def failing(messages: list[Any], *, model: str) -> Any:
        raise raised

    routed = make_router().wrap(failing)
    with pytest.raises(AllAttemptsFailed) as info:
        await routed(CONVERSATION)
    (err,) = info.value.exceptions
    assert type(err) is expected
    assert err.__cause__ is raised
    assert (err.status_code, err.retry_after) == (status, retry_after)
    assert (err.provider, err.model, err.deployment) == ("alpha", "small", "small-1")
    (attempt,) = info.value.attempts
    assert attempt.error_type == expected.__name__


async def test_a_failed_deployment_falls_back_to_the_next_one() -> None:
    calls: list[str] = []

    async def flaky(messages: list[Any], *, model: str) -> Any:
        calls.append(model)
        if model == "mid-1":
            raise _openai_status(openai.InternalServerError, 503)
        return OPENAI_BODY

    router = make_router()
    routed = router.wrap(flaky)
    async with router.session(metadata={"min_tier": "medium"}):
        assert await routed(CONVERSATION) == OPENAI_BODY
    assert calls == ["mid-1", "mid-b"]


async def test_programming_errors_propagate_unchanged() -> None:
    async def buggy(messages: list[Any], *, model: str) -> Any:
        raise TypeError("oops")

    with pytest.raises(TypeError, match="oops"):
        await make_router().wrap(buggy)(CONVERSATION)
