"""JSON of a caller's data, read and written so that no value can crash a routed call.

A conversation carries data the developer did not write: tool results (a 1,000-level nested
JSON document, a parsed structure, a number too long for ``str()``, a lone surrogate half of an
emoji), tool-call arguments a model produced, objects an agent framework put in. The router
reads all of them at every step (token counts, tool-error detection, repeated-call signatures,
session keys, span content) and the built-in providers send them. The standard ``json`` module
fails on several of them — ``RecursionError`` past roughly 1,000 levels (fewer when the call
stack is already deep), ``ValueError`` on a cycle, a NaN (when strict) or an integer of more
than 4,300 digits, ``TypeError`` on bytes, sets, tuple keys or keys of mixed types when sorting —
so every place that parses or writes such data goes through here:

* :func:`parse` reads JSON *text* to a bounded depth (:data:`MAX_PARSE_DEPTH`): deeper text, or
  text that is not JSON, raises ``ValueError``, and the caller treats it as plain text. The
  bound is checked before parsing, so the outcome does not depend on the depth of the stack.
* :func:`text_of` writes any value as JSON-like *text* for reading (token counts, signatures,
  keys, a tool result's data sent as text): exactly ``json.dumps`` when that works; otherwise an
  iterative encoder that has no depth limit, writes bytes as their UTF-8 text, sets as sorted
  arrays, other objects as ``str()``, a cycle as ``"[...]"``, an integer too long for decimal
  conversion as a string of its hex digits, and keys ``json`` cannot take as their ``str()``.
  It never raises, and its text is JSON that Python reads back (NaN included).
* :func:`encode` writes a value as strict JSON for the wire (compact, no NaN), at any depth;
  a value JSON cannot carry raises :class:`NotJSON` naming where it is inside the value
  (:func:`not_json` finds it), which the providers turn into a ConfigurationError naming the
  message and field. :func:`wire_bytes` encodes the text as UTF-8 with each lone surrogate
  replaced by U+FFFD (valid surrogate pairs are joined), as a UTF-8 decoder does with
  malformed input.
* :func:`safe_repr` is a bounded ``repr`` for error messages (``reprlib``'s limits, and a
  number too long to print shown by its size).
"""

from __future__ import annotations

import json
import re
import reprlib
import sys
from collections.abc import Iterable, Mapping
from itertools import accumulate
from typing import Any

__all__ = [
    "MAX_PARSE_DEPTH",
    "NotJSON",
    "encode",
    "not_json",
    "parse",
    "parse_answer",
    "safe_repr",
    "safe_str",
    "text_of",
    "wire_bytes",
]

MAX_PARSE_DEPTH = 100
"""The deepest nesting of arrays and objects :func:`parse` reads (text nested deeper is read as
text). Real tool results and arguments stay far below it; Python's own parser fails somewhere
below 1,000 levels, depending on how deep the stack already is."""

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def _nesting(text: str) -> int:
    """The deepest nesting of brackets in ``text``, outside string literals (C-level passes)."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def parse(text: str | bytes) -> Any:
    """``json.loads(text)`` if ``text`` is JSON nested at most :data:`MAX_PARSE_DEPTH` deep.

    Raises:
        ValueError: ``text`` is not JSON, is nested deeper, or holds a number Python will not
            read (an integer of more than 4,300 digits).
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if text.count("[") + text.count("{") > MAX_PARSE_DEPTH and _nesting(text) > MAX_PARSE_DEPTH:
        raise ValueError(f"JSON nested more than {MAX_PARSE_DEPTH} levels deep")
    return parse_answer(text)


def parse_answer(text: str | bytes) -> Any:
    """``json.loads(text)`` at whatever depth Python's parser reaches: for a provider's answer,
    which is read whole or not at all. Raises ``ValueError`` (also when it is too deep)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply to parse") from None


# Writing ---------------------------------------------------------------------------------------


class NotJSON(ValueError):
    """A value JSON cannot carry: ``path`` is where inside it (``.input.data[2]``, ``""`` for
    the value itself), ``problem`` what is there (``"a bytes value"``)."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path or 'the value'}: {problem}")
        self.path = path
        self.problem = problem


