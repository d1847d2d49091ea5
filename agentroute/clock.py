"""Time and chance, injected: the retry loop's ``sleep``, clock and random draws.

Backoff, deadlines and cooldowns read time only through a :class:`Clock`, so tests swap in
:class:`~agentroute.testing.FakeClock` and never really sleep (tenacity's lesson). The default,
:class:`SystemClock`, reads ``time.monotonic`` (deadlines are handed to anyio's cancel scopes
as relative seconds, so the two clocks never need to agree; anyio's own ``current_time()``
costs several times more per read) and sleeps with anyio, so it works on asyncio and trio.
"""

from __future__ import annotations

import random as _random
import time
from typing import Protocol

import anyio

__all__ = ["Clock", "SystemClock"]


class Clock(Protocol):
    """What the retry loop and the in-memory state store need to know about time."""

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

    Args:
        seed: seeds the jitter RNG (``None``: from the OS), for reproducible backoff.
    """

    __slots__ = ("_rng",)

    def __init__(self, seed: int | None = None) -> None:
        self._rng = _random.Random(seed)

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)

    def random(self) -> float:
        return self._rng.random()

    def __repr__(self) -> str:
        return "SystemClock()"
