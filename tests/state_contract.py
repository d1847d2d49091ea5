"""The contract every :class:`~agentroute.state.StateStore` keeps, as a reusable test class.

A store's test module subclasses :class:`StateStoreContract` and provides two fixtures:

* ``store``: a fresh, empty store (its teardown may ``aclose`` it again: ``aclose`` must be
  idempotent); a shared backend (Redis) gives each test its own namespace;
* ``advance``: an async callable moving the store's time forward by some seconds (a FakeClock
  for the memory store; a real ``anyio.sleep`` for a server with real TTLs).

Every duration below is a multiple of :attr:`StateStoreContract.UNIT` seconds, and remaining
cooldowns are compared within :attr:`StateStoreContract.TOLERANCE`, so a store on real time sets
``UNIT`` to a short real interval (e.g. 0.2 s) and ``TOLERANCE`` to its timing slack. Windows
and cooldowns are never probed at their exact edge, so timer resolution does not matter.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from agentroute.state import StateStore

__all__ = ["Advance", "StateStoreContract"]

Advance = Callable[[float], Awaitable[None]]
"""Moves the store's notion of time forward by the given seconds."""

A = "alpha/mid-1"
B = "beta/mid-b"
C = "beta/big-b"


@pytest.mark.anyio
class StateStoreContract:
    """Behaviour shared by all state stores (failure counting, cooldowns, pins, keys, closing)."""

    UNIT: float = 1.0
    """Seconds in one unit of the durations used below."""
    TOLERANCE: float = 0.0
    """Absolute slack, in seconds, when comparing a remaining cooldown."""

    def approx(self, units: float) -> object:
        return pytest.approx(units * self.UNIT, abs=self.TOLERANCE)

    async def wait(self, advance: Advance, units: float) -> None:
        await advance(units * self.UNIT)

    # Failures ------------------------------------------------------------------------------

    async def test_add_failure_counts_failures_within_the_window(
        self, store: StateStore, advance: Advance
    ) -> None:
        window = 10 * self.UNIT
        assert await store.add_failure(A, window) == 1
        await self.wait(advance, 1)
        assert await store.add_failure(A, window) == 2
        await self.wait(advance, 1)
        assert await store.add_failure(A, window) == 3

    async def test_add_failure_forgets_failures_outside_the_window(
        self, store: StateStore, advance: Advance
    ) -> None:
        window = 3 * self.UNIT
        assert await store.add_failure(A, window) == 1  # t = 0
        await self.wait(advance, 2)
        assert await store.add_failure(A, window) == 2  # t = 2: both inside
        await self.wait(advance, 2)
        assert await store.add_failure(A, window) == 2  # t = 4: the one at 0 is out
        await self.wait(advance, 5)
        assert await store.add_failure(A, window) == 1  # t = 9: only this one

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
        self, store: StateStore, advance: Advance
    ) -> None:
        await store.set_cooldown(A, 10 * self.UNIT)
        assert dict(await store.cooling([A])) == {A: self.approx(10)}
        await self.wait(advance, 4)
        assert dict(await store.cooling([A])) == {A: self.approx(6)}

    async def test_a_longer_running_cooldown_is_kept(
        self, store: StateStore, advance: Advance
    ) -> None:
        await store.set_cooldown(A, 10 * self.UNIT)
        await store.set_cooldown(A, 3 * self.UNIT)
        assert dict(await store.cooling([A])) == {A: self.approx(10)}
        await self.wait(advance, 5)
        assert dict(await store.cooling([A])) == {A: self.approx(5)}

    async def test_a_longer_cooldown_replaces_a_shorter_one(self, store: StateStore) -> None:
        await store.set_cooldown(A, 3 * self.UNIT)
        await store.set_cooldown(A, 10 * self.UNIT)
        assert dict(await store.cooling([A])) == {A: self.approx(10)}

    async def test_cooldowns_expire(self, store: StateStore, advance: Advance) -> None:
        await store.set_cooldown(A, 2 * self.UNIT)
        await self.wait(advance, 3)
        assert dict(await store.cooling([A])) == {}

    async def test_an_expired_longer_cooldown_is_not_kept(
        self, store: StateStore, advance: Advance
    ) -> None:
        await store.set_cooldown(A, 4 * self.UNIT)
        await self.wait(advance, 5)
        await store.set_cooldown(A, 2 * self.UNIT)
        assert dict(await store.cooling([A])) == {A: self.approx(2)}

    async def test_cooling_of_unknown_keys_is_empty(self, store: StateStore) -> None:
        assert dict(await store.cooling([A, B])) == {}
        assert dict(await store.cooling([])) == {}
        await store.set_cooldown(A, 5 * self.UNIT)
        assert dict(await store.cooling(["nobody/never-seen"])) == {}
        assert dict(await store.cooling([])) == {}

    async def test_cooling_lists_only_the_keys_put_aside(self, store: StateStore) -> None:
        await store.set_cooldown(A, 5 * self.UNIT)
        await store.set_cooldown(C, 8 * self.UNIT)
        assert dict(await store.cooling([A, B, C])) == {A: self.approx(5), C: self.approx(8)}

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
        self, store: StateStore, advance: Advance
    ) -> None:
        await store.set_cooldown(A, 10 * self.UNIT)
        await store.set_cooldown(B, 2 * self.UNIT)
        await self.wait(advance, 3)
        assert dict(await store.cooling([A, B])) == {A: self.approx(7)}

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
        self, store: StateStore, advance: Advance
    ) -> None:
        await store.set_pin("s1", "mid", A, 3 * self.UNIT)  # t = 0: fresh until 3
        await self.wait(advance, 2)
        await store.set_pin("s1", "mid", B, 3 * self.UNIT)  # t = 2: fresh until 5
        await self.wait(advance, 2)
        assert await store.get_pin("s1", "mid") == B  # t = 4: past the first TTL
        await self.wait(advance, 2)
        assert await store.get_pin("s1", "mid") is None  # t = 6: past the second

    async def test_pins_expire_after_their_ttl(self, store: StateStore, advance: Advance) -> None:
        await store.set_pin("s1", "mid", A, 2 * self.UNIT)
        await self.wait(advance, 1)
        assert await store.get_pin("s1", "mid") == A
        await self.wait(advance, 2)
        assert await store.get_pin("s1", "mid") is None

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

    async def test_pins_do_not_mix_with_failures_and_cooldowns(self, store: StateStore) -> None:
        """A pin to a deployment outlives its failures and cooldown (the router drops it), and
        setting or dropping a pin counts no failure and puts nothing aside."""
        window = 10 * self.UNIT
        await store.set_pin("s1", "mid", A, 10 * self.UNIT)
        await store.add_failure(A, window)
        await store.set_cooldown(A, 5 * self.UNIT)
        await store.clear_failures(A)
        assert await store.get_pin("s1", "mid") == A
        await store.drop_pin("s1", "mid")
        assert dict(await store.cooling([A])) == {A: self.approx(5)}
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