class _Raw:
    """Punctuation already written (an item of the encoder's work stack)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class _Leave(_Raw):
    """The end of a container: written, and its identity leaves the open set."""

    __slots__ = ("ident",)

    def __init__(self, text: str, ident: int) -> None:
        super().__init__(text)
        self.ident = ident


class _Bad(Exception):
    """Internal: the strict encoder met a value JSON cannot carry."""


_CYCLE = '"[...]"'


def _int_text(value: int, lenient: bool, *, quoted: bool = True) -> str:
    """An integer's digits; one too long for decimal conversion (more digits than
    ``sys.get_int_max_str_digits()``) is written in hex, as a JSON string when ``quoted``."""
    try:
        return int.__repr__(value)
    except ValueError:
        if not lenient:
            raise _Bad from None
        return f'"{value:#x}"' if quoted else f"{value:#x}"


def _float_text(value: float, allow_nan: bool) -> str:
    if value != value:
        text = "NaN"
    elif value in (float("inf"), float("-inf")):
        text = "Infinity" if value > 0 else "-Infinity"
    else:
        return float.__repr__(value)
    if not allow_nan:
        raise _Bad
    return text


def _key_text(key: object, lenient: bool, allow_nan: bool) -> str:
    """A mapping key as ``json`` writes it (a string; numbers, booleans and None as JSON)."""
    if isinstance(key, str):
        return key
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, int):
        return _int_text(key, lenient, quoted=False)
    if isinstance(key, float):
        return _float_text(key, allow_nan)
    if not lenient:
        raise _Bad
    return safe_str(key)


def _lenient_default(value: object) -> Any:
    """What :func:`text_of` writes for a value JSON has no type for."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, set | frozenset):
        return sorted(value, key=lambda item: text_of(item))
    if isinstance(value, Mapping):
        return dict(value)
    return safe_str(value)


def _items(
    mapping: dict[Any, Any], sort_keys: bool, lenient: bool, allow_nan: bool
) -> list[tuple[str, Any]]:
    pairs: Iterable[tuple[Any, Any]] = mapping.items()
    by_text = False
    if sort_keys:
        try:
            pairs = sorted(pairs, key=lambda kv: kv[0])  # as json.dumps sorts: by the key
        except TypeError:  # keys of types that do not compare: by their text
            if not lenient:
                raise _Bad from None
            by_text = True
    items = [(_key_text(k, lenient, allow_nan), v) for k, v in pairs]
    if by_text:
        items.sort(key=lambda kv: kv[0])
    return items


def _iterative(
    value: object,
    *,
    lenient: bool,
    sort_keys: bool,
    separators: tuple[str, str],
    ensure_ascii: bool,
    allow_nan: bool,
) -> str:
    """``json.dumps`` without recursion (same text for what ``json.dumps`` writes)."""
    quote = json.encoder.encode_basestring_ascii if ensure_ascii else json.encoder.encode_basestring
    item_sep, key_sep = separators
    out: list[str] = []
    todo: list[Any] = [value]
    open_ids: set[int] = set()
    while todo:
        item = todo.pop()
        kind = type(item)
        if kind is _Raw:
            out.append(item.text)
        elif kind is _Leave:
            open_ids.discard(item.ident)
            out.append(item.text)
        elif isinstance(item, str):
            out.append(quote(item))
        elif item is None:
            out.append("null")
        elif item is True:
            out.append("true")
        elif item is False:
            out.append("false")
        elif isinstance(item, int):
            out.append(_int_text(item, lenient))
        elif isinstance(item, float):
            out.append(_float_text(item, allow_nan))
        elif isinstance(item, list | tuple | dict):
            if id(item) in open_ids:
                if not lenient:
                    raise _Bad
                out.append(_CYCLE)
                continue
            open_ids.add(id(item))
            pieces: list[Any] = []
            if isinstance(item, dict):
                out.append("{")
                todo.append(_Leave("}", id(item)))
                for i, (key, member) in enumerate(_items(item, sort_keys, lenient, allow_nan)):
                    if i:
                        pieces.append(_Raw(item_sep))
                    pieces.append(_Raw(quote(key) + key_sep))
                    pieces.append(member)
            else:
                out.append("[")
                todo.append(_Leave("]", id(item)))
                for i, member in enumerate(item):
                    if i:
                        pieces.append(_Raw(item_sep))
                    pieces.append(member)
            todo.extend(reversed(pieces))
        elif lenient:
            todo.append(_lenient_default(item))
        else:
            raise _Bad
    return "".join(out)


