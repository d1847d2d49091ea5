"""The contract every :class:`~agentroute.state.StateStore` keeps, as a reusable test class.

A store's test module subclasses :class:`StateStoreContract` and provides two fixtures:

* ``store``: a fresh, empty store (its teardown may ``aclose`` it again: ``aclose`` must be
  idempotent); a shared backend (Redis) gives each test its own namespace;
* ``advance``: an async callable moving the store's time forward by some seconds (a FakeClock
  for the memory store; a real ``anyio.sleep`` for a server with real TTLs);
* ``now``: the store's time (the FakeClock's ``now``; ``time.monotonic`` for a server).

Every duration below is a multiple of :attr:`StateStoreContract.UNIT` seconds. Expectations
are worked out from the time each call was actually made, read with ``now`` just before and
just after it, never from the nominal waits: on real time a loaded machine may sleep longer
than asked, and the contract must hold whatever the machine's load. A value whose call came so
close to an edge (a TTL, a window) that the measured bounds straddle it may be either side of
it; :attr:`StateStoreContract.TOLERANCE` is the store's own resolution (Redis counts TTLs in
milliseconds). On a FakeClock the bounds are exact, and so is every expectation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TypeVar

import pytest

from agentroute.state import StateStore

__all__ = ["Advance", "Now", "StateStoreContract"]

Advance = Callable[[float], Awaitable[None]]
"""Moves the store's notion of time forward by the given seconds."""
Now = Callable[[], float]
"""The store's notion of time, in seconds."""
T = TypeVar("T")
Span = tuple[float, float]
"""When a call was made: the store's time just before it and just after it."""


async def timed(now: Now, call: Awaitable[T]) -> tuple[T, Span]:
    """``call``'s value and when it was made."""
    before = now()
    value = await call
    return value, (before, now())


A = "alpha/mid-1"
B = "beta/mid-b"
C = "beta/big-b"


