"""The in-memory :class:`~agentroute.state.StateStore`: one process, bounded, expiring.

Failure times are kept per deployment only for the window asked about; cooldowns and pins
expire on their own. The number of entries is bounded (``max_keys``, ``max_pins``; the least
recently touched go first), so a router that sees many deployments and sessions over its life
does not grow without end; a router's own store (``state: {kind: memory}``) is bounded by its
config: ``max_keys`` by its deployments, ``max_pins`` by ``sessions.max_implicit`` × its models
(:func:`~agentroute.state.build.store_from_config`).

Expired entries are also swept without being read: each pin written looks at up to
:data:`SWEEP` of the least recently refreshed pins and drops those expired (stopping at the
first live one), so the sweep's cost is bounded and paid as writes come, and expired pins do
not pile up until the cap. Pins of one TTL expire in the order they were refreshed, so they are
swept as soon as the next write comes; with pins of several TTLs (providers with different
``cache_ttl_s``), an expired pin may wait behind a live one, at most the longest TTL. A pin
keeps a key tuple, a value tuple and an ordered-dict entry (the session key string is shared
with the session). Time comes from an injected :class:`~agentroute.clock.Clock` (tests
use a fake one).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Mapping, Sequence
from types import MappingProxyType

from agentroute.clock import Clock, SystemClock

__all__ = ["MemoryStateStore"]

_NONE: Mapping[str, float] = MappingProxyType({})

SWEEP = 4
"""Pins looked at, least recently refreshed first, for expiry on each pin written."""


class MemoryStateStore:
    """Failures and cooldowns in this process's memory.

    Args:
        clock: where time comes from (default :class:`~agentroute.clock.SystemClock`).
        max_keys: how many deployments' failure histories and cooldowns are kept at most.
        max_pins: how many session × model pins are kept at most (the least recently
            refreshed goes first; an expired pin is dropped when next read).
        max_summaries: how many ended sessions' summaries are kept at most (the oldest
            written goes first; an expired one is dropped when next read or written past).
    """

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        max_keys: int = 10_000,
        max_pins: int = 100_000,
        max_summaries: int = 100_000,
    ) -> None:
        self._clock: Clock = clock or SystemClock()
        self._max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._cooldowns: dict[str, float] = {}
        self._pins: OrderedDict[tuple[str, str], tuple[str, float]] = OrderedDict()
        self._max_pins = max_pins
        self._summaries: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._max_summaries = max_summaries

    def __repr__(self) -> str:
        return (
            f"MemoryStateStore(keys={len(self._failures)}, cooling={len(self._cooldowns)}, "
            f"pins={len(self._pins)})"
        )

    async def add_failure(self, key: str, window_s: float) -> int:
        now = self._clock.now()
        times = self._failures.get(key)
        if times is None:
            times = self._failures[key] = deque()
            if len(self._failures) > self._max_keys:
                self._failures.popitem(last=False)
        else:
            self._failures.move_to_end(key)
        times.append(now)
        edge = now - window_s
        while times and times[0] <= edge:
            times.popleft()
        return len(times)

    async def clear_failures(self, key: str) -> None:
        self._failures.pop(key, None)

    async def set_cooldown(self, key: str, seconds: float) -> None:
        until = self._clock.now() + seconds
        if until > self._cooldowns.get(key, float("-inf")):
            self._cooldowns[key] = until
        if len(self._cooldowns) > self._max_keys:
            self._expire(self._clock.now())

    async def cooling(self, keys: Sequence[str]) -> Mapping[str, float]:
        cooldowns = self._cooldowns
        if not cooldowns:  # the usual case: nothing is put aside
            return _NONE
        now = self._clock.now()
        found: dict[str, float] = {}
        for key in keys:
            until = cooldowns.get(key)
            if until is None:
                continue
            if until > now:
                found[key] = until - now
            else:
                del cooldowns[key]
        return found

    async def get_pin(self, session: str, model: str) -> str | None:
        key = (session, model)
        found = self._pins.get(key)
        if found is None:
            return None
        deployment, until = found
        if until <= self._clock.now():
            del self._pins[key]
            return None
        return deployment

    async def set_pin(self, session: str, model: str, deployment: str, ttl_s: float) -> None:
        key = (session, model)
        pins = self._pins
        now = self._clock.now()
        if pins and pins[next(iter(pins))][1] <= now:  # inline: no call when nothing expired
            self._sweep_pins(now)
        pins[key] = (deployment, now + ttl_s)
        pins.move_to_end(key)
        if len(pins) > self._max_pins:
            pins.popitem(last=False)  # the least recently refreshed pin

    def _sweep_pins(self, now: float) -> None:
        """Drop expired pins among the :data:`SWEEP` least recently refreshed."""
        pins = self._pins
        for _ in range(SWEEP):
            if not pins:
                return
            key = next(iter(pins))
            if pins[key][1] > now:
                return  # the oldest left is live
            del pins[key]

    async def drop_pin(self, session: str, model: str) -> None:
        self._pins.pop((session, model), None)

    async def put_session_summary(self, session: str, summary: str, ttl_s: float) -> None:
        summaries = self._summaries
        now = self._clock.now()
        while summaries and summaries[next(iter(summaries))][1] <= now:  # the oldest expired
            summaries.popitem(last=False)
        summaries[session] = (summary, now + ttl_s)
        summaries.move_to_end(session)
        if len(summaries) > self._max_summaries:
            summaries.popitem(last=False)

    async def get_session_summary(self, session: str) -> str | None:
        found = self._summaries.get(session)
        if found is None:
            return None
        summary, until = found
        if until <= self._clock.now():
            del self._summaries[session]
            return None
        return summary

    def _expire(self, now: float) -> None:
        for key in [k for k, until in self._cooldowns.items() if until <= now]:
            del self._cooldowns[key]
        while len(self._cooldowns) > self._max_keys:  # still too many: drop the soonest over
            del self._cooldowns[min(self._cooldowns, key=self._cooldowns.__getitem__)]

    async def aclose(self) -> None:
        """Nothing to release."""
