"""A conversation as the built-in providers' converters read it: chat-shaped dicts, in order.

:func:`~agentroute.providers.convert_messages.messages_to_openai` and ``messages_to_anthropic``
take a conversation in any shape the router reads (:mod:`agentroute.messages`): plain dicts,
SDK message objects, a plain-string input, and Responses API input items. This reads each item
once and turns the Responses items into their Chat Completions equivalents:

* a ``message`` item keeps its ``role`` and ``content`` (its ``input_text``/``output_text``/
  ``input_image``/``input_file`` parts are converted with the other parts, in
  :mod:`~agentroute.providers.convert_content`); ``type``, ``id`` and ``status`` are dropped;
* ``function_call`` (and ``custom_tool_call``) items become ``tool_calls`` of an assistant
  message: consecutive calls share one, and join an assistant message just before them;
* ``function_call_output`` (and ``custom_tool_call_output``) items become ``role: "tool"``
  messages answering their ``call_id``;
* ``reasoning`` items are dropped: they are encrypted for the model that wrote them, and
  neither the Chat Completions nor the Messages API takes them;
* any other item (a hosted tool's call, an ``item_reference``) has no equivalent and is a
  :class:`~agentroute.errors.ConfigurationError` naming its index and type.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agentroute._json_text import NotJSON, encode, safe_repr, text_of
from agentroute.errors import ConfigurationError
from agentroute.messages import as_message, is_content_parts
from agentroute.providers.wire_json import located

__all__ = ["chat_messages"]

_ITEM_ONLY_KEYS = ("type", "id", "status")


def chat_messages(messages: Sequence[object]) -> list[tuple[int, Mapping[str, Any]]]:
    """``(index in messages, chat message)`` for each message to convert (module docstring).

    Raises:
        ConfigurationError: an item that is not a message or has no chat equivalent.
    """
    out: list[tuple[int, Mapping[str, Any]]] = []
    joinable = False  # the last message out is an assistant turn that calls may join
    for index, item in enumerate(messages):
        message = as_message(item, index)
        role = message.get("role")
        if role is not None:
            if message.get("type") == "message":
                message = {k: v for k, v in message.items() if k not in _ITEM_ONLY_KEYS}
            out.append((index, message))
            joinable = role == "assistant"
            continue
        kind = message["type"]
        if kind in ("function_call", "custom_tool_call"):
            try:
                call = _tool_call(message)
            except NotJSON as exc:
                raise located(exc, index, message) from None
            if joinable:
                at, last = out[-1]
                out[-1] = (at, {**last, "tool_calls": [*(last.get("tool_calls") or ()), call]})
            else:
                out.append((index, {"role": "assistant", "content": None, "tool_calls": [call]}))
                joinable = True
        elif kind in ("function_call_output", "custom_tool_call_output"):
            output = message.get("output")
            parts = isinstance(output, str) or is_content_parts(output)
            content = output if parts else _text(output)  # a tool's data: its JSON text
            out.append((index, {"role": "tool", "tool_call_id": message.get("call_id"),
                                "content": content}))  # fmt: skip
            joinable = False
        elif kind != "reasoning":
            raise ConfigurationError(
                f"messages[{index}]: a Responses {safe_repr(kind)} item has no equivalent in the "
                "Chat Completions or Messages API"
            )
    return out


def _tool_call(item: Mapping[str, Any]) -> dict[str, Any]:
    """A call item as a Chat tool call; arguments given as an object are written as JSON
    (NotJSON for a value that cannot be sent)."""
    arguments = item.get("arguments", item.get("input"))
    if arguments is not None and not isinstance(arguments, str):
        arguments = encode(arguments, separators=(", ", ": "))
    return {
        "id": item.get("call_id"),
        "type": "function",
        "function": {"name": item.get("name"), "arguments": arguments or ""},
    }


def _text(value: object) -> str:
    """A tool output's data as text (any value, any depth; never refused)."""
    if value is None:
        return ""
    return value if isinstance(value, str) else text_of(value, ensure_ascii=False)
