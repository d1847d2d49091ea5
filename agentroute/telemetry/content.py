"""Message content for spans, recorded only when the application opts in.

The shapes follow the GenAI semantic conventions' ``gen_ai.input.messages`` and
``gen_ai.output.messages`` (a role and a list of parts); the JSON is passed through
:func:`~agentroute._secrets.redact`, so a key pasted into a prompt does not reach a backend.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from agentroute._json_text import text_of
from agentroute._secrets import redact
from agentroute._types import Message, ToolCall
from agentroute.messages import as_message, is_content_parts

__all__ = ["input_messages", "output_messages"]


def input_messages(messages: Iterable[object]) -> str:
    """The call's messages (any shape the router reads, :mod:`agentroute.messages`) as redacted
    ``gen_ai.input.messages`` JSON."""
    return _dumps([_message(as_message(m, i)) for i, m in enumerate(messages)])


def output_messages(
    text: str | None, tool_calls: Iterable[ToolCall], finish_reason: str | None
) -> str:
    """The answer as redacted ``gen_ai.output.messages`` JSON (one assistant message)."""
    parts: list[dict[str, Any]] = []
    if text:
        parts.append({"type": "text", "content": text})
    for tc in tool_calls:
        parts.append({"type": "tool_call", "id": tc.id, "name": tc.name, "arguments": tc.arguments})
    return _dumps([{"role": "assistant", "parts": parts, "finish_reason": finish_reason}])


def _message(message: Message) -> dict[str, Any]:
    """One message in the GenAI input-message shape (``role`` and ``parts``)."""
    if "role" not in message:  # a Responses input item
        return _item(message)
    content = message.get("content")
    parts: list[Any] = []
    if isinstance(content, str):
        parts.append({"type": "text", "content": content})
    elif message.get("role") == "tool" and content is not None and not is_content_parts(content):
        parts.append({"type": "text", "content": text_of(content, ensure_ascii=False)})
    elif isinstance(content, Sequence):
        for block in content:
            if isinstance(block, Mapping) and block.get("type") == "text":
                parts.append({"type": "text", "content": block.get("text", "")})
            else:
                parts.append(block)
    for tc in message.get("tool_calls") or ():
        fn = tc.get("function", {}) if isinstance(tc, Mapping) else {}
        parts.append({"type": "tool_call", "id": tc.get("id"), "name": fn.get("name"),
                      "arguments": fn.get("arguments")})  # fmt: skip
    return {"role": message.get("role", "user"), "parts": parts}


def _item(item: Message) -> dict[str, Any]:
    kind = item.get("type")
    if kind == "function_call":
        part = {"type": "tool_call", "id": item.get("call_id"), "name": item.get("name"),
                "arguments": item.get("arguments")}  # fmt: skip
        return {"role": "assistant", "parts": [part]}
    if kind == "function_call_output":
        part = {"type": "tool_call_response", "id": item.get("call_id"),
                "response": item.get("output")}  # fmt: skip
        return {"role": "tool", "parts": [part]}
    return {"role": "assistant", "parts": [dict(item)]}


def _dumps(value: Any) -> str:
    """JSON of the parts (any value a message holds, at any depth), then redacted."""
    return redact(text_of(value, ensure_ascii=False))