def text_of(
    value: object,
    *,
    sort_keys: bool = False,
    separators: tuple[str, str] | None = None,
    ensure_ascii: bool = True,
) -> str:
    """``value`` as JSON-like text for reading; never raises (see the module docstring).

    The keywords are ``json.dumps``'s, with the same defaults: where ``json.dumps(value,
    default=str, ...)`` works, this is its text.
    """
    seps = separators or (", ", ": ")
    try:
        return json.dumps(
            value,
            sort_keys=sort_keys,
            separators=seps,
            ensure_ascii=ensure_ascii,
            default=_lenient_default,
        )
    except (RecursionError, ValueError, TypeError):
        pass
    return _iterative(
        value,
        lenient=True,
        sort_keys=sort_keys,
        separators=seps,
        ensure_ascii=ensure_ascii,
        allow_nan=True,
    )


_WIRE_SEPARATORS = (",", ":")


def encode(value: object, *, separators: tuple[str, str] = _WIRE_SEPARATORS) -> str:
    """``value`` as strict JSON (no NaN, non-ASCII as is; compact unless ``separators`` say
    otherwise), at any depth.

    Raises:
        NotJSON: a value in it that JSON cannot carry, and where (:func:`not_json`).
    """
    try:
        return json.dumps(value, ensure_ascii=False, separators=separators, allow_nan=False)
    except RecursionError:
        try:
            return _iterative(
                value,
                lenient=False,
                sort_keys=False,
                separators=separators,
                ensure_ascii=False,
                allow_nan=False,
            )
        except _Bad:
            pass
    except (ValueError, TypeError):
        pass
    found = not_json(value)
    raise NotJSON(*(found or ("", "a value JSON cannot carry")))


def wire_bytes(text: str) -> bytes:
    """``text`` as UTF-8; lone surrogates (which UTF-8 cannot carry) become U+FFFD."""
    try:
        return text.encode()
    except UnicodeEncodeError:
        joined = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
        return joined.encode()


def _path_key(key: object) -> str:
    if isinstance(key, str) and key.isidentifier():
        return f".{key}"
    return f"[{safe_repr(key)}]"


def _problem(value: object, key: bool = False) -> str | None:
    """What is wrong with one value (not its members) for strict JSON, or None."""
    what = "a key" if key else "a value"
    if isinstance(value, str) or value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        try:
            int.__repr__(value)
        except ValueError:
            limit = sys.get_int_max_str_digits()
            return f"an integer of more than {limit} digits"
        return None
    if isinstance(value, float):
        return None if value == value and abs(value) != float("inf") else "a NaN or infinity"
    if key:
        return f"{what} of type {type(value).__name__}"
    if isinstance(value, list | tuple | dict):
        return None
    return f"{what} of type {type(value).__name__}"


def not_json(value: object) -> tuple[str, str] | None:
    """The first place in ``value`` that strict JSON cannot carry, as ``(path, problem)``
    (``(".input.b", "a value of type bytes")``); ``None`` when there is none. Iterative: any
    depth; a container that holds itself is a problem."""
    todo: list[Any] = [(value, "")]
    open_ids: set[int] = set()
    while todo:
        entry = todo.pop()
        if type(entry) is int:
            open_ids.discard(entry)
            continue
        item, path = entry
        problem = _problem(item)
        if problem is not None:
            return path, problem
        if not isinstance(item, list | tuple | dict):
            continue
        if id(item) in open_ids:
            return path, "a value that contains itself"
        open_ids.add(id(item))
        todo.append(id(item))
        if isinstance(item, dict):
            members = []
            for key, member in item.items():
                problem = _problem(key, key=True)
                if problem is not None:
                    return path + _path_key(key), problem
                members.append((member, path + _path_key(key)))
        else:
            members = [(member, f"{path}[{i}]") for i, member in enumerate(item)]
        todo.extend(reversed(members))
    return None


# Bounded repr and str ----------------------------------------------------------------------------


class _SafeRepr(reprlib.Repr):
    def repr_int(self, x: int, level: int) -> str:
        try:
            return super().repr_int(x, level)
        except ValueError:
            return f"<int of {x.bit_length()} bits>"

    def repr_instance(self, x: object, level: int) -> str:
        try:
            return super().repr_instance(x, level)
        except RecursionError:
            return f"<{type(x).__name__} object>"


_REPR = _SafeRepr()
_REPR.maxstring = _REPR.maxother = 80


def safe_repr(value: object) -> str:
    """A short ``repr`` of a caller's value for an error message; never raises."""
    try:
        return _REPR.repr(value)
    except Exception:
        return f"<{type(value).__name__} object>"


def safe_str(value: object) -> str:
    """``str(value)``, or a placeholder naming its type when that fails (a number too long
    to print, an object whose ``__str__`` raises or recurses without end)."""
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return _int_text(value, lenient=True, quoted=False)
    try:
        return str(value)
    except Exception:
        return f"<{type(value).__name__} object>"
