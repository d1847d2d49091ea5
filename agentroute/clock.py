"""Time and chance, injected: every reader of time in the package goes through this module.

Three kinds of time are read, each from one place here:

* **The router's** :class:`Clock` (``Router(clock=...)``) for every duration the library
  reasons about: backoff and its jitter, cooldowns and failure windows, the in-memory store's
  TTLs, the state store's and the classifier's circuit breakers, implicit sessions' idle TTL,
  attempt durations, when telemetry looks again for a global OpenTelemetry provider. Tests
  swap in :class:`~agentroute.testing.FakeClock` and never really sleep (tenacity's lesson);
  the simulator takes a clock of its own the same way. The default, :class:`SystemClock`,
  reads ``time.monotonic`` (anyio's own ``current_time()`` costs several times more per read)
  and sleeps with anyio, so it works on asyncio and trio.
* **The event loop's** (:func:`loop_time`) only where a budget bounds real I/O and must not be
  shortened by a fake clock: the fail-open state store's watcher, which measures a store's
  silence in ticks of the loop that runs it (:mod:`agentroute.state.failopen`). Deadlines are
  handed to anyio's cancel scopes as relative seconds, so the two clocks never need to agree.
* **The wall clock** (:func:`wall_time`) only for dates and timestamps (which of a model's
  dated genai-prices applies today, the simulator's ``created`` field), never for a duration.
  (A ``Retry-After`` HTTP date is turned into seconds against the wall clock where it is
  parsed, :func:`agentroute.providers.classify.parse_retry_after`, which takes ``now``.)
"""

from __future__ import annotations

import random as _random
import time
from typing import Protocol

import anyio

__all__ = ["Clock", "SystemClock", "loop_time", "wall_time"]


class Clock(Protocol):
    """What the router's components need to know about time."""

    def now(self) -> float:
        """Seconds on a monotonic clock (only differences are meaningful)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (a checkpoint: cancellation is delivered here)."""
        ...

    def random(self) -> float:
        """A uniform draw in [0, 1) for jitter."""
        ...


class SystemClock:
    """The real clock: ``time.monotonic``, anyio's sleep, a private RNG.

    ``SystemClock().now`` *is* ``time.monotonic`` (no bound method around it), so a hot path
    may keep ``clock.now`` and call it for the price of the builtin.

    Args:
        seed: seeds the jitter RNG (``None``: from the OS), for reproducible backoff.
    """

    __slots__ = ("_rng",)

    now = staticmethod(time.monotonic)

    def __init__(self, seed: int | None = None) -> None:
        self._rng = _random.Random(seed)

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)

    def random(self) -> float:
        return self._rng.random()

    def __repr__(self) -> str:
        return "SystemClock()"


def loop_time() -> float:
    """The running event loop's clock (``anyio.current_time()``): for budgets on real I/O
    only (see the module docstring); everything else reads the router's :class:`Clock`."""
    return anyio.current_time()


def wall_time() -> float:
    """Seconds since the epoch: for dates and timestamps only, never durations."""
    return time.time()
