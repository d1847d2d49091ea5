"""Content marks of messages: how an implicit session recognises its own conversation.

An implicit session (:mod:`agentroute.implicit_sessions`) keeps, of the last history it was
called with, only its length and the :func:`history_mark` of its last message — a hash, so an
idle session keeps none of the caller's messages alive. The next call continues that session
when its history holds a message with the same mark at the same position.

The mark is of what a message *says*, not of which object it is: many frameworks rebuild the
message list as new dicts from their own objects at every step, and an SDK message object
(``ChatCompletionMessage``, a pydantic model) marks the same as its ``model_dump()``. So:

* a mapping is marked by all its items, in any order, except ``None`` or empty values (an SDK
  dump's ``"refusal": None`` or ``"annotations": []`` is the same message as a dict without
  them) and ``cache_control`` (a prompt-cache breakpoint, which the router or the caller may
  add to the last message between steps, changes no content);
* an object by its ``__dict__`` (a pydantic model's fields), or else by the message fields it
  has as attributes (``role``, ``content``, ``tool_calls``, ``type``, ``output``, …);
* strings, numbers, ``None``, lists and tuples by value.

Nesting is read to a bounded depth, so no message (a tool's 1,000-level JSON included) can
make marking fail; below it a value is marked by its type only. Anything else (an object with
neither fields nor attributes, or one whose attributes raise when read) is marked by its type
name: two such messages look alike, which can only make two runs harder to tell apart, never
fail a call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["EMPTY_MARK", "history_mark"]

_MAX_DEPTH = 8
_FIELDS = (
    "role",
    "type",
    "content",
    "text",
    "tool_calls",
    "tool_call_id",
    "function",
    "name",
    "arguments",
    "input",
    "output",
    "id",
    "call_id",
    "tool_use_id",
    "is_error",
)
"""Attributes read from a message object without ``__dict__`` (a slotted dataclass, say)."""
_SKIP = "cache_control"
_NAN = hash("nan")
_MAPPING = hash("mapping")
_CONTAINERS = (list, dict, tuple)
EMPTY_MARK = hash("no message")
"""The mark of an empty history's (non-existent) last message."""


def history_mark(message: object) -> int:
    """A hash of what ``message`` says (see the module docstring); never raises."""
    try:
        if type(message) is not dict:
            return _value(message, 0)
        # the usual case, a dict: _mapping() inlined (one frame less on every routed call)
        total = _MAPPING
        for pair in message.items():  # the item's own tuple is hashed: no new one per item
            item = pair[1]
            if type(item) is str:
                if item:
                    total += hash(pair)  # == hash((key, item))
            elif not (item is None or pair[0] == _SKIP or (type(item) in _CONTAINERS and not item)):
                total += _item_mark(pair[0], item, 0)
        return hash(total)
    except Exception:  # a caller's object whose attribute or items() raise: not a reason to fail
        return hash(type(message).__name__)


def _value(value: object, depth: int) -> int:
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return hash(value)
    if depth >= _MAX_DEPTH:
        return hash(kind.__name__)
    if kind is dict or isinstance(value, Mapping):
        return _mapping(value.items(), depth)  # type: ignore[attr-defined]
    if kind is list or kind is tuple:
        return hash(tuple([_value(item, depth + 1) for item in value]))  # type: ignore[attr-defined]
    if kind is float:
        return hash(value) if value == value else _NAN  # NaN's hash is per object
    if isinstance(value, (str, bytes, int, float)):
        return _scalar(value)
    fields = getattr(value, "__dict__", None)
    if type(fields) is dict:
        return _mapping(fields.items(), depth)
    present = [(f, getattr(value, f, None)) for f in _FIELDS]
    if any(v is not None for _, v in present):
        return _mapping(present, depth)
    return hash(kind.__name__)


def _mapping(items: Any, depth: int) -> int:
    """Order-independent: the sum of the marks of the items that say something."""
    total = _MAPPING
    for key, item in items:
        if type(item) is str:  # the usual message: role and text (a string's hash is cached)
            if item:
                total += hash((key, item))
            continue
        if item is None or key == _SKIP or (type(item) in _CONTAINERS and not item):
            continue
        total += _item_mark(key, item, depth)
    return hash(total)


def _item_mark(key: object, item: object, depth: int) -> int:
    """The mark of one item of a mapping at ``depth`` that says something, not a plain str."""
    if isinstance(item, str):  # a str subclass (an enum's value, say): as the plain string
        return hash((key, str.__str__(item))) if item else 0
    return hash((key, _value(item, depth + 1)))


def _scalar(value: str | bytes | int | float) -> int:
    """A subclass of a builtin scalar, marked as the builtin value (its own ``__hash__`` may
    be anything)."""
    if isinstance(value, str):
        return hash(str.__str__(value))
    if isinstance(value, bytes):
        return hash(bytes(value))
    if isinstance(value, float):
        return _value(float(value), 0)
    return hash(int(value))
