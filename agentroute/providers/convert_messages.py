"""Chat messages between the OpenAI Chat Completions shape and the Anthropic Messages shape.

The router hands a provider whatever messages the agent loop keeps, and a session's next step may
go to the other provider, so each function here accepts either shape — message by message, a
mixed list included — and returns its own (idempotent: a list already in the target shape comes
back equal, only cleaned). The rules, checked against the ``openai`` and ``anthropic`` SDKs' param
types (``ChatCompletion*MessageParam``, ``MessageParam``, ``ToolResultBlockParam``,
``ImageBlockParam``) and the providers' API references:

* **System prompt**: OpenAI ``system``/``developer`` messages (wherever they are) ↔ Anthropic's
  top-level ``system`` (a string when there is one plain string, else text blocks); an Anthropic
  ``system`` becomes one leading ``system`` message.
* **Text and images**: strings stay strings; OpenAI parts ``text`` / ``image_url`` (an ``https``
  URL or a ``data:<type>;base64,`` URL) ↔ Anthropic blocks ``text`` / ``image`` (``url`` or
  ``base64`` source). ``detail`` is dropped; empty text is dropped (Anthropic rejects it).
* **Tool calls**: OpenAI ``tool_calls[{id, type: "function", function: {name, arguments}}]``
  (``arguments`` is JSON *text*) ↔ Anthropic ``tool_use{id, name, input}`` (``input`` is an
  *object*). Arguments that are not a JSON object travel as ``{"_raw_arguments": text}`` and
  come back as the same text.
* **Tool results**: each OpenAI ``role: "tool"`` message ↔ an Anthropic ``tool_result{tool_use_id,
  content, is_error}`` block; consecutive results (and a user message right after them) share one
  Anthropic ``user`` message, results first, as Anthropic requires. Images in a result, which an
  OpenAI tool message cannot hold, follow in a ``user`` message.
* **Error flag**: ``is_error: true`` becomes text starting ``"Error: "`` unless the text already
  reads as an error; the reverse sets ``is_error: true`` exactly when the tool-error detector
  says so — the router's configured one (:mod:`agentroute.policy.tool_errors`, the same the
  signals use), the ``default`` preset otherwise; the prefix is kept, so a second trip changes
  nothing. A *successful* Anthropic result whose text itself reads as an error comes back
  flagged: the OpenAI shape has no way to say otherwise.
* **Any input shape**: SDK message objects, a plain-string input and Responses API items are
  read first (:mod:`~agentroute.providers.convert_responses`); a LangChain tool message's
  ``status`` (read by the detector) is not sent on.
* **A tool's data**: a tool result that is neither text nor content parts (a number, a mapping,
  a list of values, a parsed JSON document of any depth; :func:`~agentroute.messages.
  is_content_parts`) becomes its JSON text on both sides. Arguments text is parsed only to
  :data:`~agentroute._json_text.MAX_PARSE_DEPTH` levels (deeper text travels as raw text).
  Arguments or an input given as an object that JSON cannot carry (bytes, a set, NaN, a
  cycle, …) is a ConfigurationError naming the message and the field
  (:mod:`~agentroute.providers.wire_json`).
* **Portability**: ``cache_control`` never reaches the OpenAI shape; OpenAI-only fields (message
  ``name``, ``refusal``, ``annotations``, ``audio``, legacy ``function_call``, parts ``refusal``,
  ``input_audio``, ``file``, ``prompt_cache_breakpoint``) never reach the Anthropic shape; Anthropic
  ``thinking``/``redacted_thinking``/``document`` blocks and ``citations`` are dropped for OpenAI.
  Tool-call ids are rewritten only where a side forbids them, identically in call and result
  (:func:`~agentroute.providers.convert_tools.anthropic_tool_id`, ``openai_tool_id``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agentroute._frozen import value_object
from agentroute._json_text import NotJSON, encode, parse, safe_repr, text_of
from agentroute._types import Message
from agentroute.errors import ConfigurationError
from agentroute.messages import checked_parts, is_content_parts
from agentroute.policy.tool_errors import (
    ToolErrorDetector,
    default_tool_error_detector,
    is_tool_error,
)
from agentroute.providers.convert_content import (
    ANTHROPIC_ONLY_BLOCKS,
    as_blocks,
    content_to_anthropic,
    content_to_openai,
    image_to_openai,
    part_to_anthropic,
    part_to_openai,
)
from agentroute.providers.convert_responses import chat_messages
from agentroute.providers.convert_tools import (
    ERROR_PREFIX,
    anthropic_tool_id,
    openai_tool_id,
    strip_cache_control,
)
from agentroute.providers.wire_json import located

__all__ = ["RAW_ARGUMENTS_KEY", "AnthropicMessages", "messages_to_anthropic", "messages_to_openai"]

RAW_ARGUMENTS_KEY = "_raw_arguments"
"""Key under which tool-call arguments that are not a JSON object travel in an Anthropic
``tool_use.input`` (which must be an object)."""


@value_object
class AnthropicMessages:
    """A conversation in Anthropic's shape: the top-level ``system`` and the ``messages``."""

    system: str | list[dict[str, Any]] | None
    messages: list[dict[str, Any]]


