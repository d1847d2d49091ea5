"""Messages as SDK objects, framework objects and any JSON: read, or refused naming the field.

Regression tests for issue 13, defect 3: appending the SDK's own ``ChatCompletionMessage`` (or
any object with ``role``/``content``/``tool_calls``) to the history made the next step fail.
Each object is read once, when the scan first sees it; the scan keeps no message alive; the
built-in providers convert the same objects; and any JSON-shaped message either scans or
raises a ConfigurationError naming its index and field (a hypothesis property).
"""

from __future__ import annotations

import gc
import json
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx
import pydantic
import pytest
from anthropic.types import Message as AnthropicMessage
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletion, ChatCompletionMessage

from agentroute import ConfigurationError, ModelCall, ModelResult, Router, SessionState, Usage
from agentroute.messages import as_message
from agentroute.policy.signals import ScanState, SignalExtractor
from agentroute.policy.tokens import EstimateCounter
from agentroute.providers.convert import messages_to_anthropic, messages_to_openai
from agentroute.session import derive_session_key
from agentroute.testing import ScriptedProvider
from tests.helpers import config_dict

Msg = dict[str, Any]

SYSTEM: Msg = {"role": "system", "content": "You are a support agent."}
USER: Msg = {"role": "user", "content": "Where is order 42?"}


def completion(*calls: tuple[str, str, dict[str, Any]], text: str | None = None) -> ChatCompletion:
    """An openai SDK ChatCompletion asking for ``calls`` (id, name, arguments)."""
    tool_calls = [
        {"id": i, "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
        for i, n, a in calls
    ]
    message: Msg = {"role": "assistant", "content": text}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return ChatCompletion.model_validate(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": "small-1",
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110},
        }
    )


def anthropic_message(*uses: tuple[str, str, dict[str, Any]]) -> AnthropicMessage:
    return AnthropicMessage.model_validate(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "big-b",
            "content": [
                {"type": "text", "text": "Let me look."},
                *({"type": "tool_use", "id": i, "name": n, "input": a} for i, n, a in uses),
            ],
            "stop_reason": "tool_use",
            "stop_sequence": None,
            "usage": {"input_tokens": 100, "output_tokens": 10},
        }
    )


def scripted_router() -> Router:
    providers = {name: ScriptedProvider(default="ok") for name in ("alpha", "beta")}
    return Router(config_dict(telemetry={"log_events": False}), providers=providers)


def scan(messages: list[Any]) -> Any:
    return SignalExtractor(EstimateCounter()).scan(messages, None)


# wrap(): the SDK's objects appended to the history ---------------------------------------------


@pytest.mark.anyio
async def test_wrap_loop_appending_chat_completion_messages() -> None:
    """The openai SDK's own message object goes back into the history (it failed at step 2)."""
    answers = [
        completion(("call_1", "get_order", {"id": 42})),
        completion(("call_2", "get_order", {"id": 42})),
        completion(text="It shipped."),
    ]

    async def call_llm(messages: list[Any], *, model: str, **kw: Any) -> ChatCompletion:
        return answers.pop(0)

    router = Router(config_dict(telemetry={"log_events": False}))
    routed = router.wrap(call_llm)
    messages: list[Any] = [SYSTEM, USER]
    async with router.session() as s:
        for step in range(3):
            response = await routed(messages, tools=[])
            message = response.choices[0].message
            messages.append(message)  # the SDK object, as the openai docs' loops do
            for call in message.tool_calls or ():
                result = "Error: order service timed out" if step == 0 else '{"status": "shipped"}'
                messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
    signals = [d.signals for d in s.decisions if d.signals is not None]
    assert [(x.tool_errors_total, x.repeated_tool_calls) for x in signals] == [
        (0, 0),
        (1, 0),
        (1, 1),  # the same call again: a repeat, read from the SDK object
    ]
    assert all(isinstance(m, ChatCompletionMessage) for m in messages[2::2])


