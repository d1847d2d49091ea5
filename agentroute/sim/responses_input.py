"""What a Responses API request may contain, checked the way the API checks it.

:meth:`ResponsesInput.from_body` validates a ``POST …/v1/responses`` body and raises
:class:`~agentroute.sim.faults.InvalidRequest` (a 400 with the OpenAI error body) naming the
parameter, with the API's own wording: ``Missing required parameter: 'input[2].call_id'.``
(``missing_required_parameter``), ``Invalid type for 'input': expected …, but got … instead.``
(``invalid_type``), ``Invalid value: 'tool'. Supported values are: …`` (``invalid_value``),
``No tool call found for function call output with call_id …`` (``param: "input"``), a Chat-shaped
tool (``{"type": "function", "function": {...}}``) as ``Missing required parameter:
'tools[0].name'.``

Accepted: ``model``; ``input`` as a string or a list of items — ``message`` items (``type``
optional; role ``user``, ``assistant``, ``system`` or ``developer``; ``content`` a string or parts:
``input_text``, ``input_image``, ``input_file`` for the caller's roles, ``output_text`` and
``refusal`` for the assistant's), ``function_call`` (``call_id``, ``name``, ``arguments``),
``function_call_output`` (``call_id``, ``output`` as a string or content parts) and ``reasoning``
items (``summary``) — plus ``instructions``, function ``tools`` (flat: ``{"type": "function",
"name", "parameters", ...}``), ``tool_choice``, ``max_output_tokens`` (≥ 16), ``temperature``,
``top_p``, ``metadata``, ``parallel_tool_calls``, ``store`` and ``stream``. Unknown top-level
parameters are ignored.

The simulator keeps no server-side state, so whatever refers to it is refused with a 400 that
says so and names the parameter: ``previous_response_id`` (code ``previous_response_not_found``,
as the API answers for a response it does not have: a client that falls back to sending the whole
conversation works unchanged), ``conversation``, ``background: true`` and ``item_reference``
items. Item types and tools other than the ones above are refused too (the simulated model could
not answer them faithfully).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Self

from agentroute.sim.faults import InvalidRequest

__all__ = ["ResponsesInput"]

ROLES = ("user", "assistant", "system", "developer")
ITEM_TYPES = ("message", "function_call", "function_call_output", "reasoning")
CALLER_PARTS = ("input_text", "input_image", "input_file")
ASSISTANT_PARTS = ("output_text", "refusal")
TOOL_CHOICES = ("none", "auto", "required")
MIN_OUTPUT_TOKENS = 16
_STATELESS = "The agentroute simulator is stateless: it stores no responses or conversations"
_SEND_INPUT = "send the whole conversation in 'input' instead"


@dataclass(frozen=True, slots=True)
class ResponsesInput:
    """The validated parts of a Responses API request. ``items`` is the input as a list (a
    string ``input`` becomes one user message ``{"role": "user", "content": input}``)."""

    model: str
    items: tuple[Mapping[str, Any], ...]
    instructions: str | None = None
    tools: tuple[Mapping[str, Any], ...] = ()
    tool_choice: str | Mapping[str, Any] = "auto"
    max_output_tokens: int | None = None
    temperature: float = 1.0
    top_p: float = 1.0
    metadata: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    parallel_tool_calls: bool = True
    store: bool = True
    stream: bool = False

    @classmethod
    def from_body(cls, data: object) -> Self:
        """Validate a decoded JSON body; :class:`InvalidRequest` names what is wrong."""
        if not isinstance(data, Mapping):
            raise InvalidRequest("We could not parse the JSON body of your request.")
        _refuse_state(data)
        model = data.get("model")
        if model is None or model == "":
            raise _missing("model")
        if not isinstance(model, str):
            raise _wrong_type("model", "a string", model)
        instructions = _optional(data, "instructions", str, "a string")
        max_output = _optional(data, "max_output_tokens", int, "an integer")
        if max_output is not None and max_output < MIN_OUTPUT_TOKENS:
            raise InvalidRequest(
                "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= "
                f"{MIN_OUTPUT_TOKENS}, but got {max_output} instead.",
                param="max_output_tokens",
                code="integer_below_min_value",
            )
        return cls(
            model=model,
            items=_items(data.get("input")),
            instructions=instructions,
            tools=_tools(data.get("tools")),
            tool_choice=_tool_choice(data.get("tool_choice")),
            max_output_tokens=max_output,
            temperature=_number(data, "temperature", 2.0),
            top_p=_number(data, "top_p", 1.0),
            metadata=_metadata(data.get("metadata")),
            parallel_tool_calls=_flag(data, "parallel_tool_calls", True),
            store=_flag(data, "store", True),
            stream=_flag(data, "stream", False),
        )


# ---- errors in the API's wording ----------------------------------------------------------


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def _missing(param: str) -> InvalidRequest:
    return InvalidRequest(
        f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter"
    )


def _wrong_type(param: str, expected: str, value: object) -> InvalidRequest:
    return InvalidRequest(
        f"Invalid type for '{param}': expected {expected}, but got {_json_kind(value)} instead.",
        param=param,
        code="invalid_type",
    )


def _bad_value(
    param: str, value: object, supported: Sequence[str], why: str = ""
) -> InvalidRequest:
    listed = ", ".join(f"'{s}'" for s in supported[:-1]) + f", and '{supported[-1]}'"
    if len(supported) == 2:
        listed = f"'{supported[0]}' and '{supported[1]}'"
    return InvalidRequest(
        f"Invalid value: '{value}'. Supported values are: {listed}.{why}",
        param=param,
        code="invalid_value",
    )


# ---- top-level parameters -----------------------------------------------------------------


def _refuse_state(data: Mapping[str, Any]) -> None:
    previous = data.get("previous_response_id")
    if previous is not None:
        if not isinstance(previous, str):
            raise _wrong_type("previous_response_id", "a string", previous)
        raise InvalidRequest(
            f"Previous response with id '{previous}' not found. {_STATELESS}, so it cannot "
            f"continue a previous response: {_SEND_INPUT} (the earlier input items, each "
            "response's output items and your function_call_output items).",
            param="previous_response_id",
            code="previous_response_not_found",
        )
    if data.get("conversation") is not None:
        raise InvalidRequest(
            f"{_STATELESS}, so 'conversation' is not supported: {_SEND_INPUT}.",
            param="conversation",
        )
    if data.get("background"):
        raise InvalidRequest(
            f"{_STATELESS}, so a background response could never be retrieved: leave "
            "'background' unset or false.",
            param="background",
        )


def _optional(data: Mapping[str, Any], name: str, kind: type, expected: str) -> Any:
    value = data.get(name)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise _wrong_type(name, expected, value)
    return value


def _flag(data: Mapping[str, Any], name: str, default: bool) -> bool:
    value = data.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _wrong_type(name, "a boolean", value)
    return value


def _number(data: Mapping[str, Any], name: str, top: float) -> float:
    value = data.get(name)
    if value is None:
        return 1.0
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise _wrong_type(name, "a number", value)
    if not 0 <= value <= top:
        raise InvalidRequest(
            f"Invalid '{name}': expected a value between 0 and {top:g}, but got {value} instead.",
            param=name,
            code="invalid_value",
        )
    return float(value)


def _metadata(value: object) -> Mapping[str, str]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping):
        raise _wrong_type("metadata", "an object", value)
    for key, v in value.items():
        if not isinstance(v, str):
            raise _wrong_type(f"metadata.{key}", "a string", v)
    return MappingProxyType(dict(value))


def _tools(value: object) -> tuple[Mapping[str, Any], ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _wrong_type("tools", "an array", value)
    for i, tool in enumerate(value):
        at = f"tools[{i}]"
        if not isinstance(tool, Mapping):
            raise _wrong_type(at, "an object", tool)
        kind = tool.get("type")
        if kind is None:
            raise _missing(f"{at}.type")
        if kind != "function":
            raise _bad_value(
                f"{at}.type", kind, ("function",), " The simulator runs only function tools."
            )
        name = tool.get("name")
        if name is None:  # also a Chat-shaped tool: {"type": "function", "function": {...}}
            raise _missing(f"{at}.name")
        if not isinstance(name, str) or not name:
            raise _wrong_type(f"{at}.name", "a non-empty string", name)
        parameters = tool.get("parameters")
        if parameters is not None and not isinstance(parameters, Mapping):
            raise _wrong_type(f"{at}.parameters", "an object", parameters)
    return tuple(value)


def _tool_choice(value: object) -> str | Mapping[str, Any]:
    if value is None:
        return "auto"
    if isinstance(value, str):
        if value not in TOOL_CHOICES:
            raise _bad_value("tool_choice", value, TOOL_CHOICES)
        return value
    if not isinstance(value, Mapping):
        raise _wrong_type("tool_choice", "a string or an object", value)
    if value.get("type") != "function":
        raise _bad_value(
            "tool_choice.type",
            value.get("type"),
            ("function",),
            " The simulator runs only function tools.",
        )
    _text_field(value, "name", "tool_choice")
    return {"type": "function", "name": value["name"]}


# ---- input items --------------------------------------------------------------------------


def _items(value: object) -> tuple[Mapping[str, Any], ...]:
    if value is None:
        raise _missing("input")
    if isinstance(value, str):
        return ({"role": "user", "content": value},)
    if not isinstance(value, list):
        raise _wrong_type("input", "one of a string or an array of input items", value)
    if not value:
        raise InvalidRequest(
            "Invalid 'input': empty array. Expected an array with minimum length 1, but got an "
            "empty array instead.",
            param="input",
            code="empty_array",
        )
    calls: set[str] = set()
    answered: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise _wrong_type(f"input[{i}]", "an object", item)
        kind = _item_type(item, i)
        if kind == "message":
            _message(item, i)
        elif kind == "function_call":
            for name in ("call_id", "name", "arguments"):
                _text_field(item, name, f"input[{i}]")
            calls.add(item["call_id"])
        elif kind == "function_call_output":
            _output(item, i)
            answered.append(item["call_id"])
        else:
            summary = item.get("summary")
            if summary is None:
                raise _missing(f"input[{i}].summary")
            if not isinstance(summary, list):
                raise _wrong_type(f"input[{i}].summary", "an array", summary)
    for call_id in answered:
        if call_id not in calls:
            raise InvalidRequest(
                f"No tool call found for function call output with call_id {call_id}.",
                param="input",
            )
    return tuple(value)


def _item_type(item: Mapping[str, Any], i: int) -> str:
    kind = item.get("type")
    if kind is None:
        if "role" in item:
            return "message"  # an "easy" input message
        raise _missing(f"input[{i}].type")
    if kind == "item_reference":
        raise InvalidRequest(
            f"{_STATELESS}, so an item_reference cannot be resolved: send the item itself.",
            param=f"input[{i}]",
        )
    if kind not in ITEM_TYPES:
        why = " The simulator does not simulate the other item types."
        raise _bad_value(f"input[{i}].type", kind, ITEM_TYPES, why)
    return str(kind)


def _text_field(item: Mapping[str, Any], name: str, at: str) -> None:
    value = item.get(name)
    if value is None:
        raise _missing(f"{at}.{name}")
    if not isinstance(value, str):
        raise _wrong_type(f"{at}.{name}", "a string", value)


def _message(item: Mapping[str, Any], i: int) -> None:
    at = f"input[{i}]"
    role = item.get("role")
    if role is None:
        raise _missing(f"{at}.role")
    if role not in ROLES:
        raise _bad_value(f"{at}.role", role, ROLES)
    content = item.get("content")
    if content is None:
        raise _missing(f"{at}.content")
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise _wrong_type(f"{at}.content", "one of a string or an array of content parts", content)
    allowed = ASSISTANT_PARTS if role == "assistant" else CALLER_PARTS
    for j, part in enumerate(content):
        _part(part, f"{at}.content[{j}]", allowed)


def _part(part: object, at: str, allowed: Sequence[str]) -> None:
    if not isinstance(part, Mapping):
        raise _wrong_type(at, "an object", part)
    kind = part.get("type")
    if kind is None:
        raise _missing(f"{at}.type")
    if kind not in allowed:
        raise _bad_value(at, kind, allowed)
    if kind in ("input_text", "output_text"):
        _text_field(part, "text", at)
    elif kind == "refusal":
        _text_field(part, "refusal", at)
    elif kind == "input_image" and part.get("image_url") is None and part.get("file_id") is None:
        raise _missing(f"{at}.image_url")


def _output(item: Mapping[str, Any], i: int) -> None:
    at = f"input[{i}]"
    _text_field(item, "call_id", at)
    output = item.get("output")
    if output is None:
        raise _missing(f"{at}.output")
    if isinstance(output, list):
        for j, part in enumerate(output):
            _part(part, f"{at}.output[{j}]", CALLER_PARTS)
    elif not isinstance(output, str):
        raise _wrong_type(f"{at}.output", "one of a string or an array of content parts", output)
