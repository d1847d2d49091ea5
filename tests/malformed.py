"""Hand-written malformed and hostile inputs, with what each entry point must do with them.

Shared by ``test_malformed_input.py`` (every case through every entry point) and the fuzz test.
Each :class:`Case` says where the router must refuse it (a ConfigurationError whose message
starts with the given location: the message index and field, or the argument), or ``None``
when it must be routed:

* ``read``: the router reading the conversation (every entry point, and the scan);
* ``call``: ``complete()``/``stream()`` arguments (``tools``, ``hints``), which ``wrap()`` does
  not check (a wrapped function's own ``tools`` are only counted);
* ``wire``: the built-in HTTP providers, which must send JSON, for the ``kinds`` listed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import httpx

Msg = dict[str, Any]


def nested_list(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


def nested_dict(depth: int) -> Any:
    value: Any = {}
    for _ in range(depth):
        value = {"a": value}
    return value


DEEP = 1000
DEEP_TEXT = '{"a":' * DEEP + "1" + "}" * DEEP
"""A tool's 1,000-level JSON document as text (about 6 KB)."""
DEEP_LIST_TEXT = "[" * DEEP + "]" * DEEP
DEEP_ERROR_TEXT = '{"error": ' + DEEP_LIST_TEXT + "}"
CYCLE: list[Any] = []
CYCLE.append(CYCLE)
CYCLE_DICT: dict[str, Any] = {}
CYCLE_DICT["a"] = CYCLE_DICT
HUGE = 10**5000
"""An integer ``str()`` refuses (more than 4,300 digits)."""
LONE = "\ud800"
"""A lone surrogate: a str UTF-8 cannot encode."""

SYSTEM: Msg = {"role": "system", "content": "sys"}
USER: Msg = {"role": "user", "content": "hi"}


def call(name: Any = "f", args: Any = "{}", id: Any = "c1") -> Msg:
    return {"id": id, "type": "function", "function": {"name": name, "arguments": args}}


def calls(*tool_calls: Any) -> Msg:
    return {"role": "assistant", "content": None, "tool_calls": list(tool_calls)}


def tool_use(value: Any, name: Any = "f") -> Msg:
    block = {"type": "tool_use", "id": "t1", "name": name, "input": value}
    return {"role": "assistant", "content": [block]}


def tool_result(content: Any) -> Msg:
    block = {"type": "tool_result", "tool_use_id": "t1", "content": content}
    return {"role": "user", "content": [block]}


def tool_message(content: Any) -> Msg:
    return {"role": "tool", "tool_call_id": "c1", "content": content}


