"""Secrets masked in an exception *and in everything chained to it*, in place.

An error a wrapped function raises often quotes a credential: a provider echoing the key it
was sent, an SDK error about a malformed header, a URL with a key in its query. The router
translates it into its error tree with ``raise translated from exc`` so the original stays
reachable as ``__cause__`` (its response, its body, its type) — and a full traceback
(``traceback.format_exception``, a logger's ``exc_info``, an error tracker) prints every link
of that chain. So instead of cutting the chain (``from None``), each link is scrubbed where it
is: its ``args``, its ``__notes__`` and its string attributes (``message``, ``body``, …, in
nested dicts, lists and tuples too) get every secret value :func:`~agentroute._secrets.redact`
knows replaced by a mask. The exceptions keep their identity, type and every other attribute.

A link whose text still shows a secret after that (a class whose ``__str__`` reads something
else) is replaced in the chain by a :class:`RedactedError` carrying its type's name and its
masked text.
"""

from __future__ import annotations

import contextlib
from typing import Any

from agentroute._secrets import redact

__all__ = ["RedactedError", "scrub_exception"]

_MAX_LINKS = 64
_MAX_DEPTH = 4


class RedactedError(Exception):
    """Stands in a traceback chain for an exception whose text could not be masked in place:
    ``"<its type>: <its masked text>"``."""


def scrub_exception(exc: BaseException) -> BaseException:
    """Mask every known secret in ``exc`` and in its ``__cause__``/``__context__`` chain (and
    the members of exception groups in it), in place; returns ``exc``."""
    seen: set[int] = set()
    todo = [exc]
    while todo and len(seen) < _MAX_LINKS:
        link = todo.pop()
        if id(link) in seen:
            continue
        seen.add(id(link))
        _scrub_one(link)
        for attr in ("__cause__", "__context__"):
            nxt = getattr(link, attr)
            if nxt is None:
                continue
            _scrub_one(nxt)
            if _still_leaks(nxt):
                stand_in = _stand_in(nxt)
                setattr(link, attr, stand_in)
                if attr == "__cause__" and link.__context__ is nxt:
                    link.__context__ = stand_in
                nxt = stand_in
            todo.append(nxt)
        if isinstance(link, BaseExceptionGroup):
            todo.extend(link.exceptions)
    return exc


def _scrub_one(exc: BaseException) -> None:
    args = exc.args
    clean = _clean(args, 0)
    if clean is not args:
        with contextlib.suppress(TypeError, AttributeError):  # an exotic args setter
            exc.args = clean
    notes = getattr(exc, "__notes__", None)
    if isinstance(notes, list):
        notes[:] = [_clean(n, 0) for n in notes]
    attrs = getattr(exc, "__dict__", None)
    if isinstance(attrs, dict):
        for key, value in list(attrs.items()):
            if key.startswith("__"):
                continue
            cleaned = _clean(value, 0)
            if cleaned is not value:
                with contextlib.suppress(AttributeError, TypeError):  # a read-only property
                    setattr(exc, key, cleaned)


def _clean(value: Any, depth: int) -> Any:
    """``value`` with secrets masked: the same object when there was nothing to mask."""
    if isinstance(value, str):
        masked = redact(value)
        return value if masked == value else masked
    if isinstance(value, bytes):
        text = value.decode("utf-8", "replace")
        masked = redact(text)
        return value if masked == text else masked.encode()
    if depth >= _MAX_DEPTH:
        return value
    if type(value) is dict:
        items = {k: _clean(v, depth + 1) for k, v in value.items()}
        changed = any(items[k] is not v for k, v in value.items())
        return items if changed else value
    if type(value) in (list, tuple):
        cleaned = [_clean(v, depth + 1) for v in value]
        if any(c is not v for c, v in zip(cleaned, value, strict=True)):
            return type(value)(cleaned)
    return value


def _text(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # a broken __str__ prints as such in a traceback, without its text
        return ""


def _still_leaks(exc: BaseException) -> bool:
    text = _text(exc)
    return redact(text) != text


def _stand_in(exc: BaseException) -> RedactedError:
    stand_in = RedactedError(
        f"{type(exc).__module__}.{type(exc).__qualname__}: {redact(_text(exc))}"
    )
    stand_in.__cause__ = exc.__cause__
    stand_in.__context__ = exc.__context__
    stand_in.__suppress_context__ = exc.__suppress_context__
    stand_in.__traceback__ = exc.__traceback__
    return stand_in
