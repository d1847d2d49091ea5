"""Malformed and hostile input through every entry point: one ConfigurationError naming the
message index and field, or a routed call; never a bare exception from inside.

Regression tests for issue 14, item 7: list or dict roles, tool calls that are not dicts, bytes
or sets in ``tool_use.input``, ``tools=5``, ``hints="x"``, lone surrogates, deep nesting, huge
integers, NaN, cycles and non-string keys raised ``TypeError``/``AttributeError``/
``RecursionError``/``UnicodeEncodeError``/``ValueError`` from the signal scan, the token count,
the session key, the conversion and the HTTP transport: 140 of these 251 cases failed on main
at some entry point (a bare exception, or a tool's data refused where it must be routed). And
item 7a: a tool result of 1,000-level nested JSON made every later step fail; it is routed
normally, on every step, by every part of the router.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentroute import AllAttemptsFailed, ConfigurationError, Router
from agentroute._history_marks import history_mark
from agentroute.errors import ProviderUnavailable
from agentroute.messages import as_message
from agentroute.policy.signals import SignalExtractor, content_mark
from agentroute.policy.tokens import EstimateCounter, count_message
from agentroute.providers.convert import messages_to_anthropic, messages_to_openai
from agentroute.session import derive_session_key
from agentroute.telemetry.content import input_messages
from agentroute.testing import ScriptedProvider
from tests.helpers import config_dict
from tests.malformed import (
    CASES,
    DEEP,
    DEEP_TEXT,
    LONE,
    SYSTEM,
    USER,
    Answerer,
    Case,
    call,
    calls,
    function_call,
    function_output,
    http_config,
    nested_dict,
    nested_list,
    tool_message,
    tool_result,
    tool_use,
)

pytestmark = pytest.mark.anyio

KINDS = ("openai", "anthropic")


def base_config() -> dict[str, Any]:
    return config_dict(telemetry={"log_events": False})


def double_router() -> Router:
    providers = {name: ScriptedProvider(default="ok") for name in ("alpha", "beta")}
    return Router(base_config(), providers=providers)


@asynccontextmanager
async def http_router(kind: str, **kwargs: Any) -> AsyncIterator[tuple[Router, Answerer]]:
    answerer = Answerer()
    config = http_config(kind, base_config())
    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(answerer)) as client,
        Router(config, http_client=client, **kwargs) as router,
    ):
        yield router, answerer


def expect(where: str | None, run: Any) -> Any:
    """``run()``'s result when ``where`` is None; else the ConfigurationError it must raise,
    whose message starts with ``where``."""
    if where is None:
        return run()
    with pytest.raises(ConfigurationError) as caught:
        run()
    assert str(caught.value).startswith(where), str(caught.value)
    return None


async def expect_async(where: str | None, run: Any) -> Any:
    if where is None:
        return await run()
    with pytest.raises(ConfigurationError) as caught:
        await run()
    assert str(caught.value).startswith(where), str(caught.value)
    return None


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_complete_and_wrap_with_test_doubles(case: Case) -> None:
    router = double_router()

    async def complete() -> Any:
        return await router.complete(case.messages, **case.kwargs)

    result = await expect_async(case.read or case.call, complete)
    if result is not None:
        assert result.text == "ok"

    async def call_llm(messages: Any, *, model: str, **kwargs: Any) -> str:
        return f"answer from {model}"

    routed = router.wrap(call_llm)
    params = {k: v for k, v in case.kwargs.items() if k != "hints"}  # wrap() takes no hints

    async def wrapped() -> Any:
        return await routed(case.messages, **params)

    answer = await expect_async(case.read, wrapped)
    assert answer is None or answer.startswith("answer from ")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", CASES, ids=str)
async def test_http_providers_send_or_name_the_field(case: Case, kind: str) -> None:
    """``kind: openai`` and ``kind: anthropic`` over MockTransport: the conversion and the
    encoding run; what is sent is UTF-8 (the answerer checks)."""
    where = case.read or case.call or (case.wire if kind in case.kinds else None)
    async with http_router(kind) as (router, answerer):

        async def complete() -> Any:
            return await router.complete(case.messages, **case.kwargs)

        async def stream() -> Any:
            async with router.stream(case.messages, **case.kwargs) as chunks:
                return "".join([chunk.text async for chunk in chunks])

        result = await expect_async(where, complete)
        assert result is None or result.text == "ok"
        assert await expect_async(where, stream) in (None, "ok")
    assert len(answerer.bodies) == (0 if where else 2)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_readers_read_any_value_or_name_the_field(case: Case) -> None:
    """The scan (signals, token counts) refuses only a message it cannot read, by index and
    field; the session key and the marks never fail."""
    messages = case.messages
    if not isinstance(messages, list):
        return  # check_messages' business, covered above
    expect(case.read, lambda: SignalExtractor(EstimateCounter()).scan(messages, None))
    derive_session_key(messages, case.kwargs.get("system"))
    for item in messages:
        content_mark(item)
        history_mark(item)
    if case.read is None:
        for index, item in enumerate(messages):
            assert count_message(EstimateCounter(), as_message(item, index)) > 0
        assert input_messages(messages).startswith("[{")  # span content, whatever it holds


@pytest.mark.parametrize("case", CASES, ids=str)
def test_conversions_raise_only_configuration_errors(case: Case) -> None:
    if not isinstance(case.messages, list):
        return
    for convert in (messages_to_openai, messages_to_anthropic):
        try:
            convert(case.messages, system=case.kwargs.get("system"))
        except ConfigurationError as exc:
            assert str(exc).startswith(("messages[", "the system prompt")), str(exc)


# Item 7a: a tool result of 1,000-level nested JSON, on every step -------------------------------


def deep_histories(data: Any) -> dict[str, list[Any]]:
    """A conversation whose tool result is ``data``, in each shape a tool result comes in."""
    return {
        "openai-tool-message": [SYSTEM, USER, calls(call()), tool_message(data)],
        "anthropic-tool_result": [SYSTEM, USER, tool_use({}), tool_result(data)],
        "responses-function_call_output": [SYSTEM, USER, function_call(), function_output(data)],
    }  # fmt: skip


DEEP_RESULTS = {"text": DEEP_TEXT, "parsed": nested_dict(DEEP), "parsed-list": nested_list(DEEP)}


@pytest.mark.parametrize("shape", list(deep_histories(None)))
@pytest.mark.parametrize("form", list(DEEP_RESULTS))
@pytest.mark.parametrize("kind", KINDS)
async def test_deep_tool_result_is_routed_on_every_step(kind: str, form: str, shape: str) -> None:
    """The agent resends the tool's 1,000-level JSON at every later step: the implicit session
    continues, the signals, counts, conversion, cache markers and span content all read it, and
    the provider gets it as text."""
    exporter = InMemorySpanExporter()
    tracing = TracerProvider()
    tracing.add_span_processor(SimpleSpanProcessor(exporter))
    history = deep_histories(DEEP_RESULTS[form])[shape]
    async with http_router(kind, tracer_provider=tracing, capture_content=True) as (router, ans):
        for step in range(1, 4):
            result = await router.complete(list(history))
            assert result.text == "ok"
            assert result.decision is not None and result.decision.signals is not None
            assert result.decision.signals.step == step  # the same (implicit) session
            assert result.decision.signals.context_tokens > 1000  # the result is counted
            history += [{"role": "assistant", "content": "ok"}, {"role": "user", "content": "go"}]
    mark = "[" if form == "parsed-list" else "a"
    assert len(ans.bodies) == 3
    for body in ans.bodies:  # the whole document, as text (a string in the JSON body)
        assert body.decode().count(mark) > DEEP
    contents = [s.attributes.get("gen_ai.input.messages") for s in exporter.get_finished_spans()]
    captured = [c for c in contents if isinstance(c, str)]
    assert len(captured) == 3 and all(c.count(mark) > DEEP for c in captured)


@pytest.mark.parametrize("form", list(DEEP_RESULTS))
async def test_deep_tool_result_through_wrap(form: str) -> None:
    router = double_router()
    seen: list[int] = []

    async def call_llm(messages: list[Any], *, model: str) -> str:
        seen.append(len(messages))
        return "ok"

    routed = router.wrap(call_llm)
    for shape, history in deep_histories(DEEP_RESULTS[form]).items():
        for _ in range(3):
            assert await routed(list(history)) == "ok", shape
            history += [{"role": "assistant", "content": "ok"}, {"role": "user", "content": "go"}]
    assert len(seen) == 9


def test_deep_json_error_text_is_text_and_json_errors_still_count() -> None:
    """The detector parses a tool result only to a bounded depth; deeper text is text."""
    extractor = SignalExtractor(EstimateCounter())
    deep_error = '{"error": ' + "[" * DEEP + "]" * DEEP + "}"
    flat_error = '{"error": "not found"}'
    for content, errors in [(deep_error, 0), (flat_error, 1), ({"error": "boom"}, 1)]:
        history = [SYSTEM, USER, calls(call()), tool_message(content)]
        assert extractor.scan(history, None).tool_errors_total == errors, content


def test_deep_arguments_repeated_are_a_repeat() -> None:
    """Canonical arguments of deep text (unparsed) and deep objects are compared as text."""
    extractor = SignalExtractor(EstimateCounter())
    for arguments in (DEEP_TEXT, nested_dict(DEEP)):
        turn = calls(call(args=arguments))
        history = [SYSTEM, USER, turn, tool_message("x"), turn, tool_message("x")]
        state = extractor.scan(history, None)
        assert state.turn_repeats == [0, 1]


async def test_lone_surrogates_are_sent_as_replacement_characters() -> None:
    messages = [SYSTEM, {"role": "user", "content": f"a{LONE}b \ud83d\ude00"}]
    async with http_router("openai") as (router, answerer):
        await router.complete(messages)
    sent = json.loads(answerer.bodies[0])["messages"][-1]["content"]
    assert sent == "a\ufffdb \U0001f600"  # the lone one replaced, the pair joined
    assert derive_session_key(messages) != derive_session_key([SYSTEM, USER])


@pytest.mark.parametrize("kind", KINDS)
async def test_an_answer_too_deep_to_parse_is_an_unreadable_answer(kind: str) -> None:
    """A provider answer nested beyond what Python's parser reads fails that attempt as
    ProviderUnavailable (the router falls back), not with a RecursionError."""
    deep = b"[" * 100_000 + b"]" * 100_000

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b'{"choices": ' + deep + b"}")

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        router = Router(http_config(kind, base_config()), http_client=client)
        with pytest.raises(AllAttemptsFailed) as caught:
            await router.complete([SYSTEM, USER])
    assert all(isinstance(e, ProviderUnavailable) for e in caught.value.exceptions)
