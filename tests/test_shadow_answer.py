"""answer_of: the text and tool calls of any answer, read from the real SDK objects, their dict
forms and anything else — never raising, and bounded.

Every SDK shape is built as the real object (openai's ``ChatCompletion`` and Responses
``Response``, anthropic's ``Message``, langchain-core's ``AIMessage``, pydantic-ai's
``ModelResponse``); the builders here are shared with tests/test_shadow_compare.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from anthropic.types import Message as AnthropicMessage
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage
from openai.types.chat import ChatCompletion
from openai.types.responses import Response
from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart

from agentroute._types import ModelResult, ToolCall
from agentroute.shadow.answer import (
    MAX_TEXT_CHARS,
    MAX_TOOL_CALLS,
    Answer,
    answer_of,
    canonical_arguments,
)

Call = tuple[str, dict[str, Any]]
"""A tool call as the builders take it: (name, arguments)."""

UPDATE: Call = ("update_reservation", {"reservation_id": "ZFA04Y", "cabin": "economy"})
SEARCH: Call = ("search_flights", {"origin": "SFO", "destination": "JFK"})
UPDATE_ANSWER = ("update_reservation", '{"cabin":"economy","reservation_id":"ZFA04Y"}')
SEARCH_ANSWER = ("search_flights", '{"destination":"JFK","origin":"SFO"}')


# Real SDK answers ---------------------------------------------------------------------------------


def chat_completion(text: str | None, *calls: Call) -> ChatCompletion:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if calls:
        message["tool_calls"] = [
            {
                "id": f"call_{i}",
                "type": "function",
                "function": {"name": n, "arguments": json.dumps(a)},
            }
            for i, (n, a) in enumerate(calls)
        ]
    return ChatCompletion.model_validate(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": "small-model",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        }
    )


def responses_response(text: str | None, *calls: Call) -> Response:
    output: list[dict[str, Any]] = []
    if text is not None:
        output.append(
            {
                "type": "message",
                "id": "msg_1",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        )
    output.extend(
        {"type": "function_call", "call_id": f"c{i}", "name": n, "arguments": json.dumps(a)}
        for i, (n, a) in enumerate(calls)
    )
    return Response.model_validate(
        {
            "id": "resp_1",
            "object": "response",
            "created_at": 1,
            "model": "small-model",
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "output": output,
        }
    )


def anthropic_message(text: str | None, *calls: Call) -> AnthropicMessage:
    content: list[dict[str, Any]] = [] if text is None else [{"type": "text", "text": text}]
    content.extend(
        {"type": "tool_use", "id": f"toolu_{i}", "name": n, "input": a}
        for i, (n, a) in enumerate(calls)
    )
    return AnthropicMessage.model_validate(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "big-model",
            "content": content,
            "stop_reason": "tool_use" if calls else "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 5},
        }
    )


def langchain_message(text: str | None, *calls: Call) -> AIMessage:
    return AIMessage(
        content=text or "",
        tool_calls=[{"name": n, "args": a, "id": f"call_{i}"} for i, (n, a) in enumerate(calls)],
    )


def langchain_anthropic_message(text: str | None, *calls: Call) -> AIMessage:
    """What ChatAnthropic returns: the tool_use blocks in ``content`` AND in ``tool_calls``."""
    blocks = anthropic_message(text, *calls).model_dump()["content"]
    return AIMessage(
        content=blocks,
        tool_calls=[{"name": n, "args": a, "id": f"toolu_{i}"} for i, (n, a) in enumerate(calls)],
    )


def pydantic_ai_response(text: str | None, *calls: Call) -> ModelResponse:
    parts: list[Any] = [] if text is None else [TextPart(text)]
    # Arguments both ways pydantic-ai keeps them: a dict, and JSON text.
    parts.extend(
        ToolCallPart(n, a if i % 2 == 0 else json.dumps(a), f"call_{i}")
        for i, (n, a) in enumerate(calls)
    )
    return ModelResponse(parts=parts, model_name="small-model")


def assistant_dict(text: str | None, *calls: Call) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if calls:
        message["tool_calls"] = [
            {"id": f"c{i}", "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
            for i, (n, a) in enumerate(calls)
        ]
    return message


SHAPES: dict[str, Callable[..., Any]] = {
    "openai_chat_completion": chat_completion,
    "openai_chat_completion_dict": lambda *a: chat_completion(*a).model_dump(),
    "openai_responses": responses_response,
    "openai_responses_dict": lambda *a: responses_response(*a).model_dump(),
    "anthropic_message": anthropic_message,
    "anthropic_message_dict": lambda *a: anthropic_message(*a).model_dump(),
    "langchain_ai_message": langchain_message,
    "langchain_ai_message_anthropic_blocks": langchain_anthropic_message,
    "pydantic_ai_model_response": pydantic_ai_response,
    "assistant_dict": assistant_dict,
}
"""Every answer shape ``wrap()`` may return: builder(text, *calls) -> the raw answer."""


def read(raw: object) -> Answer | None:
    """answer_of() of a wrapped function's answer (``raw`` only, as the terminal leaves it)."""
    return answer_of(ModelResult(raw=raw))