@pytest.mark.anyio
async def test_anthropic_message_objects_and_sdk_content_blocks() -> None:
    router = scripted_router()
    reply = anthropic_message(("toolu_1", "get_order", {"id": 42}))
    history: list[Any] = [
        USER,
        reply,  # the whole SDK Message
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "Error: timeout"}
            ],
        },
        {
            "role": "assistant",
            "content": anthropic_message(("toolu_2", "get_order", {"id": 42})).content,
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_2", "content": "shipped"}],
        },
    ]
    result = await router.complete(history)
    assert result.decision is not None and result.decision.signals is not None
    signals = result.decision.signals
    assert (signals.tool_errors_total, signals.repeated_tool_calls) == (1, 1)


class AttrMessage:
    """Any object with role/content/tool_calls attributes (no pydantic, no __dict__)."""

    __slots__ = ("content", "role", "tool_calls")

    def __init__(self, role: str, content: Any, tool_calls: Any = None) -> None:
        self.role, self.content, self.tool_calls = role, content, tool_calls


@dataclass
class DataclassCall:
    id: str
    function: dict[str, Any]
    type: str = "function"


class LangChainAIMessage(pydantic.BaseModel):
    """The fields of LangChain's ``AIMessage`` (``type`` is its role; calls are name/args)."""

    content: str | list[Any] = ""
    type: str = "ai"
    tool_calls: list[dict[str, Any]] = []
    response_metadata: dict[str, Any] = {}


def test_objects_of_every_kind_are_read() -> None:
    call = DataclassCall("c1", {"name": "get_order", "arguments": '{"id": 42}'})
    history: list[Any] = [
        SYSTEM,
        USER,
        AttrMessage("assistant", None, [call]),
        AttrMessage("tool", "Error: boom"),
        LangChainAIMessage(tool_calls=[{"name": "get_order", "args": {"id": 42}, "id": "c2"}]),
        {"role": "tool", "tool_call_id": "c2", "content": "ok"},
    ]
    state = scan(history)
    assert (state.tool_errors_total, sum(state.turn_repeats)) == (1, 1)
    assert as_message(history[4], 4) == {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": "c2",
                "type": "function",
                "function": {"name": "get_order", "arguments": '{"id": 42}'},
            }
        ],
    }


def test_a_dict_message_is_read_as_it_is() -> None:
    for message in (
        USER,
        {"role": "assistant", "content": [{"type": "text", "text": "x"}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        },
    ):
        assert as_message(message, 0) is message


# Read once, kept by nobody -----------------------------------------------------------------------


class CountingMessage(pydantic.BaseModel):
    dumps: ClassVar[dict[int, int]] = {}
    role: str
    content: str

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        CountingMessage.dumps[id(self)] = CountingMessage.dumps.get(id(self), 0) + 1
        return super().model_dump(**kwargs)


@pytest.mark.anyio
async def test_each_object_is_read_once_per_session_not_per_step() -> None:
    CountingMessage.dumps.clear()
    router = scripted_router()
    history: list[Any] = [SYSTEM, USER]
    async with router.session():
        for step in range(6):
            history.append(CountingMessage(role="assistant", content=f"step {step}"))
            history.append({"role": "user", "content": "go on"})
            await router.complete(history)
    assert sorted(CountingMessage.dumps.values()) == [1] * 6


class Forgetful:
    """A provider that keeps no call (the test doubles record theirs)."""

    async def send(self, call: ModelCall, /) -> ModelResult:
        return ModelResult(text="ok", usage=Usage(10, 1))


@pytest.mark.anyio
async def test_the_scan_keeps_no_sdk_object_alive(monkeypatch: pytest.MonkeyPatch) -> None:
    scanned: list[int] = []  # what each call's scan had read (its state is the extractor's)
    scan_session = SignalExtractor.scan_session

    def spy(self: SignalExtractor, session: SessionState, messages: Any) -> ScanState:
        state = scan_session(self, session, messages)
        scanned.append(state.seen)
        return state

    monkeypatch.setattr(SignalExtractor, "scan_session", spy)
    providers = {"alpha": Forgetful(), "beta": Forgetful()}
    router = Router(config_dict(telemetry={"log_events": False}), providers=providers)
    message = completion(("c1", "f", {})).choices[0].message
    ref = weakref.ref(message)
    history: list[Any] = [
        SYSTEM,
        USER,
        message,
        {"role": "tool", "tool_call_id": "c1", "content": "x"},
    ]
    async with router.session():
        await router.complete(history)
    del history, message
    gc.collect()
    assert ref() is None
    assert scanned == [4]


# The built-in providers convert the same objects -------------------------------------------------


@pytest.mark.anyio
async def test_complete_sends_sdk_objects_as_plain_json() -> None:
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json=completion(text="ok").model_dump())

    history: list[Any] = [
        SYSTEM,
        USER,
        completion(("call_1", "get_order", {"id": 42})).choices[0].message,
        {"role": "tool", "tool_call_id": "call_1", "content": "shipped"},
    ]
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        router = Router(config_dict(telemetry={"log_events": False}), http_client=client)
        await router.complete(history)
    assert bodies[0]["messages"][2] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_order", "arguments": '{"id": 42}'},
            }
        ],
    }