def function_call(arguments: Any = "{}", name: Any = "f", call_id: Any = "c1") -> Msg:
    return {"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments}


def function_output(output: Any) -> Msg:
    return {"type": "function_call_output", "call_id": "c1", "output": output}


BOTH = ("openai", "anthropic")


class RaisingMessage:
    """A message object whose attributes raise when read (a broken property)."""

    @property
    def role(self) -> str:
        raise RuntimeError("broken property")

    content = "x"


@dataclass(frozen=True, repr=False)
class Case:
    name: str
    messages: Any
    kwargs: dict[str, Any] = field(default_factory=dict)
    read: str | None = None
    call: str | None = None
    wire: str | None = None
    kinds: tuple[str, ...] = BOTH

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:  # the values themselves may have no repr (a huge int, a cycle)
        return f"Case({self.name!r})"


def _cases() -> list[Case]:
    out: list[Case] = []

    def add(name: str, messages: Any, **kw: Any) -> None:
        out.append(Case(name, messages, **kw))

    # role
    for label, role, where in [
        ("list", ["user"], "messages[1].role must be a string"),
        ("dict", {"r": 1}, "messages[1].role must be a string"),
        ("int", 5, "messages[1].role must be a string"),
        ("bytes", b"user", "messages[1].role must be a string"),
        ("none", None, "messages[1] has no 'role'"),
    ]:
        add(f"role-{label}", [SYSTEM, {"role": role, "content": "x"}], read=where)
    for label, role in [("unknown", "wizard"), ("surrogate", LONE)]:
        add(f"role-{label}", [SYSTEM, {"role": role, "content": "x"}], wire="messages[1].role")
    # tool_calls that are not tool calls
    where = "messages[2].tool_calls"
    for label, tool_calls, at in [
        ("string", "abc", where + " must be a list"),
        ("dict", {"a": 1}, where + " must be a list"),
        ("int", 5, where + " must be a list"),
        ("int-item", [1], where + "[0] must be a tool call"),
        ("str-item", ["x"], where + "[0] must be a tool call"),
        ("none-item", [None], where + "[0] must be a tool call"),
        ("list-item", [[1]], where + "[0] must be a tool call"),
        ("function-int", [{"function": 5}], where + "[0].function must be a mapping"),
        ("function-list", [{"function": [1]}], where + "[0].function must be a mapping"),
        ("custom-int", [{"type": "custom", "custom": 5}], where + "[0].function must be"),
    ]:
        add(f"tool_calls-{label}", [SYSTEM, USER, {"role": "assistant", "tool_calls": tool_calls}],
            read=at)  # fmt: skip
    # tool-call arguments and names: read as text; sent only when JSON can carry them
    args = where + "[0].function.arguments"
    for label, tool_call, wire in [
        ("name-int", call(name=5, args=5), None),
        ("name-list", call(name=["x"]), None),
        ("name-surrogate", call(name=LONE), None),
        ("id-list", call(id=[1]), None),
        ("id-huge", call(id=HUGE), None),
        ("id-surrogate", call(id=LONE), None),
        ("args-bytes", call(args={"b": b"x"}), args + ".b: a value of type bytes"),
        ("args-set", call(args={1, 2}), args + ": a value of type set"),
        ("args-nan", call(args={"x": math.nan}), args + ".x: a NaN or infinity"),
        ("args-inf", call(args={"x": -math.inf}), args + ".x: a NaN or infinity"),
        ("args-huge", call(args={"n": HUGE}), args + ".n: an integer of more than"),
        ("args-cycle", call(args=CYCLE), args + "[0]: a value that contains itself"),
        ("args-tuple-key", call(args={(1, 2): 3}), args + "[(1, 2)]: a key of type tuple"),
        ("args-int-keys", call(args={1: 2, "a": 3}), None),
        ("args-deep", call(args=nested_dict(DEEP)), None),
        ("args-deep-text", call(args=DEEP_TEXT), None),
        ("args-surrogate", call(args='{"a": "' + LONE + '"}'), None),
        ("langchain-bytes", {"name": "f", "args": {"b": b"x"}, "id": "c1"}, None),
        ("langchain-deep", {"name": "f", "args": nested_dict(DEEP), "id": "c1"}, None),
        ("langchain-cycle", {"name": "f", "args": CYCLE_DICT, "id": "c1"}, None),
        ("langchain-huge", {"name": "f", "args": {"n": HUGE}, "id": "c1"}, None),
        ("langchain-name-list", {"name": [1], "args": {}, "id": "c1"}, None),
    ]:
        add(f"tool_calls-{label}", [SYSTEM, USER, calls(tool_call), tool_message("ok")], wire=wire)
    # tool_use.input: a model's arguments as an object
    at = "messages[2].content[0].input"
    for label, value, wire in [
        ("bytes", {"b": b"x"}, at + ".b: a value of type bytes"),
        ("set", {"s": {1, 2}}, at + ".s: a value of type set"),
        ("raw-bytes", b"x", at + ": a value of type bytes"),
        ("raw-set", {1, 2}, at + ": a value of type set"),
        ("object", object(), at + ": a value of type object"),
        ("nan", {"x": math.nan}, at + ".x: a NaN or infinity"),
        ("huge", {"n": HUGE}, at + ".n: an integer of more than"),
        ("cycle", CYCLE, at + "[0]: a value that contains itself"),
        ("cycle-dict", CYCLE_DICT, at + ".a: a value that contains itself"),
        ("tuple-key", {(1,): 2}, at + "[(1,)]: a key of type tuple"),
        ("int-key", {1: 2}, None),
        ("str", "text", None),
        ("int", 5, None),
        ("deep", nested_dict(DEEP), None),
        ("deep-list", nested_list(DEEP), None),
        ("surrogate", {"a": LONE}, None),
        ("surrogate-key", {LONE: 1}, None),
    ]:
        add(f"tool_use.input-{label}", [SYSTEM, USER, tool_use(value), tool_result("ok")],
            wire=wire)  # fmt: skip
    for label, name in [("name-list", ["x"]), ("name-surrogate", LONE)]:
        add(f"tool_use-{label}", [SYSTEM, USER, tool_use({}, name=name), tool_result("ok")])
    add("tool_use-name-huge", [SYSTEM, USER, tool_use({}, name=HUGE), tool_result("ok")],
        wire="messages[2].content[0].name: an integer of more than")  # fmt: skip
    # tool results: data from a tool, never refused (sent as text when it is not text)
    for label, content in [
        ("deep-text", DEEP_TEXT),
        ("deep-list-text", DEEP_LIST_TEXT),
        ("deep-error-text", DEEP_ERROR_TEXT),
        ("deep-dict", nested_dict(DEEP)),
        ("deep-list", nested_list(DEEP)),
        ("huge", HUGE),
        ("nan", math.nan),
        ("bytes", b"x\xff"),
        ("set", {1, 2}),
        ("cycle", CYCLE),
        ("cycle-dict", CYCLE_DICT),
        ("surrogate", LONE),
        ("dict", {"a": 1}),
        ("error-dict", {"error": "boom"}),
        ("int-list", [1, 2]),
        ("object", object()),
        ("tuple-key", {(1,): 2}),
        ("text-block-deep", [{"type": "text", "text": "x", "extra": nested_dict(DEEP)}]),
        ("text-block-int", [{"type": "text", "text": 5}]),
        ("text-block-deep-text", [{"type": "text", "text": nested_list(DEEP)}]),
        ("type-list", [{"type": []}]),
    ]:
        add(f"tool-content-{label}", [SYSTEM, USER, calls(call()), tool_message(content)])
        add(f"tool_result-content-{label}", [SYSTEM, USER, tool_use({}), tool_result(content)])
        add(f"function_call_output-{label}",
            [SYSTEM, USER, function_call(), function_output(content)])  # fmt: skip
    # contents of user, system and assistant messages
    for label, content, read in [
        ("dict", {"a": 1}, ".content must be a string, a list of content parts or null"),
        ("int", 5, ".content must be a string, a list of content parts or null"),
        ("huge", HUGE, ".content must be a string, a list of content parts or null"),
        ("nan", math.nan, ".content must be a string, a list of content parts or null"),
        ("bytes", b"x", ".content must be a string, a list of content parts or null"),
        ("cycle", CYCLE, ".content[0] must be a content part"),
        ("deep-list", nested_list(DEEP), ".content[0] must be a content part"),
        ("int-list", [1, 2], ".content[0] must be a content part"),
        ("list-item", [[1]], ".content[0] must be a content part"),
        ("type-list", [{"type": ["text"], "text": "x"}], ".content[0].type must be a string"),
        ("surrogate", LONE, None),
        ("surrogate-block", [{"type": "text", "text": LONE}], None),
        ("text-int", [{"type": "text", "text": 5}], None),
        ("text-deep", [{"type": "text", "text": nested_list(DEEP)}], None),
        ("image-url-int", [{"type": "image_url", "image_url": 5}], None),
        ("image-source-int", [{"type": "image", "source": 5}], None),
        ("int-key", [{1: 2, "type": "text", "text": "x"}], None),
        ("bad-tool_result", [{"type": "tool_result", "tool_use_id": [1], "is_error": "y"}], None),
    ]:
        for role, at, history in [
            ("user", 1, lambda m: [SYSTEM, m]),
            ("system", 0, lambda m: [m, USER]),
            ("assistant", 2, lambda m: [SYSTEM, USER, m, USER]),
        ]:
            where = f"messages[{at}]"
            add(f"{role}-content-{label}", history({"role": role, "content": content}),
                read=None if read is None else where + read)  # fmt: skip
    text_cycle = [{"type": "text", "text": CYCLE}]
    for role, at, history in [
        ("user", 1, lambda m: [SYSTEM, m]),
        ("system", 0, lambda m: [m, USER]),
        ("assistant", 2, lambda m: [SYSTEM, USER, m, USER]),
    ]:
        add(f"{role}-content-text-cycle", history({"role": role, "content": text_cycle}),
            wire=f"messages[{at}].content[0].text[0]: a value that contains itself")  # fmt: skip
    for label, block, wire in [
        ("tuple-key", {"type": "image", 1: 2, (1,): 3}, "[(1,)]: a key of type tuple"),
        ("deep", {"type": "image", "x": nested_list(DEEP)}, None),
        ("huge", {"type": "image", "x": HUGE}, ".x: an integer of more than"),
        ("cycle", {"type": "image", "x": CYCLE}, ".x[0]: a value that contains itself"),
        ("nan", {"type": "image", "x": math.nan}, ".x: a NaN or infinity"),
    ]:
        # an image block without a source: the OpenAI conversion drops it, Anthropic sends it
        add(f"image-block-{label}", [SYSTEM, {"role": "user", "content": [block]}],
            wire=None if wire is None else "messages[1].content[0]" + wire,
            kinds=("anthropic",))  # fmt: skip
    # other fields of a message
    user = {"role": "user", "content": "x"}
    add("message-int-key", [SYSTEM, {1: "x", **user}])
    add("message-tuple-key", [SYSTEM, {(1,): "x", **user}],
        wire="messages[1][(1,)]: a key of type tuple", kinds=("openai",))  # fmt: skip
    add("message-name-list", [SYSTEM, {**user, "name": [1]}])
    add("message-name-deep", [SYSTEM, {**user, "name": nested_list(DEEP)}])
    add("message-extra-bytes", [SYSTEM, {**user, "extra": b"x"}],
        wire="messages[1].extra: a value of type bytes", kinds=("openai",))  # fmt: skip
    add("message-extra-deep", [SYSTEM, {**user, "extra": nested_dict(DEEP)}])
    answered = [SYSTEM, USER, calls(call())]
    add("tool_call_id-list", [*answered, {"role": "tool", "tool_call_id": [1], "content": "x"}])
    add("tool_call_id-huge", [*answered, {"role": "tool", "tool_call_id": HUGE, "content": "x"}])
    add("tool-flags-list",
        [*answered, {**tool_message("x"), "is_error": [1], "status": [1]}])  # fmt: skip
    # Responses items
    add("item-type-list", [SYSTEM, USER, {"type": ["function_call"]}],
        read="messages[2].type must be a string")  # fmt: skip
    add("item-unknown", [SYSTEM, USER, {"type": "wizard"}], wire="messages[2]: a Responses")
    add("item-arguments-bytes", [SYSTEM, USER, function_call({"b": b"x"})],
        wire="messages[2].arguments.b: a value of type bytes")  # fmt: skip
    add("item-arguments-cycle", [SYSTEM, USER, function_call(CYCLE)],
        wire="messages[2].arguments[0]: a value that contains itself")  # fmt: skip
    add("item-arguments-deep", [SYSTEM, USER, function_call(nested_dict(DEEP))])
    add("item-names-list", [SYSTEM, USER, function_call(name=[1], call_id=[1])])
    add("item-reasoning-summary", [SYSTEM, USER,
        {"type": "reasoning", "summary": [[1], 5, nested_list(DEEP)]}])  # fmt: skip
    add("item-message-content", [SYSTEM, {"type": "message", "role": "user", "content": [[1]]}],
        read="messages[1].content[0] must be a content part")  # fmt: skip
    add("item-message-role-list", [SYSTEM, {"type": "message", "role": [1], "content": "x"}],
        read="messages[1].role must be a string")  # fmt: skip
    # messages that are not messages, and message lists that are not lists
    for label, item in [("list", [1, 2]), ("cycle", CYCLE), ("int", 5), ("none", None)]:
        add(f"message-is-{label}", [SYSTEM, item], read="messages[1] must be a message")
    for label, messages in [
        ("dict", {"role": "user"}),
        ("int", 5),
        ("bytes", b"x"),
        ("set", {1, 2}),
        ("none", None),
    ]:
        add(f"messages-{label}", messages, read="messages must be a list")
    add("message-attributes-raise", [SYSTEM, RaisingMessage()],
        read="messages[1]: a RaisingMessage could not be read")  # fmt: skip
    add("messages-tuple", (SYSTEM, USER))
    add("messages-surrogate-string", LONE)
    # tools, hints, other call parameters
    function = {"type": "function", "function": {"name": "f"}}
    for label, tools, where in [
        ("int", 5, "tools must be a list"),
        ("str", "x", "tools must be a list"),
        ("dict", {"a": 1}, "tools must be a list"),
        ("int-item", [5], "tools[0] must be a tool definition"),
        ("str-item", ["x"], "tools[0] must be a tool definition"),
    ]:
        add(f"tools-{label}", [SYSTEM, USER], kwargs={"tools": tools}, call=where)
    for label, tool, wire, kinds in [
        ("function-int", {"type": "function", "function": 5}, None, BOTH),
        ("parameters-int", {**function, "function": {"name": "f", "parameters": 5}}, None, BOTH),
        ("parameters-bytes",
         {**function, "function": {"name": "f", "parameters": {"x": b"y"}}},
         "tools[0].function.parameters.x: a value of type bytes", BOTH),
        ("parameters-deep",
         {**function, "function": {"name": "f", "parameters": nested_dict(DEEP)}}, None, BOTH),
        ("cycle", CYCLE_DICT, "tools[0].a: a value that contains itself", ("anthropic",)),
        ("schema-nan", {"name": "f", "input_schema": {"x": math.nan}},
         "tools[0].input_schema.x: a NaN or infinity", BOTH),
        ("name-surrogate", {"type": "function", "function": {"name": LONE}}, None, BOTH),
    ]:  # fmt: skip
        add(f"tools-{label}", [SYSTEM, USER], kwargs={"tools": [tool]}, wire=wire, kinds=kinds)
    for label, hints, where in [
        ("str", "x", "hints must be a mapping"),
        ("int", 5, "hints must be a mapping"),
        ("list", [1], "hints must be a mapping"),
        ("min_tier-int", {"min_tier": 5}, "hint min_tier=5 is not a tier"),
        ("min_tier-deep", {"min_tier": nested_list(DEEP)}, "hint min_tier="),
        ("min_tier-huge", {"min_tier": HUGE}, "hint min_tier=<int of"),
        ("min_tier-cycle", {"min_tier": CYCLE}, "hint min_tier="),
        ("task_type-list", {"task_type": [1], "plan": {"a": 1}}, None),
        ("int-key", {1: 2}, None),
    ]:
        add(f"hints-{label}", [SYSTEM, USER], kwargs={"hints": hints}, call=where)
    system_error = "the system prompt (system= or instructions=) must be a string"
    for label, kwargs, wire in [
        ("system-list", {"system": [[1]]}, "the system prompt[0] must be a content part"),
        ("system-int", {"system": 5}, system_error),
        ("system-deep", {"system": nested_list(DEEP)}, "the system prompt[0] must be a content"),
        ("system-surrogate", {"system": LONE}, None),
        ("instructions-list", {"instructions": [5]}, "the system prompt[0] must be a content"),
        ("temperature-bytes", {"temperature": b"x"}, "temperature: a value of type bytes"),
        ("temperature-nan", {"temperature": math.nan}, "temperature: a NaN or infinity"),
        ("metadata-deep", {"metadata": nested_dict(DEEP)}, None),
        ("user-surrogate", {"user": LONE}, None),
        ("temperature-huge", {"temperature": HUGE}, "temperature: an integer of more than"),
        ("stop-int", {"stop": 5}, None),
        ("stop_sequences-int", {"stop_sequences": 5}, None),
        ("system-type-list", {"system": [{"type": []}]}, "the system prompt[0].type must be"),
    ]:
        add(f"param-{label}", [USER], kwargs=kwargs, wire=wire)
    add("param-metadata-cycle", [SYSTEM, USER], kwargs={"metadata": CYCLE_DICT},
        wire="metadata.a: a value that contains itself", kinds=("openai",))  # fmt: skip
    # the first user message (the implicit session's key)
    for label, content in [
        ("surrogate", "a" + LONE),
        ("blocks-surrogate", [{"type": "text", "text": LONE}]),
    ]:
        add(f"first-user-{label}", [SYSTEM, {"role": "user", "content": content}])
    return out


CASES = _cases()


# A provider that answers every request over httpx.MockTransport ----------------------------------

OPENAI_ANSWER = {
    "id": "x",
    "object": "chat.completion",
    "created": 1,
    "model": "m",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}
ANTHROPIC_ANSWER = {
    "id": "m",
    "type": "message",
    "role": "assistant",
    "model": "m",
    "content": [{"type": "text", "text": "ok"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 1, "output_tokens": 1},
}


def _sse(*events: tuple[str | None, Any]) -> bytes:
    lines: list[str] = []
    for name, data in events:
        if name:
            lines.append(f"event: {name}")
        lines.append("data: " + (data if isinstance(data, str) else json.dumps(data)))
        lines.append("")
    return ("\n".join(lines) + "\n").encode()


def _chunk(delta: Msg, finish: str | None = None) -> Msg:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return {"id": "x", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [choice]}  # fmt: skip


OPENAI_STREAM = _sse(
    (None, _chunk({"role": "assistant", "content": "ok"})),
    (None, _chunk({}, "stop")),
    (None, {**_chunk({}), "choices": [], "usage": OPENAI_ANSWER["usage"]}),
    (None, "[DONE]"),
)
ANTHROPIC_STREAM = _sse(
    ("message_start", {"type": "message_start",
                       "message": {**ANTHROPIC_ANSWER, "content": [], "stop_reason": None}}),
    ("content_block_start", {"type": "content_block_start", "index": 0,
                             "content_block": {"type": "text", "text": ""}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 0,
                             "delta": {"type": "text_delta", "text": "ok"}}),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                       "usage": {"output_tokens": 1}}),
    ("message_stop", {"type": "message_stop"}),
)  # fmt: skip


class Answerer:
    """A MockTransport handler answering both wire formats, streamed or not; it keeps the
    request bodies, and checks each is UTF-8 (a lone surrogate cannot be sent)."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = request.content
        body.decode("utf-8")  # strict: raises on anything UTF-8 cannot carry
        self.bodies.append(body)
        anthropic = request.url.path.endswith("/messages")
        if b'"stream":true' in body:
            stream = ANTHROPIC_STREAM if anthropic else OPENAI_STREAM
            return httpx.Response(
                200, content=stream, headers={"content-type": "text/event-stream"}
            )
        return httpx.Response(200, json=ANTHROPIC_ANSWER if anthropic else OPENAI_ANSWER)


def http_config(kind: str, base: dict[str, Any]) -> dict[str, Any]:
    """``base`` (a config dict) with one provider of ``kind`` serving every model."""
    url = "http://llm.test/v1" if kind == "openai" else "http://llm.test"
    config = {**base, "providers": {"p": {"kind": kind, "base_url": url, "api_key": "sk-test"}}}
    config["models"] = {
        name: {**model, "deployments": [{"provider": "p", "name": f"{name}-{kind}"}]}
        for name, model in base["models"].items()
    }
    return config