# Each shape ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_tool_calls_of_every_shape_read_alike(shape: str) -> None:
    answer = read(SHAPES[shape](None, UPDATE, SEARCH))
    assert answer is not None
    assert answer.tool_calls == (UPDATE_ANSWER, SEARCH_ANSWER)  # canonical: keys sorted


@pytest.mark.parametrize("shape", SHAPES)
def test_text_of_every_shape(shape: str) -> None:
    assert read(SHAPES[shape]("Your flight is booked.")) == Answer("Your flight is booked.")


@pytest.mark.parametrize("shape", SHAPES)
def test_text_next_to_tool_calls(shape: str) -> None:
    answer = read(SHAPES[shape]("Let me change that.", UPDATE))
    assert answer == Answer("Let me change that.", (UPDATE_ANSWER,))


def test_langchain_tool_use_blocks_count_once() -> None:
    # ChatAnthropic lists each call twice (a tool_use block and tool_calls): read once.
    message = langchain_anthropic_message(None, UPDATE)
    assert len(message.content) == 1 and len(message.tool_calls) == 1
    assert read(message) == Answer(None, (UPDATE_ANSWER,))


def test_plain_string() -> None:
    assert read("All done.") == Answer("All done.")


def test_complete_results_are_read_from_text_and_tool_calls() -> None:
    call = ToolCall(
        "call_1", "update_reservation", '{ "reservation_id": "ZFA04Y", "cabin": "economy" }'
    )
    result = ModelResult(raw={"ignored": True}, text="Changing it.", tool_calls=(call,))
    assert answer_of(result) == Answer("Changing it.", (UPDATE_ANSWER,))
    assert answer_of(ModelResult(text="")) == Answer("")  # an empty text is an answer


def test_raw_is_read_when_neither_text_nor_tool_calls_is_set() -> None:
    assert answer_of(ModelResult(raw=chat_completion("hi"), text=None)) == Answer("hi")


def test_openai_refusal_and_custom_tool_call() -> None:
    completion = ChatCompletion.model_validate(
        {
            "id": "c",
            "object": "chat.completion",
            "created": 1,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": None, "refusal": "I can't."},
                }
            ],
        }
    )
    assert read(completion) == Answer("I can't.")
    custom = assistant_dict(None)
    custom["tool_calls"] = [
        {"id": "c1", "type": "custom", "custom": {"name": "run_sql", "input": " select 1 "}}
    ]
    assert read(custom) == Answer(None, (("run_sql", "select 1"),))


def test_responses_custom_tool_call() -> None:
    response = responses_response(None).model_dump()
    response["output"] = [
        {"type": "custom_tool_call", "call_id": "c", "name": "patch", "input": "*** diff"},
        {"type": "reasoning", "id": "r", "summary": []},
    ]
    assert read(Response.model_validate(response)) == Answer(None, (("patch", "*** diff"),))


def test_assistant_dict_with_langchain_style_tool_calls() -> None:
    message = {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"name": "f", "args": {"b": 1, "a": 2}}],
    }
    assert read(message) == Answer("", (("f", '{"a":2,"b":1}'),))


def test_pydantic_ai_tool_call_without_arguments_and_other_parts() -> None:
    response = ModelResponse(parts=[ToolCallPart("get_time", None, "c1")])
    assert read(response) == Answer(None, (("get_time", "{}"),))


# Canonical arguments ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "canonical"),
    [
        ('{"b": 1,  "a": [1, 2]}', '{"a":[1,2],"b":1}'),
        ({"b": 1, "a": "é"}, '{"a":"é","b":1}'),  # ensure_ascii off
        ("  not json  ", "not json"),  # kept, stripped
        ("", "{}"),
        ("   ", "{}"),
        (None, "{}"),
        ('"quoted"', '"quoted"'),
        ("[" * 500 + "]" * 500, "[" * 500 + "]" * 500),  # deeper than parsed: kept as text
    ],
)
def test_canonical_arguments(arguments: object, canonical: str) -> None:
    assert canonical_arguments(arguments) == canonical


def test_canonical_arguments_of_values_json_cannot_write() -> None:
    cyclic: dict[str, Any] = {"a": 1}
    cyclic["self"] = cyclic
    assert canonical_arguments(cyclic) == '{"a":1,"self":"[...]"}'
    assert canonical_arguments({"b": b"bytes", "s": {2, 1}}) == '{"b":"bytes","s":[1,2]}'


# Nothing to read ----------------------------------------------------------------------------------


async def _agen() -> Any:
    yield "chunk"