_ROLES = ("system", "developer", "user", "assistant", "tool")
_SEPARATORS = (", ", ": ")
"""Of arguments text made from an object (as ``json.dumps`` writes it by default)."""
_TOOL_MESSAGE_ONLY_KEYS = ("status", "is_error")
"""Keys of a tool message that the detector reads and no API takes."""


def _role(message: Message, index: int) -> str:
    role = message.get("role")
    if role not in _ROLES:
        raise ConfigurationError(
            f"messages[{index}].role: unsupported role {safe_repr(role)} "
            f"(one of {', '.join(_ROLES)})"
        )
    return str(role)


# To Anthropic ---------------------------------------------------------------------------------


def _arguments_to_input(arguments: object) -> dict[str, Any]:
    """Arguments as a ``tool_use.input`` object; text that is not a JSON object (or is nested
    deeper than :data:`~agentroute._json_text.MAX_PARSE_DEPTH`) travels as raw text. Raises
    NotJSON for a value that cannot be sent."""
    if isinstance(arguments, Mapping):
        return dict(arguments)
    if arguments is None or (isinstance(arguments, str) and not arguments):
        return {}
    text = arguments if isinstance(arguments, str) else encode(arguments, separators=_SEPARATORS)
    try:
        value = parse(text)
    except ValueError:
        return {RAW_ARGUMENTS_KEY: text}
    return value if isinstance(value, dict) else {RAW_ARGUMENTS_KEY: text}


def _data_text(value: object) -> str:
    """A tool result's data (not text, not content parts) as the text sent for it."""
    return text_of(value, ensure_ascii=False)


def _assistant_to_anthropic(message: Message) -> str | list[dict[str, Any]]:
    tool_calls = message.get("tool_calls") or ()
    content = content_to_anthropic(message.get("content"))
    if not tool_calls:
        return content
    blocks = as_blocks(content)
    for call in tool_calls:
        fn = call.get("function") or {}
        blocks.append(
            {
                "type": "tool_use",
                "id": anthropic_tool_id(call.get("id")),
                "name": fn.get("name"),
                "input": _arguments_to_input(fn.get("arguments")),
            }
        )
    return blocks


def _tool_message_to_result(message: Message, detector: ToolErrorDetector) -> dict[str, Any]:
    raw = message.get("content")
    content: str | list[dict[str, Any]]
    if raw is None or isinstance(raw, str):
        content = raw or ""
    elif is_content_parts(raw):
        assert isinstance(raw, list | tuple)
        content = [b for b in map(part_to_anthropic, raw) if b is not None]
    else:
        content = _data_text(raw)
    block: dict[str, Any] = {
        "type": "tool_result",
        "tool_use_id": anthropic_tool_id(message.get("tool_call_id")),
        "content": content,
    }
    if is_tool_error(
        detector, raw, status=message.get("status"), flagged=message.get("is_error") is True
    ):
        block["is_error"] = True
    return block


def _carries_tool_results(message: dict[str, Any] | None) -> bool:
    if message is None or message["role"] != "user":
        return False
    content = message["content"]
    return isinstance(content, list) and bool(content) and content[0].get("type") == "tool_result"


