"""wrap(): every shape of function a user can pass, every way a caller passes the messages, and
what is refused at wrap() time (not after the billed call)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from agentroute import ConfigurationError, Router, Usage
from agentroute.testing import openai_response
from tests.helpers import CONVERSATION, config_dict, make_router

pytestmark = pytest.mark.anyio

RESPONSE = openai_response("ok", prompt_tokens=10, completion_tokens=2)
TOOLS = [{"type": "function", "function": {"name": "lookup"}}]


def supplied_router(**kwargs: Any) -> Router:
    """Every provider supplies ``base_url`` and ``api_key`` (the README's set-up)."""
    data = config_dict()
    data["providers"]["alpha"]["kwargs"] = {"base_url": "http://a.invalid", "api_key": "ka"}
    data["providers"]["beta"]["kwargs"] = {"base_url": "http://b.invalid", "api_key": "kb"}
    data.update(kwargs)
    return Router(data)


# Defect 1: the messages by keyword, with the deployment's kwargs bound by the router -------


async def test_messages_by_keyword_with_the_readme_signature() -> None:
    seen: list[dict[str, Any]] = []

    async def call_llm(
        messages: list[Any], *, model: str, base_url: str, api_key: str, **kw: Any
    ) -> Any:
        seen.append({"messages": messages, "model": model, "base_url": base_url, **kw})
        assert api_key == "ka"
        return RESPONSE

    routed = supplied_router().wrap(call_llm)
    # the router supplies model, base_url and api_key: the caller passes neither
    assert list(inspect.signature(routed).parameters) == ["messages", "kw"]
    assert await routed(messages=CONVERSATION, tools=TOOLS) is RESPONSE
    assert await routed(CONVERSATION, tools=TOOLS) is RESPONSE
    expected = {
        "messages": CONVERSATION,
        "model": "small-1",
        "base_url": "http://a.invalid",
        "tools": TOOLS,
    }
    assert seen == [expected, expected]


async def test_a_supplied_kwarg_the_caller_passes_anyway_is_replaced() -> None:
    seen: list[str] = []

    async def call_llm(messages: list[Any], *, model: str, base_url: str, api_key: str) -> Any:
        seen.append(base_url)
        return RESPONSE

    routed = supplied_router().wrap(call_llm)
    await routed(messages=CONVERSATION, base_url="http://caller.invalid")
    await routed(CONVERSATION, base_url="http://caller.invalid")
    assert seen == ["http://a.invalid", "http://a.invalid"]


async def test_a_kwarg_only_some_deployments_supply_is_optional_for_the_caller() -> None:
    data = config_dict()
    data["providers"]["alpha"]["kwargs"] = {"base_url": "http://a.invalid"}
    seen: list[tuple[str, str]] = []

    async def call_llm(messages: list[Any], *, model: str, base_url: str) -> Any:
        seen.append((model, base_url))
        return RESPONSE

    router = Router(data)
    routed = router.wrap(call_llm)
    params = inspect.signature(routed).parameters
    assert list(params) == ["messages", "base_url"]
    assert repr(params["base_url"].default) == "<configured>"
    # alpha supplies it: the caller need not, whichever way it passes the messages
    await routed(messages=CONVERSATION)
    await routed(CONVERSATION)
    await routed(CONVERSATION, base_url="http://caller.invalid")  # alpha's value wins
    async with router.session(metadata={"min_tier": "complex"}):  # big-b, on beta
        with pytest.raises(ConfigurationError, match=r"needs 'base_url'.*beta/big-b"):
            await routed(CONVERSATION)
        await routed(CONVERSATION, base_url="http://caller.invalid")
    assert seen == [
        ("small-1", "http://a.invalid"),
        ("small-1", "http://a.invalid"),
        ("small-1", "http://a.invalid"),
        ("big-b", "http://caller.invalid"),
    ]


def test_a_configured_kwarg_the_function_cannot_take_is_refused_at_wrap_time() -> None:
    data = config_dict()
    data["providers"]["beta"]["kwargs"] = {"api_key": "kb", "organization": "o"}

    async def call_llm(messages: list[Any], *, model: str, api_key: str) -> Any:
        return RESPONSE

    with pytest.raises(ConfigurationError, match=r"beta/mid-b set 'organization'"):
        Router(data).wrap(call_llm)


# Defect 2: the model parameter anywhere; positional-only, *args, partials, methods, objects -


async def test_model_as_the_first_parameter_like_litellm_acompletion() -> None:
    seen: list[tuple[str, Any, Any]] = []

    async def acompletion(
        model: str, messages: list[Any] | None = None, tools: Any = None, **kwargs: Any
    ) -> Any:
        seen.append((model, messages, tools))
        return RESPONSE

    routed = make_router().wrap(acompletion)
    assert list(inspect.signature(routed).parameters) == ["messages", "tools", "kwargs"]
    await routed(CONVERSATION, TOOLS)
    await routed(messages=CONVERSATION, tools=TOOLS)
    await routed(CONVERSATION, tools=TOOLS, model="caller-choice")
    assert seen == [("small-1", CONVERSATION, TOOLS)] * 3


async def test_positional_only_parameters() -> None:
    seen: list[tuple[Any, ...]] = []

    async def model_first(model: str, messages: list[Any], temperature: float = 1.0, /) -> Any:
        seen.append((model, messages, temperature))
        return RESPONSE

    async def messages_first(messages: list[Any], temperature: float, /, *, model: str) -> Any:
        seen.append((model, messages, temperature))
        return RESPONSE

    await make_router().wrap(model_first)(CONVERSATION)
    await make_router().wrap(model_first)(CONVERSATION, 0.5)
    await make_router().wrap(messages_first)(CONVERSATION, 0.25)
    assert seen == [
        ("small-1", CONVERSATION, 1.0),
        ("small-1", CONVERSATION, 0.5),
        ("small-1", CONVERSATION, 0.25),
    ]


async def test_a_forwarding_function_with_args_and_kwargs() -> None:
    seen: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    async def forward(*args: Any, **kwargs: Any) -> Any:
        seen.append((args, kwargs))
        return RESPONSE

    routed = make_router().wrap(forward)
    await routed(CONVERSATION, tools=TOOLS)
    await routed(messages=CONVERSATION, tools=TOOLS)
    assert seen == [
        ((CONVERSATION,), {"tools": TOOLS, "model": "small-1"}),
        ((), {"messages": CONVERSATION, "tools": TOOLS, "model": "small-1"}),
    ]


async def test_extra_positional_arguments_reach_a_var_positional_parameter() -> None:
    seen: list[tuple[Any, ...]] = []

    async def call_llm(messages: list[Any], *extra: Any, model: str) -> Any:
        seen.append((messages, extra, model))
        return RESPONSE

    routed = make_router().wrap(call_llm)
    await routed(CONVERSATION, 1, 2)
    await routed(CONVERSATION)
    assert seen == [(CONVERSATION, (1, 2), "small-1"), (CONVERSATION, (), "small-1")]


async def test_partials_bound_methods_and_callable_objects() -> None:
    seen: list[tuple[str, Any, str]] = []

    async def call_llm(client: str, messages: list[Any], *, model: str) -> Any:
        seen.append((client, messages, model))
        return RESPONSE

    class Agent:
        async def create(self, messages: list[Any], *, model: str) -> Any:
            seen.append(("method", messages, model))
            return RESPONSE

        @classmethod
        async def klass(cls, messages: list[Any], *, model: str) -> Any:
            seen.append(("classmethod", messages, model))
            return RESPONSE

    class Callable_:
        async def __call__(self, messages: list[Any], *, model: str) -> Any:
            seen.append(("object", messages, model))
            return RESPONSE

    router = make_router()
    shapes: list[Callable[..., Awaitable[Any]]] = [
        functools.partial(call_llm, "partial"),
        functools.partial(call_llm, client="kw-partial"),
        Agent().create,
        Agent.klass,
        Callable_(),
        functools.partial(Callable_()),
    ]
    for fn in shapes:
        await router.wrap(fn)(messages=CONVERSATION)
    assert [s[0] for s in seen] == [
        "partial",
        "kw-partial",
        "method",
        "classmethod",
        "object",
        "object",
    ]
    assert all(s[1] == CONVERSATION and s[2] == "small-1" for s in seen)


# Refused at wrap() time: nothing is called -------------------------------------------------


def _sync(messages: list[Any], *, model: str) -> Any:
    raise AssertionError("a refused function must never be called")


class _SyncObject:
    def __call__(self, messages: list[Any], *, model: str) -> Any:
        raise AssertionError("a refused function must never be called")


async def _agen(messages: list[Any], *, model: str) -> AsyncIterator[Any]:
    raise AssertionError("a refused function must never be called")
    yield  # pragma: no cover


@pytest.mark.parametrize(
    ("fn", "said"),
    [
        (_sync, "not an async function"),
        (functools.partial(_sync), "not an async function"),
        (_SyncObject(), "not an async function"),
        (lambda messages, model: None, "not an async function"),
        (_agen, "async generator"),
        (5, "got int"),
        (None, "got NoneType"),
    ],
    ids=["def", "partial-of-def", "sync-object", "lambda", "async-generator", "int", "none"],
)
def test_what_is_not_an_async_callable_is_refused_at_wrap_time(fn: Any, said: str) -> None:
    with pytest.raises(ConfigurationError, match=said):
        make_router().wrap(fn)


async def test_a_def_that_declares_it_returns_an_awaitable_is_accepted() -> None:
    async def real(messages: list[Any], *, model: str) -> Any:
        return RESPONSE

    def declared(messages: list[Any], *, model: str) -> Awaitable[Any]:
        return real(messages, model=model)

    @functools.wraps(real)
    def decorated(*args: Any, **kwargs: Any) -> Any:  # a sync decorator, like the SDKs' own
        return real(*args, **kwargs)

    router = make_router()
    assert await router.wrap(declared)(CONVERSATION) is RESPONSE
    assert await router.wrap(decorated)(CONVERSATION) is RESPONSE


def test_bad_parameter_names_are_refused() -> None:
    async def call_llm(messages: list[Any], *, model: str) -> Any:
        return RESPONSE

    router = make_router()
    with pytest.raises(ConfigurationError, match="no parameter 'engine'"):
        router.wrap(call_llm, model_param="engine")
    with pytest.raises(ConfigurationError, match="no parameter 'prompt'"):
        router.wrap(call_llm, messages_param="prompt")
    with pytest.raises(ConfigurationError, match="both"):
        router.wrap(call_llm, messages_param="model")
    with pytest.raises(ConfigurationError, match="usage_of"):
        router.wrap(call_llm, usage_of=5)  # type: ignore[arg-type]


async def test_bad_calls_name_what_is_wrong() -> None:
    calls: list[str] = []

    async def call_llm(messages: list[Any], *, model: str, user: str = "") -> Any:
        calls.append(model)
        return RESPONSE

    async def needs_user(messages: list[Any], *, model: str, user: str) -> Any:
        calls.append(model)
        return RESPONSE

    routed = make_router().wrap(call_llm)
    # the same refusal whichever way the messages come (and nothing is called)
    with pytest.raises(ConfigurationError, match="unexpected keyword argument 'temprature'"):
        await routed(messages=CONVERSATION, temprature=0)
    with pytest.raises(ConfigurationError, match="unexpected keyword argument 'temprature'"):
        await routed(CONVERSATION, temprature=0)
    for call in (
        lambda: make_router().wrap(needs_user)(CONVERSATION),
        lambda: make_router().wrap(needs_user)(messages=CONVERSATION),
    ):
        with pytest.raises(ConfigurationError, match="missing a required argument: 'user'"):
            await call()
    assert calls == []
    with pytest.raises(ConfigurationError, match="multiple values for argument 'messages'"):
        await routed(CONVERSATION, messages=CONVERSATION)
    with pytest.raises(ConfigurationError, match="missing a required argument: 'messages'"):
        await routed()


# A usage_of that returns the wrong thing -----------------------------------------------------


async def test_a_usage_of_returning_a_dict_is_named() -> None:
    async def call_llm(messages: list[Any], *, model: str) -> Any:
        return RESPONSE

    routed = make_router().wrap(call_llm, usage_of=lambda r: {"input_tokens": 1})  # type: ignore[arg-type,return-value]
    with pytest.raises(ConfigurationError, match=r"usage_of returned a dict.*Usage or None"):
        await routed(CONVERSATION)


async def test_a_usage_of_returning_usage_or_none_is_taken() -> None:
    async def call_llm(messages: list[Any], *, model: str) -> Any:
        return RESPONSE

    router = make_router()
    async with router.session() as s:
        await router.wrap(call_llm, usage_of=lambda r: Usage(7, 3))(CONVERSATION)
    assert s.usage == Usage(7, 3)
