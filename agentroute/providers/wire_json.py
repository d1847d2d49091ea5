"""A request body as JSON bytes, and the ConfigurationError naming what in a call cannot be sent.

The built-in providers send JSON. Everything in a call is sent at any depth
(:func:`~agentroute._json_text.encode`); lone surrogates become U+FFFD
(:func:`~agentroute._json_text.wire_bytes`). A value JSON cannot carry — bytes, a set, another
object, NaN or infinity, a key that is not a string or number, a container that holds itself, an
integer of more than 4,300 digits — is the developer's to fix, and the error says where it is in
the caller's own terms: ``messages[3].content[1].input.when: a value of type datetime cannot be
sent as JSON``. Tool results' data is not looked at: it is sent as its JSON text, never refused
(:mod:`agentroute.messages`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agentroute._json_text import NotJSON, encode, not_json, wire_bytes
from agentroute.errors import ConfigurationError
from agentroute.messages import as_message, is_content_parts

__all__ = ["encode_body", "located", "message_problem", "not_json_error", "unsendable"]

_OUTPUTS = ("function_call_output", "custom_tool_call_output")


def encode_body(body: Mapping[str, Any]) -> bytes:
    """``body`` as compact JSON bytes (UTF-8).

    Raises:
        NotJSON: a value in ``body`` that JSON cannot carry.
    """
    return wire_bytes(encode(body))


def _is_data(value: object) -> bool:
    return value is not None and not isinstance(value, str) and not is_content_parts(value)


def _sent_view(message: Mapping[str, Any]) -> dict[str, Any]:
    """``message`` with its tool results' data left out (sent as text, never refused)."""
    view = dict(message)
    if message.get("role") == "tool" and _is_data(message.get("content")):
        view["content"] = None
    if message.get("type") in _OUTPUTS and _is_data(message.get("output")):
        view["output"] = None
    content = view.get("content")
    if isinstance(content, list | tuple):
        view["content"] = [
            {**block, "content": None}
            if isinstance(block, Mapping)
            and block.get("type") == "tool_result"
            and _is_data(block.get("content"))
            else block
            for block in content
        ]
    return view


def message_problem(message: Mapping[str, Any]) -> tuple[str, str] | None:
    """Where in one message (read by :func:`~agentroute.messages.as_message`) a value JSON
    cannot carry is, as ``(path, problem)``; ``None`` when there is none."""
    return not_json(_sent_view(message))


def not_json_error(where: str, found: tuple[str, str] | None) -> ConfigurationError:
    """The ConfigurationError for a value at ``where`` + its path that cannot be sent."""
    path, problem = found or ("", "a value JSON cannot carry")
    return ConfigurationError(f"{where}{path}: {problem} cannot be sent as JSON")


def unsendable(
    messages: Sequence[object],
    tools: object,
    params: Mapping[str, Any],
    body: Mapping[str, Any],
) -> ConfigurationError:
    """The error for a call whose request body could not be encoded: the first message,
    tool or parameter holding a value JSON cannot carry, by its place in the call."""
    for index, item in enumerate(messages):
        found = message_problem(as_message(item, index))
        if found is not None:
            return not_json_error(f"messages[{index}]", found)
    if isinstance(tools, list | tuple):
        found = not_json(list(tools))
        if found is not None:
            return not_json_error("tools", found)
    for name, value in params.items():
        found = not_json(value)
        if found is not None:
            return not_json_error(name, found)
    return not_json_error("the request body", not_json(body))


def located(exc: NotJSON, index: int, message: Mapping[str, Any]) -> ConfigurationError:
    """A NotJSON raised while converting ``messages[index]``, as a ConfigurationError naming
    the field."""
    return not_json_error(f"messages[{index}]", message_problem(message) or (exc.path, exc.problem))