def _checked_system(system: object) -> object:
    """A call's system prompt (``system=`` or ``instructions=``): a string, a list of text
    blocks (checked as a message's content is), or ``None``; anything else is a
    ConfigurationError."""
    if system is None or isinstance(system, str):
        return system
    if isinstance(system, list | tuple):
        return checked_parts(system, "the system prompt")
    raise ConfigurationError(
        "the system prompt (system= or instructions=) must be a string or a list of text "
        f"blocks, got {type(system).__name__}"
    )


def _system_pieces(system: object) -> list[str | dict[str, Any]]:
    if isinstance(system, str):
        return [system] if system else []
    if isinstance(system, list):
        return [b for b in map(part_to_anthropic, system) if b is not None]
    return []


def messages_to_anthropic(
    messages: Sequence[object],
    *,
    system: object = None,
    detector: ToolErrorDetector = default_tool_error_detector,
) -> AnthropicMessages:
    """``messages`` (any shape) and an optional Anthropic ``system`` in Anthropic's shape;
    ``detector`` decides which OpenAI tool results get ``is_error``.

    Raises:
        ConfigurationError: a message is not one, has an unknown role, or holds a value that
            cannot be sent as JSON (named by index and field); the system prompt is not text.
    """
    pieces = _system_pieces(_checked_system(system))
    out: list[dict[str, Any]] = []
    for index, message in chat_messages(messages):
        role = _role(message, index)
        last = out[-1] if out else None
        try:
            if role in ("system", "developer"):
                pieces.extend(_system_pieces(message.get("content")))
            elif role == "tool":
                result = _tool_message_to_result(message, detector)
                if last is not None and _carries_tool_results(last):
                    last["content"].append(result)
                else:
                    out.append({"role": "user", "content": [result]})
            elif role == "user":
                content = content_to_anthropic(message.get("content"))
                if last is not None and _carries_tool_results(last):
                    last["content"].extend(as_blocks(content))
                else:
                    out.append({"role": "user", "content": content})
            else:
                out.append({"role": "assistant", "content": _assistant_to_anthropic(message)})
        except NotJSON as exc:
            raise located(exc, index, message) from None
    if not pieces:
        system_out: str | list[dict[str, Any]] | None = None
    elif len(pieces) == 1 and isinstance(pieces[0], str):
        system_out = pieces[0]
    else:
        system_out = [{"type": "text", "text": p} if isinstance(p, str) else p for p in pieces]
    return AnthropicMessages(system=system_out, messages=out)


# To OpenAI ------------------------------------------------------------------------------------


def _input_to_arguments(value: object) -> str:
    """A ``tool_use.input`` as arguments text; raises NotJSON for a value that cannot be sent."""
    if isinstance(value, Mapping) and set(value) == {RAW_ARGUMENTS_KEY}:
        raw = value[RAW_ARGUMENTS_KEY]
        if isinstance(raw, str):
            return raw
    return encode({} if value is None else value, separators=_SEPARATORS)


def _tool_call_to_openai(call: Mapping[str, Any]) -> dict[str, Any]:
    copy: dict[str, Any] = strip_cache_control(call)
    copy["id"] = openai_tool_id(call.get("id"))
    return copy