def test_conversion_of_objects_to_both_shapes() -> None:
    history: list[Any] = [
        USER,
        anthropic_message(("toolu_1", "get_order", {"id": 42})),
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "shipped"}],
        },
    ]
    openai_shape = messages_to_openai(history)
    assert openai_shape[1]["tool_calls"][0]["function"] == {
        "name": "get_order",
        "arguments": '{"id": 42}',
    }
    anthropic_shape = messages_to_anthropic(history).messages
    assert anthropic_shape[1] == {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Let me look."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_order", "input": {"id": 42}},
        ],
    }


# What is not understood is named ----------------------------------------------------------------


class NoRole(pydantic.BaseModel):
    text: str = "hi"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"role": 3, "content": "x"}, r"messages\[2\]\.role must be a string, got int"),
        ({"role": "user", "content": 5}, r"messages\[2\]\.content must be a string, a list"),
        ({"role": "user", "content": [[1]]}, r"messages\[2\]\.content\[0\] must be a content"),
        ({"role": "user", "content": [{"type": 1}]}, r"messages\[2\]\.content\[0\]\.type"),
        ({"role": "assistant", "tool_calls": "f"}, r"messages\[2\]\.tool_calls must be a list"),
        (
            {"role": "assistant", "tool_calls": [{"function": "f"}]},
            r"messages\[2\]\.tool_calls\[0\]\.function must be a mapping",
        ),
        ({"content": "x"}, r"messages\[2\] has no 'role' key"),
        ({"type": 7}, r"messages\[2\]\.type must be a string"),
        ({"type": "message", "content": "x"}, r"messages\[2\]: a Responses 'message' item"),
        (NoRole(), r"messages\[2\]: a NoRole has no 'role'"),
        (42, r"messages\[2\] must be a message .*got int"),
    ],
)
@pytest.mark.anyio
async def test_bad_shapes_name_the_index_and_the_field(bad: Any, message: str) -> None:
    router = scripted_router()
    with pytest.raises(ConfigurationError, match=message):
        await router.complete([SYSTEM, USER, bad])


# Any JSON: scans or is named (property) ----------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
KEYS = st.sampled_from(
    [
        "role",
        "content",
        "tool_calls",
        "tool_call_id",
        "type",
        "function",
        "name",
        "arguments",
        "input",
        "output",
        "call_id",
        "is_error",
        "status",
        "text",
        "summary",
        "id",
    ]
)
VALUES = st.one_of(
    JSON,
    st.sampled_from(
        [
            "user",
            "assistant",
            "tool",
            "system",
            "function_call",
            "reasoning",
            "function_call_output",
            "tool_use",
            "tool_result",
            "text",
            "message",
        ]
    ),
)
SHAPED = st.dictionaries(KEYS, VALUES, max_size=5)
NESTED = st.dictionaries(KEYS, st.one_of(VALUES, st.lists(SHAPED, max_size=3), SHAPED), max_size=5)
MESSAGE = st.one_of(NESTED, JSON)


def _named_or_ok(run: Callable[[], object]) -> None:
    try:
        run()
    except ConfigurationError as exc:
        assert str(exc).startswith("messages[")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(MESSAGE, max_size=5))
def test_any_json_message_scans_or_is_named(messages: list[Any]) -> None:
    _named_or_ok(lambda: scan(messages))
    _named_or_ok(lambda: messages_to_openai(messages))
    _named_or_ok(lambda: messages_to_anthropic(messages))
    derive_session_key(messages)  # never raises: it only looks for the first system and user
