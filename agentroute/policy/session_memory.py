"""A component's own memory of each session: one value per live session, dropped with it.

The session ledger (:class:`~agentroute.SessionState`) keeps only what the calls of a session
share; a component that needs to remember something of its own about a session between its
calls (the signal extractor's incremental scan, the scored policy's calm steps) keeps it here,
keyed by the session, instead of on the ledger.

Values are kept by the session's ``id`` while the session lives: a weak reference per session
drops its entry when it goes, before its ``id`` can be reused. A plain dict by ``id`` rather
than a :class:`weakref.WeakKeyDictionary`: a read is one C-level ``dict.get`` (:attr:`by_id`)
with no reference object and no Python-level call, which matters on a path taken by every
routed call. Writes pay for the weak reference once per session.

One event loop's tasks only (like the ledger): no method awaits, so each runs whole.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar
from weakref import ref

__all__ = ["SessionMemory"]

V = TypeVar("V")


class SessionMemory(Generic[V]):
    """One value of type ``V`` per live session (any weakly referenceable object)."""

    __slots__ = ("_alive", "by_id")

    def __init__(self) -> None:
        self.by_id: dict[int, V] = {}
        """The values by the ``id`` of their session: read it with ``by_id.get(id(session))``
        (the fast path); write only through :meth:`put`."""
        self._alive: dict[int, ref[object]] = {}

    def get(self, session: object) -> V | None:
        """The value kept for ``session`` (``None``: none)."""
        return self.by_id.get(id(session))

    def put(self, session: object, value: V) -> None:
        """Keep ``value`` for ``session`` until another replaces it or the session goes."""
        key = id(session)
        if key not in self._alive:
            self._alive[key] = ref(session, self._forget(key))
        self.by_id[key] = value

    def _forget(self, key: int) -> Callable[[object], None]:
        values, alive = self.by_id, self._alive

        def gone(_: object) -> None:
            values.pop(key, None)
            alive.pop(key, None)

        return gone

    def __len__(self) -> int:
        return len(self.by_id)

    def __repr__(self) -> str:
        return f"SessionMemory(sessions={len(self.by_id)})"