@pytest.mark.anyio
class StateStoreContract:
    """Behaviour shared by all state stores (failure counting, cooldowns, pins, keys, closing)."""

    UNIT: float = 1.0
    """Seconds in one unit of the durations used below."""
    TOLERANCE: float = 0.0
    """The store's time resolution, in seconds (slack on every measured bound)."""

    async def wait(self, advance: Advance, units: float) -> None:
        await advance(units * self.UNIT)

    def _left(self, units: float, made: Span, read: Span) -> tuple[float, float]:
        """The bounds of what is left, at the read, of ``units`` set at ``made``."""
        slack = self.TOLERANCE + 1e-9
        total = units * self.UNIT
        return total - (read[1] - made[0]) - slack, total - (read[0] - made[1]) + slack

    def check_cooling(
        self, found: Mapping[str, float], set_: Mapping[str, tuple[float, Span]], read: Span
    ) -> None:
        """``found`` (what ``cooling`` read at ``read``) holds each key of ``set_`` (``units``
        set at a span) that is surely still cooling, with the seconds left within the measured
        bounds, and no key that surely expired or was never set."""
        for key, (units, made) in set_.items():
            low, high = self._left(units, made, read)
            if low > 0:
                assert key in found, f"{key} should still cool ({low:.3f}s left at least)"
            if key in found:
                assert high > 0, f"{key} should have expired"
                assert low <= found[key] <= high, f"{key}: {found[key]} not in [{low}, {high}]"
        assert set(found) <= set(set_), f"never put aside: {set(found) - set(set_)}"

    def check_count(self, count: int, earlier: Sequence[Span], made: Span, window: float) -> None:
        """``count`` (what ``add_failure`` made at ``made`` returned) counts this failure and
        each ``earlier`` one surely inside the window, and none surely outside it."""
        slack = self.TOLERANCE + 1e-9
        inside = sum(1 for e in earlier if made[1] - e[0] < window - slack)
        maybe = sum(1 for e in earlier if made[0] - e[1] <= window + slack)
        assert 1 + inside <= count <= 1 + maybe, f"{count} not in [{1 + inside}, {1 + maybe}]"

    def check_pin(
        self, found: str | None, expected: str, ttl_units: float, made: Span, read: Span
    ) -> None:
        """``found`` (what ``get_pin`` read at ``read``) is ``expected`` (set at ``made`` for
        ``ttl_units``) while it is surely fresh, ``None`` once it surely expired, and one of
        the two in between."""
        low, high = self._left(ttl_units, made, read)
        if low > 0:
            assert found == expected
        elif high <= 0:
            assert found is None
        else:
            assert found in (expected, None)

    # Failures ------------------------------------------------------------------------------

    async def _failures(
        self, store: StateStore, advance: Advance, now: Now, window: float, waits: Sequence[float]
    ) -> list[int]:
        """Add a failure of A, then one after each wait (units); check each count against
        when the failures were made; the counts."""
        made: list[Span] = []
        counts: list[int] = []
        for wait in (None, *waits):
            if wait is not None:
                await self.wait(advance, wait)
            count, span = await timed(now, store.add_failure(A, window))
            self.check_count(count, made, span, window)
            made.append(span)
            counts.append(count)
        return counts

    async def test_add_failure_counts_failures_within_the_window(
        self, store: StateStore, advance: Advance, now: Now
    ) -> None:
        counts = await self._failures(store, advance, now, 10 * self.UNIT, (1, 1))
        assert counts[0] == 1

    async def test_add_failure_forgets_failures_outside_the_window(
        self, store: StateStore, advance: Advance, now: Now
    ) -> None:
        # t = 0; t = 2: both inside; t = 4: the one at 0 is out; t = 9: only this one
        counts = await self._failures(store, advance, now, 3 * self.UNIT, (2, 2, 5))
        assert counts[0] == 1
        assert counts[3] == 1  # every earlier one is at least 5 units old: surely out

    async def test_clear_failures_starts_afresh(self, store: StateStore) -> None:
        window = 10 * self.UNIT
        await store.add_failure(A, window)
        await store.add_failure(A, window)
        await store.clear_failures(A)
        assert await store.add_failure(A, window) == 1

    async def test_clear_failures_of_an_unknown_key_is_a_no_op(self, store: StateStore) -> None:
        await store.clear_failures("nobody/never-seen")
        assert await store.add_failure("nobody/never-seen", 10 * self.UNIT) == 1

    # Cooldowns -----------------------------------------------------------------------------

    async def test_cooling_reports_the_remaining_seconds(
        self, store: StateStore, advance: Advance, now: Now
    ) -> None:
        _, made = await timed(now, store.set_cooldown(A, 10 * self.UNIT))
        found, read = await timed(now, store.cooling([A]))
        self.check_cooling(found, {A: (10, made)}, read)
        await self.wait(advance, 4)
        found, read = await timed(now, store.cooling([A]))
        self.check_cooling(found, {A: (10, made)}, read)

    async def test_a_longer_running_cooldown_is_kept(
        self, store: StateStore, advance: Advance, now: Now
    ) -> None:
        _, made = await timed(now, store.set_cooldown(A, 10 * self.UNIT))
        await store.set_cooldown(A, 3 * self.UNIT)
        found, read = await timed(now, store.cooling([A]))
        self.check_cooling(found, {A: (10, made)}, read)
        await self.wait(advance, 5)
        found, read = await timed(now, store.cooling([A]))
        self.check_cooling(found, {A: (10, made)}, read)

    async def test_a_longer_cooldown_replaces_a_shorter_one(
        self, store: StateStore, now: Now
    ) -> None:
        await store.set_cooldown(A, 3 * self.UNIT)
        _, made = await timed(now, store.set_cooldown(A, 10 * self.UNIT))
        found, read = await timed(now, store.cooling([A]))
        self.check_cooling(found, {A: (10, made)}, read)

    async def test_cooldowns_expire(self, store: StateStore, advance: Advance) -> None:
        await store.set_cooldown(A, 2 * self.UNIT)
        await self.wait(advance, 3)
        assert dict(await store.cooling([A])) == {}

    async def test_an_expired_longer_cooldown_is_not_kept(
        self, store: StateStore, advance: Advance, now: Now
    ) -> None:
        await store.set_cooldown(A, 4 * self.UNIT)
        await self.wait(advance, 5)
        _, made = await timed(now, store.set_cooldown(A, 2 * self.UNIT))
        found, read = await timed(now, store.cooling([A]))
        self.check_cooling(found, {A: (2, made)}, read)

    async def test_cooling_of_unknown_keys_is_empty(self, store: StateStore) -> None:
        assert dict(await store.cooling([A, B])) == {}
        assert dict(await store.cooling([])) == {}
        await store.set_cooldown(A, 5 * self.UNIT)
        assert dict(await store.cooling(["nobody/never-seen"])) == {}
        assert dict(await store.cooling([])) == {}

    async def test_cooling_lists_only_the_keys_put_aside(self, store: StateStore, now: Now) -> None:
        _, made_a = await timed(now, store.set_cooldown(A, 5 * self.UNIT))
        _, made_c = await timed(now, store.set_cooldown(C, 8 * self.UNIT))
        found, read = await timed(now, store.cooling([A, B, C]))
        self.check_cooling(found, {A: (5, made_a), C: (8, made_c)}, read)

    # Keys ----------------------------------------------------------------------------------

    async def test_failures_of_keys_are_independent(self, store: StateStore) -> None:
        window = 10 * self.UNIT
        await store.add_failure(A, window)
        await store.add_failure(A, window)
        assert await store.add_failure(B, window) == 1
        await store.clear_failures(A)
        assert await store.add_failure(B, window) == 2
        assert await store.add_failure(A, window) == 1

    async def test_cooldowns_of_keys_are_independent(
        self, store: StateStore, advance: Advance, now: Now
    ) -> None:
        _, made_a = await timed(now, store.set_cooldown(A, 10 * self.UNIT))
        _, made_b = await timed(now, store.set_cooldown(B, 2 * self.UNIT))
        await self.wait(advance, 3)
        found, read = await timed(now, store.cooling([A, B]))
        self.check_cooling(found, {A: (10, made_a), B: (2, made_b)}, read)
        assert B not in found  # 3 units after a 2-unit cooldown: surely over

    async def test_failures_and_cooldowns_do_not_mix(self, store: StateStore) -> None:
        """Counting failures does not put a key aside, and a cooldown counts no failure."""
        window = 10 * self.UNIT
        await store.add_failure(A, window)
        await store.add_failure(A, window)
        assert dict(await store.cooling([A])) == {}
        await store.set_cooldown(B, 5 * self.UNIT)
        assert await store.add_failure(B, window) == 1

    # Pins ----------------------------------------------------------------------------------

    async def test_get_pin_of_an_unknown_pin_is_none(self, store: StateStore) -> None:
        assert await store.get_pin("s1", "mid") is None

    async def test_set_pin_then_get_pin(self, store: StateStore) -> None:
        await store.set_pin("s1", "mid", A, 10 * self.UNIT)
        assert await store.get_pin("s1", "mid") == A

    async def test_setting_a_pin_again_refreshes_it_and_may_move_it(
        self, store: StateStore, advance: Advance, now: Now
    ) -> None:
        await store.set_pin("s1", "mid", A, 3 * self.UNIT)  # t = 0: fresh until 3
        await self.wait(advance, 2)
        _, made = await timed(now, store.set_pin("s1", "mid", B, 3 * self.UNIT))  # until 5
        await self.wait(advance, 2)
        found, read = await timed(now, store.get_pin("s1", "mid"))  # t = 4: past the first
        self.check_pin(found, B, 3, made, read)
        await self.wait(advance, 2)
        found, read = await timed(now, store.get_pin("s1", "mid"))  # t = 6: past the second
        self.check_pin(found, B, 3, made, read)
        assert found is None  # at least 4 units after a 3-unit pin: surely expired

    async def test_pins_expire_after_their_ttl(
        self, store: StateStore, advance: Advance, now: Now
    ) -> None:
        _, made = await timed(now, store.set_pin("s1", "mid", A, 2 * self.UNIT))
        await self.wait(advance, 1)
        found, read = await timed(now, store.get_pin("s1", "mid"))
        self.check_pin(found, A, 2, made, read)
        await self.wait(advance, 2)
        assert await store.get_pin("s1", "mid") is None  # 3 units after: surely expired

    async def test_drop_pin_forgets_it(self, store: StateStore) -> None:
        await store.set_pin("s1", "mid", A, 10 * self.UNIT)
        await store.drop_pin("s1", "mid")
        assert await store.get_pin("s1", "mid") is None
        await store.drop_pin("s1", "mid")  # again, and of an unknown pin: no-ops
        await store.drop_pin("nobody", "never")
        assert await store.get_pin("nobody", "never") is None

    async def test_pins_are_independent_per_session_and_per_model(self, store: StateStore) -> None:
        ttl = 10 * self.UNIT
        await store.set_pin("s1", "mid", A, ttl)
        await store.set_pin("s1", "big", C, ttl)
        await store.set_pin("s2", "mid", B, ttl)
        assert await store.get_pin("s1", "mid") == A
        assert await store.get_pin("s1", "big") == C
        assert await store.get_pin("s2", "mid") == B
        assert await store.get_pin("s2", "big") is None
        await store.drop_pin("s1", "mid")
        assert await store.get_pin("s1", "mid") is None
        assert await store.get_pin("s1", "big") == C
        assert await store.get_pin("s2", "mid") == B

    async def test_separators_in_sessions_and_models_do_not_mix_pins(
        self, store: StateStore
    ) -> None:
        ttl = 10 * self.UNIT
        await store.set_pin("a:b", "c", A, ttl)
        await store.set_pin("a", "b:c", B, ttl)
        await store.set_pin("a%3Ab", "c", C, ttl)
        assert await store.get_pin("a:b", "c") == A
        assert await store.get_pin("a", "b:c") == B
        assert await store.get_pin("a%3Ab", "c") == C
        assert await store.get_pin("a:b:c", "") is None

    async def test_pins_do_not_mix_with_failures_and_cooldowns(
        self, store: StateStore, now: Now
    ) -> None:
        """A pin to a deployment outlives its failures and cooldown (the router drops it), and
        setting or dropping a pin counts no failure and puts nothing aside."""
        window = 10 * self.UNIT
        await store.set_pin("s1", "mid", A, 10 * self.UNIT)
        await store.add_failure(A, window)
        _, made = await timed(now, store.set_cooldown(A, 5 * self.UNIT))
        await store.clear_failures(A)
        assert await store.get_pin("s1", "mid") == A
        await store.drop_pin("s1", "mid")
        found, read = await timed(now, store.cooling([A]))
        self.check_cooling(found, {A: (5, made)}, read)
        await store.set_pin("s1", "mid", B, 10 * self.UNIT)
        assert dict(await store.cooling([B])) == {}
        assert await store.add_failure(B, window) == 1

    # Lifecycle -----------------------------------------------------------------------------

    # Session summaries ---------------------------------------------------------------------

    async def test_session_summary_put_then_get(self, store: StateStore) -> None:
        assert await store.get_session_summary("s1") is None
        await store.put_session_summary("s1", '{"a": 1}', 10 * self.UNIT)
        await store.put_session_summary("s:2%", '{"b": "é"}', 10 * self.UNIT)
        assert await store.get_session_summary("s1") == '{"a": 1}'
        assert await store.get_session_summary("s:2%") == '{"b": "é"}'
        await store.put_session_summary("s1", '{"a": 2}', 10 * self.UNIT)  # replaced
        assert await store.get_session_summary("s1") == '{"a": 2}'

    async def test_session_summaries_expire(self, store: StateStore, advance: Advance) -> None:
        await store.put_session_summary("s1", "{}", 2 * self.UNIT)
        await self.wait(advance, 1)
        assert await store.get_session_summary("s1") == "{}"
        await self.wait(advance, 2)
        assert await store.get_session_summary("s1") is None

    async def test_summaries_do_not_mix_with_pins(self, store: StateStore) -> None:
        await store.set_pin("s1", "sess", A, 10 * self.UNIT)
        assert await store.get_session_summary("s1") is None
        await store.put_session_summary("s1", "{}", 10 * self.UNIT)
        assert await store.get_pin("s1", "sess") == A

    async def test_aclose_works_and_is_idempotent(self, store: StateStore) -> None:
        await store.set_cooldown(A, 5 * self.UNIT)
        await store.aclose()
        await store.aclose()
