"""One round trip for what a call reads from a shared store: its candidates' cooldowns and its
session's pins.

A call reads the store twice before its first attempt: the affinity step asks for the session's
pin of each candidate model, then the fallback step asks which candidate deployments are
cooling down. On a store across a network (Redis) each read is a round trip, so a store that
can answer both at once implements :class:`CallReads` (:meth:`read_call`, one pipelined round
trip). The affinity step then reads both with it and publishes the cooldowns for the rest of
the call with :func:`prefetched`; the store wrapper
(:class:`~agentroute.state.failopen.FailOpenStore`) answers the fallback step's first
``cooling`` read of those deployments from them (:func:`take_prefetched`) instead of asking the
server again. Only that first read is
answered so: later reads in the call (after a deployment failed and was put aside) go to the
store. The published value lives in a context variable, so concurrent calls never see each
other's.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol, runtime_checkable

__all__ = ["EMPTY_SNAPSHOT", "CallReads", "CallSnapshot", "prefetched", "take_prefetched"]

_EMPTY: Mapping[str, float] = MappingProxyType({})
_NO_PINS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class CallSnapshot:
    """What one call read: the cooling deployments (key → seconds left) among those asked
    about, and the session's pins (model → deployment key) among the models asked about."""

    cooling: Mapping[str, float]
    pins: Mapping[str, str]


EMPTY_SNAPSHOT = CallSnapshot(_EMPTY, _NO_PINS)
"""What an empty (or unreachable) store answers."""


@runtime_checkable
class CallReads(Protocol):
    """A store that reads a call's cooldowns and pins in one round trip."""

    async def read_call(
        self, keys: Sequence[str], session: str, models: Sequence[str]
    ) -> CallSnapshot:
        """Which of ``keys`` are cooling down, and ``session``'s pin for each of ``models``."""
        ...


class _Prefetch:
    """The cooldowns a call read ahead, for the first ``cooling`` read that they cover."""

    __slots__ = ("cooling", "keys", "used")

    def __init__(self, keys: frozenset[str], cooling: Mapping[str, float]) -> None:
        self.keys = keys
        self.cooling = cooling
        self.used = False


_CURRENT: ContextVar[_Prefetch | None] = ContextVar("agentroute_prefetched", default=None)


@contextmanager
def prefetched(keys: Sequence[str], cooling: Mapping[str, float]) -> Iterator[None]:
    """Within the block, the first ``cooling`` read of a subset of ``keys`` through the store
    wrapper is answered from ``cooling`` (read just before, in the same round trip as the
    pins)."""
    token = _CURRENT.set(_Prefetch(frozenset(keys), cooling))
    try:
        yield
    finally:
        _CURRENT.reset(token)


def take_prefetched(keys: Sequence[str]) -> Mapping[str, float] | None:
    """The prefetched cooldowns of ``keys`` if this call has some unused that cover them all
    (they are then used up), else ``None``: ask the store."""
    ahead = _CURRENT.get()
    if ahead is None or ahead.used or not ahead.keys.issuperset(keys):
        return None
    ahead.used = True
    found = ahead.cooling
    if len(found) == 0:
        return _EMPTY
    return {key: found[key] for key in keys if key in found}
