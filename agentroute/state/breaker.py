"""A circuit breaker for a shared state store: a hung store costs one short timeout per
window, not one per operation.

The breaker is **closed** while the store answers: every operation goes through. After
``failures`` consecutive failures (errors or timeouts) it **opens**: operations skip the store
(answered as an empty store would) for ``reset_s`` seconds. Then it is **half-open**: one
operation, the probe, goes through while the others still skip; the probe's success closes the
breaker, its failure opens it for another ``reset_s``. While it is open, the results of
operations that started before it opened are ignored (a late answer does not prove the store is
back; a late failure does not extend the window).

Time is read from the router's :class:`~agentroute.clock.Clock`, so tests move it by hand.
:meth:`CircuitBreaker.allow`, :meth:`~CircuitBreaker.succeeded` and
:meth:`~CircuitBreaker.failed` return the new state when they change it (``None`` otherwise),
so the caller logs and counts each transition once.
"""

from __future__ import annotations

from typing import Literal

from agentroute.clock import Clock

__all__ = ["BreakerState", "CircuitBreaker"]

BreakerState = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    """Consecutive failures open it; after ``reset_s`` one probe decides whether it closes.

    Args:
        failures: consecutive failures that open the breaker (at least 1).
        reset_s: how long it stays open before letting one probe through.
        clock: where time comes from.
    """

    __slots__ = ("_clock", "_failures", "_opened_at", "_probing", "_reset_s", "_streak", "state")

    def __init__(self, failures: int, reset_s: float, clock: Clock) -> None:
        if failures < 1:
            raise ValueError("failures must be at least 1")
        self._failures = failures
        self._reset_s = reset_s
        self._clock = clock
        self.state: BreakerState = "closed"
        self._streak = 0
        self._opened_at = 0.0
        self._probing = False

    def __repr__(self) -> str:
        return f"CircuitBreaker(state={self.state!r}, streak={self._streak})"

    @property
    def streak(self) -> int:
        """Consecutive failures counted so far (reset by a success)."""
        return self._streak

    def allow(self) -> tuple[bool, BreakerState | None]:
        """Whether the next operation may go to the store, and the new state if asking moved
        the breaker (open → half-open once ``reset_s`` has passed: this operation is the
        probe)."""
        state = self.state
        if state == "closed":
            return True, None
        if state == "open":
            if self._clock.now() - self._opened_at < self._reset_s:
                return False, None
            self.state = "half_open"
            self._probing = True
            return True, "half_open"
        if self._probing:  # half-open, the probe still running: everyone else skips
            return False, None
        self._probing = True  # the last probe was abandoned: this one takes its place
        return True, None

    def succeeded(self) -> BreakerState | None:
        """An operation let through by :meth:`allow` answered."""
        state = self.state
        if state == "open":
            return None
        self._streak = 0
        if state == "half_open":
            self._probing = False
            self.state = "closed"
            return "closed"
        return None

    def failed(self) -> BreakerState | None:
        """An operation let through by :meth:`allow` failed or timed out."""
        state = self.state
        if state == "open":
            return None
        self._streak += 1
        if state == "half_open" or self._streak >= self._failures:
            self._probing = False
            self.state = "open"
            self._opened_at = self._clock.now()
            return "open"
        return None

    def abandoned(self) -> None:
        """An operation let through ended without an answer either way (cancelled by its
        caller, or a developer's mistake): if it was the probe, the next operation probes."""
        if self.state == "half_open":
            self._probing = False
