"""Automatic Anthropic ``cache_control`` breakpoints on a built Messages request.

An agent loop resends the same tools, system prompt and growing conversation at every step; with
a breakpoint at the end of each, Anthropic reads the longest cached prefix (it also checks the 20
block boundaries before a breakpoint, so a breakpoint that moves to the newest message reads the
previous step's entry) and writes the rest. The tool and system breakpoints keep those cached
when the messages change (a rewritten history, or more than 20 new blocks in one step). That is
three of the four breakpoints Anthropic allows.

The OpenAI side needs nothing here: :func:`~agentroute.providers.convert_tools.strip_cache_control`
removes every marker from what goes to an OpenAI-compatible endpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentroute.messages import field_of

__all__ = ["add_cache_breakpoints", "cache_marker", "has_cache_control", "mark_last_block"]

HOUR_S = 3600.0
_UNMARKABLE = frozenset({"thinking", "redacted_thinking"})  # Anthropic rejects a marker there


def cache_marker(ttl_s: float) -> dict[str, str]:
    """The ``cache_control`` for a cache meant to live ``ttl_s`` seconds.

    ``{"type": "ephemeral", "ttl": "1h"}`` from an hour up; below, plain ``{"type":
    "ephemeral"}``: the API's 5-minute default, also accepted by compatible servers that do not
    know ``ttl`` (a 5-minute entry is refreshed by every read, so a busy session keeps it).
    """
    return {"type": "ephemeral", "ttl": "1h"} if ttl_s >= HOUR_S else {"type": "ephemeral"}


def _marked(blocks: object, nested: bool = False) -> bool:
    """Whether a block (or, one level down, a block inside a ``tool_result``) has a marker;
    deeper content is data, not looked at."""
    if type(blocks) is not list and not isinstance(blocks, tuple):
        return False
    for block in blocks:
        if field_of(block, "cache_control") is not None:
            return True
        if (
            not nested
            and field_of(block, "type") == "tool_result"
            and _marked(field_of(block, "content"), nested=True)
        ):
            return True
    return False


def has_cache_control(body: Mapping[str, Any]) -> bool:
    """Whether a Messages request body carries a ``cache_control`` already: at the top level, on
    a tool, a system block, a message block or a block inside a ``tool_result``. Tools, blocks
    and messages may be mappings or SDK objects (read by attribute)."""
    if "cache_control" in body or _marked(body.get("tools")) or _marked(body.get("system")):
        return True
    for message in body["messages"]:
        content = field_of(message, "content")
        if type(content) is not str and _marked(content):
            return True
    return False


def add_cache_breakpoints(body: dict[str, Any], marker: Mapping[str, str]) -> None:
    """Put ``marker`` on the last tool, the last system block and the last block of the last
    message that can carry one (not a thinking block, not empty text).

    A string system prompt (or last message content) becomes one text block to carry it. Only
    ``body``'s own entries are replaced, with copies: the dicts and lists the caller passed (which
    the conversion to Anthropic's shape may share) are left as they were. A tool, system block or
    message that is not a mapping (an SDK object) gets no marker.
    """
    tools = body.get("tools")
    if isinstance(tools, list | tuple) and tools and isinstance(tools[-1], Mapping):
        body["tools"] = [*tools[:-1], {**tools[-1], "cache_control": dict(marker)}]
    system = body.get("system")
    if isinstance(system, str) and system:
        body["system"] = [{"type": "text", "text": system, "cache_control": dict(marker)}]
    elif isinstance(system, list | tuple) and system and isinstance(system[-1], Mapping):
        body["system"] = [*system[:-1], {**system[-1], "cache_control": dict(marker)}]
    messages: list[dict[str, Any]] = body["messages"]
    marked = mark_last_block(messages[-1], marker) if messages else None
    if marked is not None:
        body["messages"] = [*messages[:-1], marked]


def mark_last_block(message: object, marker: Mapping[str, str]) -> dict[str, Any] | None:
    """A copy of ``message`` whose last block that can carry a marker (not a thinking block,
    not empty text, not an SDK object) has ``marker``; ``None`` when none can (or ``message`` is
    not a mapping). A string content becomes one text block; ``message`` itself is unchanged."""
    if not isinstance(message, Mapping):
        return None
    content = message.get("content")
    if isinstance(content, str):
        blocks: list[Any] = [{"type": "text", "text": content}] if content else []
    else:
        blocks = list(content) if isinstance(content, list | tuple) else []
    for index in range(len(blocks) - 1, -1, -1):
        block = blocks[index]
        kind = block.get("type") if isinstance(block, Mapping) else None
        if (
            isinstance(block, Mapping)
            and not (isinstance(kind, str) and kind in _UNMARKABLE)
            and not (kind == "text" and not block.get("text"))
        ):
            blocks[index] = {**block, "cache_control": dict(marker)}
            return {**message, "content": blocks}
    return None
