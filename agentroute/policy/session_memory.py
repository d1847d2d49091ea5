"""A component's own memory of each session: one value per live session, dropped with it.

The session ledger (:class:`~agentroute.SessionState`) keeps only what the calls of a session
share; a component that needs to remember something of its own about a session between its
calls (the signal extractor's incremental scan, the scored policy's calm steps) keeps it here,
keyed by the session, instead of on the ledger.

Values are kept by the session's ``id`` while the session lives: a weak reference per session
drops its entry when it goes, before its ``id`` can be reused. A plain dict by ``id`` rather
than a :class:`weakref.WeakKeyDictionary`: a read is one C-level ``dict.get`` (:attr:`by_id`)
with no reference object and no Python-level call, which matters on a path taken by every
routed call. Writes pay for the weak reference once per session: one small object (the
reference, carrying its session's ``id``) with one callback shared by every session, so an idle
session costs this memory its reference and two dict entries, not a closure and its cells.

One event loop's tasks only (like the ledger): no method awaits, so each runs whole.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar
from weakref import ref

__all__ = ["SessionMemory"]

V = TypeVar("V")


class _Ref(ref[object]):
    """A weak reference to a session that knows its session's ``id`` (the memory's key), so
    one callback serves every session."""

    __slots__ = ("key",)
    key: int


class SessionMemory(Generic[V]):
    """One value of type ``V`` per live session (any weakly referenceable object)."""

    __slots__ = ("_alive", "_gone", "by_id")

    def __init__(self) -> None:
        self.by_id: dict[int, V] = {}
        """The values by the ``id`` of their session: read it with ``by_id.get(id(session))``
        (the fast path); write only through :meth:`put`."""
        self._alive: dict[int, _Ref] = {}
        self._gone = _forgetting(self.by_id, self._alive)  # one callback for every session

    def get(self, session: object) -> V | None:
        """The value kept for ``session`` (``None``: none)."""
        return self.by_id.get(id(session))

    def put(self, session: object, value: V) -> None:
        """Keep ``value`` for ``session`` until another replaces it or the session goes."""
        key = id(session)
        if key not in self._alive:
            alive = _Ref(session, self._gone)
            alive.key = key
            self._alive[key] = alive
        self.by_id[key] = value

    def __len__(self) -> int:
        return len(self.by_id)

    def __repr__(self) -> str:
        return f"SessionMemory(sessions={len(self.by_id)})"


def _forgetting(values: dict[int, V], alive: dict[int, _Ref]) -> Callable[[_Ref], None]:
    """The callback of a memory's references: a session went, so its entry goes (before its
    ``id`` can be reused). A closure over the two dicts, not a bound method: no reference
    cycle through the memory."""

    def gone(reference: _Ref) -> None:
        key = reference.key
        if alive.get(key) is reference:
            del alive[key]
            values.pop(key, None)

    return gone
