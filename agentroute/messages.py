"""Reading a conversation in whatever shape the caller keeps it.

An agent loop's history is not always a list of plain dicts: the official SDKs return pydantic
models (openai's ``ChatCompletionMessage`` and its tool calls, anthropic's ``Message`` and its
content blocks, the Responses API's output items) that loops append to the history as they
are; LangChain keeps its own message objects; and the Responses API takes ``input=`` as a plain
string or a list of items (``message``, ``function_call``, ``function_call_output``,
``reasoning``, …) that have a ``type`` and no ``role``. The router reads all of them, and
never changes what the caller passes: a wrapped function receives the caller's own objects.

:func:`as_message` reads one item of the history, once, when the router first sees it:

* a plain ``dict`` with a string ``role`` and string (or no) ``content`` and no tool calls is
  returned as it is: the fast path, a few type checks;
* a dict whose content blocks or tool calls are SDK objects comes back as a copy with those
  read into dicts; LangChain-style tool calls (``name``/``args``) become OpenAI ones;
* any other object — a pydantic model (read with ``model_dump()``), a dataclass, or any
  object with ``role``/``content``/``tool_calls`` attributes — is read into a new dict holding
  only the chat fields (``role``, ``content``, ``name``, ``tool_calls``, ``tool_call_id``,
  ``status``, ``is_error``, ``audio``, ``refusal``): ``model_dump()``'s other fields (ids,
  usage, LangChain's metadata) would otherwise be sent on by the built-in providers.
  LangChain's message ``type`` (``human``, ``ai``, ``system``, ``tool``) is read as the role;
* a Responses input item (no ``role``, a string ``type``) is returned in its own shape; the
  readers dispatch on its ``type``.

Anything else raises :class:`~agentroute.errors.ConfigurationError` naming the index and the
field (``messages[3].tool_calls[0].function: …``), and so does an object whose fields raise when
read. Fields the router only reads as text (arguments, tool inputs, tool-result contents) are
not checked: any value is read, at any depth (:mod:`agentroute._json_text`). A tool result —
a ``role: "tool"`` message's ``content``, a ``tool_result`` block's ``content``, a Responses
``function_call_output``'s ``output`` — is data from a tool, not from the developer: when it is
not text or a list of content parts (:func:`is_content_parts`) — a number, a mapping, a list of
values, a parsed JSON document of any depth — it is read, and sent by the built-in providers,
as its JSON text.

A plain-string ``input`` (``responses.create(input="…")``) is routed as :class:`TextInput`, a
one-message sequence that remembers the string, which the wrapped function gets back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from agentroute._json_text import text_of
from agentroute.errors import ConfigurationError

__all__ = [
    "TextInput",
    "as_message",
    "checked_parts",
    "field_of",
    "is_content_parts",
    "role_and_content",
    "system_of",
    "text_of_content",
]

_LANGCHAIN_ROLES = {
    "human": "user",
    "ai": "assistant",
    "system": "system",
    "developer": "developer",
    "tool": "tool",
    "HumanMessageChunk": "user",
    "AIMessageChunk": "assistant",
    "SystemMessageChunk": "system",
    "ToolMessageChunk": "tool",
}
"""LangChain ``BaseMessage.type`` → role (``ChatMessage`` has a ``role`` of its own)."""

_CHAT_FIELDS = (
    "role",
    "content",
    "name",
    "tool_calls",
    "tool_call_id",
    "status",
    "is_error",
    "audio",
    "refusal",
)
"""The fields read from a message object (a Responses item object keeps all of its own)."""
_ITEM_FIELDS = ("type", "id", "call_id", "arguments", "input", "output", "summary")
"""The fields read from a Responses item object that has no ``model_dump()``."""


class TextInput(tuple[dict[str, Any], ...]):
    """A plain-string input routed as one user message; ``text`` is the string itself.

    The router reads the conversation as this one-message sequence; a wrapped function gets
    ``text`` back (the caller's own string), so ``responses.create(input="…")`` works as is.
    """

    text: str

    def __new__(cls, text: str) -> TextInput:
        self = super().__new__(cls, ({"role": "user", "content": text},))
        self.text = text
        return self


def system_of(params: Mapping[str, Any]) -> Any:
    """A call's top-level system prompt: Anthropic's ``system``, else the Responses API's
    ``instructions`` (the two APIs' ways of saying the same thing)."""
    system = params.get("system")
    return params.get("instructions") if system is None else system


def _type_name(value: object) -> str:
    return type(value).__name__


def as_message(item: object, index: int) -> Mapping[str, Any]:
    """``item`` (the ``index``-th of a history) as a mapping the router reads (module docstring).

    Raises:
        ConfigurationError: the item is not a message, naming ``messages[index]`` and the field.
    """
    if type(item) is dict:
        role = item.get("role")
        if type(role) is str:
            content = item.get("content")
            if type(content) is str or content is None:
                calls = item.get("tool_calls")
                if calls is None or _plain_calls(calls):
                    return item
    try:
        if type(item) is dict:
            return _checked(item, index)
        if isinstance(item, Mapping):
            return _checked(dict(item), index)
        return _checked(_from_object(item, index), index)
    except ConfigurationError:
        raise
    except Exception as exc:  # a caller's object whose items(), property or model_dump() raise
        raise ConfigurationError(
            f"messages[{index}]: a {_type_name(item)} could not be read "
            f"({type(exc).__name__} raised while reading it)"
        ) from None


def is_content_parts(content: object) -> bool:
    """Whether a tool result's ``content`` is content parts — a list whose items are strings,
    or mappings or objects with a string ``type`` — rather than data (module docstring)."""
    if type(content) is not list and not isinstance(content, tuple):
        return False
    for part in content:
        if isinstance(part, str):
            continue
        try:
            kind = part.get("type") if isinstance(part, Mapping) else getattr(part, "type", None)
        except Exception:  # an object whose attribute raises: data, read by its str()
            return False
        if type(kind) is not str:
            return False
    return True


def _plain_calls(calls: object) -> bool:
    """``calls`` is a list of OpenAI tool-call dicts, as the readers take them."""
    if type(calls) is not list:
        return False
    for call in calls:
        if type(call) is not dict or type(call.get("function")) is not dict:
            return False
    return True


def role_and_content(item: object) -> tuple[object, object]:
    """An item's role and content, read without copying it (for the session key, which looks
    at the first messages of every call): by key, or by attribute for objects. An object whose
    attributes raise reads as ``(None, None)``: the routing step's reading names it."""
    if type(item) is dict:
        return item.get("role"), item.get("content")
    try:
        if isinstance(item, Mapping):
            return item.get("role"), item.get("content")
        role = getattr(item, "role", None)
        if role is None:
            kind = getattr(item, "type", None)
            role = _LANGCHAIN_ROLES.get(kind) if isinstance(kind, str) else None
        return role, getattr(item, "content", None)
    except Exception:
        return None, None


def field_of(item: object, name: str) -> Any:
    """``item[name]`` of a mapping, else its attribute ``name`` (an SDK object), else ``None``:
    one field of a message, block or part given in either form."""
    if type(item) is dict:  # the common case, without an ABC check
        return item.get(name)
    return item.get(name) if isinstance(item, Mapping) else getattr(item, name, None)


def text_of_content(content: object) -> str | None:
    """The text of a content made of text only (a string, or a list of text parts or blocks,
    as dicts or objects); ``None`` when it holds anything else (an image, a tool call)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list | tuple):
        return None
    texts: list[str] = []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
            continue
        if isinstance(part, Mapping):
            kind, text = part.get("type"), part.get("text")
        else:
            kind, text = getattr(part, "type", None), getattr(part, "text", None)
        if kind not in ("text", "input_text", "output_text") or not isinstance(text, str):
            return None
        texts.append(text)
    return "".join(texts)


# Objects ----------------------------------------------------------------------------------------


def _as_dict(obj: object) -> dict[str, Any] | None:
    """A pydantic model (``model_dump()``) or a dataclass as a dict; ``None`` for others."""
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        try:
            data = dump(exclude_none=True)
        except TypeError:  # a model_dump() without pydantic's keywords
            data = dump()
        return dict(data) if isinstance(data, Mapping) else None
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    return None


def _from_object(obj: object, index: int) -> dict[str, Any]:
    where = f"messages[{index}]"
    if obj is None or isinstance(obj, str | bytes | int | float | list | tuple):
        raise ConfigurationError(
            f"{where} must be a message (a mapping, or an object with a 'role'), "
            f"got {_type_name(obj)}"
        )
    data = _as_dict(obj)
    if data is None:
        data = {}
        for name in (*_CHAT_FIELDS, *_ITEM_FIELDS):
            value = getattr(obj, name, None)
            if value is not None:
                data[name] = value
    role = data.get("role")
    kind = data.get("type")
    if role is None and isinstance(kind, str) and kind in _LANGCHAIN_ROLES:
        role = _LANGCHAIN_ROLES[kind]
    if role is None:
        if isinstance(kind, str):
            return data  # a Responses item object: its own fields
        raise ConfigurationError(
            f"{where}: a {_type_name(obj)} has no 'role' (nor a Responses item 'type'); "
            "pass chat messages (dicts or SDK message objects) or Responses input items"
        )
    message = {k: data[k] for k in _CHAT_FIELDS if data.get(k) is not None}
    message["role"] = role
    if role != "tool":
        message.pop("status", None)  # a Responses output message's "completed"
    return message


# Checks -----------------------------------------------------------------------------------------


def _checked(message: dict[str, Any], index: int) -> Mapping[str, Any]:
    """Check a message's fields; SDK objects inside it are read into dicts (a copy)."""
    where = f"messages[{index}]"
    role = message.get("role")
    if role is None:
        kind = message.get("type")
        if not isinstance(kind, str):
            raise ConfigurationError(
                f"{where} has no 'role' key (nor a Responses item 'type')"
                if "type" not in message
                else f"{where}.type must be a string, got {_type_name(kind)}"
            )
        if kind == "message":
            raise ConfigurationError(f"{where}: a Responses 'message' item needs a 'role'")
        output = message.get("output")
        if is_content_parts(output):  # a tool output's content parts (else data, read as text)
            parts = _checked_content(output, f"{where}.output")
            if parts is not output:
                return {**message, "output": parts}
        return message
    if not isinstance(role, str):
        raise ConfigurationError(f"{where}.role must be a string, got {_type_name(role)}")
    out = message
    content = message.get("content")
    if role != "tool" or content is None or type(content) is str or is_content_parts(content):
        blocks = _checked_content(content, f"{where}.content")
        if blocks is not content:
            out = {**out, "content": blocks}
    # else a tool's data, read as its JSON text (module docstring)
    calls = message.get("tool_calls")
    if calls is not None:
        checked = _checked_calls(calls, f"{where}.tool_calls")
        if checked is not calls:
            out = {**out, "tool_calls": checked}
    return out


def checked_parts(content: list[Any] | tuple[Any, ...], where: str) -> list[Any]:
    """A list of content parts checked like a message's (``where`` names it in errors): SDK
    blocks read into dicts, anything that is not a part refused.

    Raises:
        ConfigurationError: naming ``where[j]``.
    """
    checked = _checked_content(content, where)
    assert isinstance(checked, list | tuple)
    return list(checked)


def _checked_content(content: object, where: str) -> object:
    if content is None or type(content) is str:
        return content
    if not isinstance(content, list | tuple):
        raise ConfigurationError(
            f"{where} must be a string, a list of content parts or null, got {_type_name(content)}"
        )

    def part(j: int, block: object) -> object:
        read: dict[str, Any] | str | None
        if type(block) is dict or isinstance(block, str):
            read = block
        elif isinstance(block, Mapping):
            read = dict(block)
        else:
            read = _as_dict(block)
            if read is None:
                raise ConfigurationError(
                    f"{where}[{j}] must be a content part (a mapping with a 'type') or a "
                    f"string, got {_type_name(block)}"
                )
        if type(read) is dict:
            kind = read.get("type")
            if kind is not None and type(kind) is not str:
                raise ConfigurationError(
                    f"{where}[{j}].type must be a string, got {_type_name(kind)}"
                )
        return read

    return _each_read(content, part)


def _checked_calls(calls: object, where: str) -> object:
    if not isinstance(calls, list | tuple):
        raise ConfigurationError(f"{where} must be a list of tool calls, got {_type_name(calls)}")
    return _each_read(calls, lambda j, call: _checked_call(call, f"{where}[{j}]"))


def _each_read(items: list[Any] | tuple[Any, ...], read: Callable[[int, Any], object]) -> object:
    """``items`` with each item replaced by ``read(index, item)``: the same list when every
    item read as itself (nothing copied), else a new list (a tuple always becomes one)."""
    out: list[Any] | None = None if type(items) is list else []
    for j, item in enumerate(items):
        got = read(j, item)
        if out is None and got is not item:
            out = list(items[:j])
        if out is not None:
            out.append(got)
    return items if out is None else out


def _checked_call(call: object, where: str) -> Mapping[str, Any]:
    data: Mapping[str, Any] | None
    if type(call) is dict:
        data = call
    elif isinstance(call, Mapping):
        data = dict(call)
    else:
        data = _as_dict(call)
        if data is None:
            raise ConfigurationError(
                f"{where} must be a tool call (a mapping with a 'function'), got {_type_name(call)}"
            )
    fn = data.get("function")
    if type(fn) is dict:
        return data
    if fn is None and data.get("type") == "custom" and isinstance(data.get("custom"), Mapping):
        return data  # an OpenAI custom (free-form) tool call
    if fn is None and "name" in data:  # LangChain's {"name", "args", "id"}
        args = data.get("args", data.get("arguments"))
        arguments = args if isinstance(args, str) else text_of(args or {})
        return {
            "id": data.get("id"),
            "type": "function",
            "function": {"name": data["name"], "arguments": arguments},
        }
    if isinstance(fn, Mapping):
        return {**data, "function": dict(fn)}
    read = _as_dict(fn) if fn is not None else None
    if read is None:
        raise ConfigurationError(
            f"{where}.function must be a mapping with 'name' and 'arguments', got {_type_name(fn)}"
        )
    return {**data, "function": read}