def _assistant_to_openai(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {
        k: strip_cache_control(v) for k, v in message.items() if k not in ("content", "tool_calls")
    }
    calls = [_tool_call_to_openai(c) for c in message.get("tool_calls") or ()]
    content = message.get("content")
    anthropic_shaped = isinstance(content, list) and any(
        isinstance(b, Mapping) and b.get("type") in ANTHROPIC_ONLY_BLOCKS for b in content
    )
    if not anthropic_shaped:
        out["content"] = content_to_openai(content)
    else:
        assert isinstance(content, list)
        parts: list[dict[str, Any]] = []
        for block in content:
            if isinstance(block, Mapping) and block.get("type") == "tool_use":
                arguments = _input_to_arguments(block.get("input"))
                fn = {"name": block.get("name"), "arguments": arguments}
                calls.append(
                    {"id": openai_tool_id(block.get("id")), "type": "function", "function": fn}
                )
            elif (part := part_to_openai(block)) is not None:
                parts.append(part)
        if len(parts) == 1 and set(parts[0]) == {"type", "text"}:
            out["content"] = parts[0]["text"]
        else:
            out["content"] = parts or (None if calls else "")
    if calls:
        out["tool_calls"] = calls
    return out


def _tool_result_to_openai(
    block: Mapping[str, Any], detector: ToolErrorDetector
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The OpenAI tool message for one ``tool_result``, and the images it had to leave out."""
    raw = block.get("content")
    error = block.get("is_error") is True
    images: list[dict[str, Any]] = []
    content: str | list[dict[str, Any]]
    if isinstance(raw, list | tuple) and is_content_parts(raw):
        parts: list[dict[str, Any]] = []
        for item in raw:
            kind = item.get("type") if isinstance(item, Mapping) else None
            if kind == "text":
                parts.append({"type": "text", "text": item.get("text") or ""})
            elif kind == "image" and (image := image_to_openai(item)) is not None:
                images.append(image)
        if error and not is_tool_error(detector, parts, shape="anthropic"):
            if parts:
                parts[0] = {"type": "text", "text": ERROR_PREFIX + parts[0]["text"]}
            else:
                parts = [{"type": "text", "text": "Error"}]
        content = parts or ""
    else:
        text = raw if isinstance(raw, str) else ("" if raw is None else _data_text(raw))
        if error and not is_tool_error(detector, text, shape="anthropic"):
            text = ERROR_PREFIX + text if text else "Error"
        content = text
    message = {
        "role": "tool",
        "tool_call_id": openai_tool_id(block.get("tool_use_id")),
        "content": content,
    }
    return message, images


def _user_to_openai(message: Message, detector: ToolErrorDetector) -> list[dict[str, Any]]:
    content = message.get("content")
    has_results = isinstance(content, list) and any(
        isinstance(b, Mapping) and b.get("type") == "tool_result" for b in content
    )
    if not has_results:
        out = {k: strip_cache_control(v) for k, v in message.items() if k != "content"}
        out["content"] = content_to_openai(content)
        return [out]
    assert isinstance(content, list)
    messages: list[dict[str, Any]] = []
    rest: list[dict[str, Any]] = []
    for block in content:
        if isinstance(block, Mapping) and block.get("type") == "tool_result":
            tool_message, images = _tool_result_to_openai(block, detector)
            messages.append(tool_message)
            rest.extend(images)
        elif (part := part_to_openai(block)) is not None:
            rest.append(part)
    if len(rest) == 1 and set(rest[0]) == {"type", "text"}:
        messages.append({"role": "user", "content": rest[0]["text"]})
    elif rest:
        messages.append({"role": "user", "content": rest})
    return messages


def _tool_message_to_openai(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = strip_cache_control(
        {k: v for k, v in message.items() if k not in _TOOL_MESSAGE_ONLY_KEYS}
    )
    content = message.get("content")
    if content is None or isinstance(content, str) or is_content_parts(content):
        out["content"] = content_to_openai(content)
    else:
        out["content"] = _data_text(content)  # a tool's data, sent as its JSON text
    out["tool_call_id"] = openai_tool_id(message.get("tool_call_id"))
    return out


def messages_to_openai(
    messages: Sequence[object],
    *,
    system: object = None,
    detector: ToolErrorDetector = default_tool_error_detector,
) -> list[dict[str, Any]]:
    """``messages`` (any shape) and an optional Anthropic ``system`` in OpenAI's shape;
    ``detector`` decides which flagged Anthropic results already read as errors (the others
    get the ``"Error: "`` prefix).

    Raises:
        ConfigurationError: a message is not one, has an unknown role, or holds a value that
            cannot be sent as JSON (named by index and field); the system prompt is not text.
    """
    out: list[dict[str, Any]] = []
    system = _checked_system(system)
    if isinstance(system, str) and system:
        out.append({"role": "system", "content": system})
    elif isinstance(system, list) and system:
        out.append({"role": "system", "content": content_to_openai(system)})
    for index, message in chat_messages(messages):
        role = _role(message, index)
        try:
            if role == "assistant":
                out.append(_assistant_to_openai(message))
            elif role == "user":
                out.extend(_user_to_openai(message, detector))
            elif role == "tool":
                out.append(_tool_message_to_openai(message))
            else:
                system_message: dict[str, Any] = strip_cache_control(message)
                system_message["content"] = content_to_openai(message.get("content"))
                out.append(system_message)
        except NotJSON as exc:
            raise located(exc, index, message) from None
    return out