@pytest.mark.parametrize(
    "raw",
    [
        None,
        42,
        b"bytes",
        ["a", "list"],
        object(),
        {"no": "shape"},
        {"role": "user", "content": "a user message is not an answer"},
        {"choices": []},  # a completion without a choice
        {"choices": [{"index": 0}]},  # nor a message
        iter(["a", "stream"]),
    ],
    ids=repr,
)
def test_nothing_to_read_is_none(raw: object) -> None:
    assert read(raw) is None


def test_a_stream_is_none() -> None:
    stream = _agen()
    assert read(stream) is None
    assert read(SimpleNamespace(response=object(), _iterator=stream)) is None


class _Raising:
    """Every attribute raises."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"no {name}")


class _RaisingProperty:
    role = "assistant"

    @property
    def content(self) -> Any:
        raise ValueError("boom")


class _BadDump:
    role = "assistant"

    def model_dump(self, **kwargs: Any) -> Any:
        raise TypeError("cannot dump")


class _BadMapping(dict[str, Any]):
    def get(self, key: str, default: Any = None) -> Any:
        raise KeyError(key)


def _cyclic_content() -> dict[str, Any]:
    blocks: list[Any] = [{"type": "text", "text": "loop"}]
    blocks.append(blocks)
    return {"role": "assistant", "content": blocks}


@pytest.mark.parametrize(
    "raw",
    [
        _Raising(),
        _RaisingProperty(),
        _BadDump(),
        _BadMapping(role="assistant"),
        {"choices": _Raising()},
    ],
    ids=lambda raw: type(raw).__name__,
)
def test_hostile_objects_read_as_none(raw: object) -> None:
    assert read(raw) is None


def test_hostile_result_reads_as_none() -> None:
    assert answer_of(_Raising()) is None  # type: ignore[arg-type]


def test_cycles_never_raise() -> None:
    # A list inside a content list is not a content part: the router refuses it in a history
    # too, so there is nothing to read.
    assert read(_cyclic_content()) is None
    args: dict[str, Any] = {"a": 1}
    args["self"] = args
    message = {"role": "assistant", "content": None, "tool_calls": [{"name": "f", "args": args}]}
    assert read(message) == Answer(None, (("f", '{"a":1,"self":"[...]"}'),))


# Bounds -------------------------------------------------------------------------------------------


def test_text_is_bounded() -> None:
    long = "word " * 10_000
    assert len(long) > MAX_TEXT_CHARS
    for raw in (long, chat_completion(long), anthropic_message(long), pydantic_ai_response(long)):
        answer = read(raw)
        assert answer is not None and answer.text == long[:MAX_TEXT_CHARS]
    blocks = {"role": "assistant", "content": [{"type": "text", "text": long}] * 3}
    answer = read(blocks)
    assert answer is not None and answer.text == long[:MAX_TEXT_CHARS]


def test_tool_calls_are_bounded() -> None:
    calls = [("t", {"i": i}) for i in range(MAX_TOOL_CALLS + 36)]
    for shape in ("openai_chat_completion", "anthropic_message", "pydantic_ai_model_response"):
        answer = read(SHAPES[shape](None, *calls))
        assert answer is not None
        assert answer.tool_calls == tuple(("t", f'{{"i":{i}}}') for i in range(MAX_TOOL_CALLS))


# Fuzz ---------------------------------------------------------------------------------------------

_KEYS = st.sampled_from(
    [
        "choices", "message", "content", "tool_calls", "function", "custom", "name", "arguments",
        "args", "input", "role", "type", "text", "output", "parts", "part_kind", "tool_name",
        "refusal", "id",
    ]
)  # fmt: skip
_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.binary(max_size=5),
    st.sampled_from(
        ["assistant", "ai", "message", "function_call", "custom_tool_call", "text", "output_text",
         "tool_use", "tool-call", "{", '{"a": 1}', ""]
    ),
)  # fmt: skip


def _as_object(fields: dict[str, Any]) -> Any:
    return SimpleNamespace(**fields)


_VALUES = st.recursive(
    _LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(_KEYS, inner, max_size=5),
        st.dictionaries(_KEYS, inner, max_size=5).map(_as_object),
        st.just(_Raising()),
    ),
    max_leaves=30,
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(raw=_VALUES, text=st.one_of(st.none(), st.text(max_size=5)))
def test_fuzz_answer_of_never_raises(raw: object, text: str | None) -> None:
    for result in (ModelResult(raw=raw), ModelResult(raw=raw, text=text)):
        answer = answer_of(result)
        assert answer is None or isinstance(answer, Answer)
        if answer is not None:
            assert answer.text is None or len(answer.text) <= MAX_TEXT_CHARS
            assert len(answer.tool_calls) <= MAX_TOOL_CALLS
            assert all(isinstance(n, str) and isinstance(a, str) for n, a in answer.tool_calls)
