"""MemoryStateStore: the StateStore contract on a FakeClock, plus its bounds and expiry."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from agentroute import Router, RouterConfig
from agentroute.state import MemoryStateStore, StateStore
from agentroute.state.build import store_from_config
from agentroute.testing import FakeClock, ScriptedProvider
from tests.helpers import config_dict
from tests.state_contract import Advance, Now, StateStoreContract

pytestmark = pytest.mark.anyio


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1000.0)


class TestMemoryStateStoreContract(StateStoreContract):
    @pytest.fixture
    async def store(self, clock: FakeClock) -> AsyncIterator[StateStore]:
        store = MemoryStateStore(clock)
        yield store
        await store.aclose()

    @pytest.fixture
    def advance(self, clock: FakeClock) -> Advance:
        async def advance(seconds: float) -> None:
            clock.advance(seconds)

        return advance

    @pytest.fixture
    def now(self, clock: FakeClock) -> Now:
        return clock.now


def sizes(store: MemoryStateStore) -> tuple[int, int]:
    """(failure histories kept, cooldowns kept), as the store's repr reports them."""
    found = re.fullmatch(r"MemoryStateStore\(keys=(\d+), cooling=(\d+), pins=\d+\)", repr(store))
    assert found is not None, repr(store)
    return int(found[1]), int(found[2])


def keys(n: int) -> list[str]:
    return [f"p/dep-{i}" for i in range(n)]


async def test_failure_histories_never_exceed_max_keys(clock: FakeClock) -> None:
    store = MemoryStateStore(clock, max_keys=3)
    for key in keys(10):
        await store.add_failure(key, 60.0)
        assert sizes(store)[0] <= 3
    assert sizes(store) == (3, 0)


async def test_the_least_recently_touched_failure_history_is_dropped(clock: FakeClock) -> None:
    store = MemoryStateStore(clock, max_keys=3)
    a, b, c, d = keys(4)
    for key in (a, a, b, c):
        await store.add_failure(key, 60.0)
    assert await store.add_failure(a, 60.0) == 3  # a is touched again: b is now the oldest
    await store.add_failure(d, 60.0)  # one too many: b goes
    assert await store.add_failure(a, 60.0) == 4
    assert await store.add_failure(b, 60.0) == 1  # forgotten


async def test_cooldowns_never_exceed_max_keys(clock: FakeClock) -> None:
    store = MemoryStateStore(clock, max_keys=3)
    names = keys(10)
    for i, key in enumerate(names):
        await store.set_cooldown(key, 10.0 + i)
        assert sizes(store)[1] <= 3
    # over the bound, the cooldowns that end soonest go first
    assert dict(await store.cooling(names)) == {names[7]: 17.0, names[8]: 18.0, names[9]: 19.0}


async def test_over_the_bound_expired_cooldowns_go_before_running_ones(clock: FakeClock) -> None:
    store = MemoryStateStore(clock, max_keys=3)
    old1, old2, new1, new2, new3 = keys(5)
    await store.set_cooldown(old1, 1.0)
    await store.set_cooldown(old2, 1.0)
    clock.advance(2.0)
    for key in (new1, new2, new3):
        await store.set_cooldown(key, 100.0)
    assert sizes(store)[1] == 3
    assert dict(await store.cooling([old1, old2, new1, new2, new3])) == {
        new1: 100.0,
        new2: 100.0,
        new3: 100.0,
    }


async def test_expired_cooldowns_are_dropped(clock: FakeClock) -> None:
    store = MemoryStateStore(clock)
    a, b = keys(2)
    await store.set_cooldown(a, 5.0)
    await store.set_cooldown(b, 50.0)
    assert sizes(store) == (0, 2)
    clock.advance(6.0)
    assert dict(await store.cooling([a, b])) == {b: 44.0}
    assert sizes(store) == (0, 1)  # a's entry is gone, not merely hidden
    clock.advance(50.0)
    assert dict(await store.cooling([a, b])) == {}
    assert sizes(store) == (0, 0)


async def test_default_clock_is_the_event_loop_clock() -> None:
    store = MemoryStateStore()
    await store.set_cooldown("p/dep", 60.0)
    remaining = (await store.cooling(["p/dep"]))["p/dep"]
    assert 59.0 < remaining <= 60.0


def pins(store: MemoryStateStore) -> int:
    found = re.search(r"pins=(\d+)\)", repr(store))
    assert found is not None, repr(store)
    return int(found[1])


async def test_expired_pins_are_swept_without_being_read(clock: FakeClock) -> None:
    store = MemoryStateStore(clock)
    for i in range(1000):
        await store.set_pin(f"old-{i}", "small", "alpha/small-1", 10.0)
    clock.advance(11.0)  # every old pin has expired; none is ever read again
    for i in range(300):
        await store.set_pin(f"new-{i}", "small", "alpha/small-1", 10.0)
    assert pins(store) == 300  # the writes swept the expired pins as they went


async def test_a_live_pin_is_never_swept(clock: FakeClock) -> None:
    store = MemoryStateStore(clock)
    await store.set_pin("long", "big", "beta/big-b", 3600.0)
    for i in range(100):
        await store.set_pin(f"short-{i}", "small", "alpha/small-1", 1.0)
        clock.advance(2.0)
    assert await store.get_pin("long", "big") == "beta/big-b"


async def test_a_router_built_store_bounds_pins_by_max_implicit(clock: FakeClock) -> None:
    """``sessions.max_implicit: 10``: 100 conversations, each pinned to small's deployment, leave
    at most 10 sessions' pins (x the config's 3 models), not the store's own 100,000 cap."""
    data = config_dict(sessions={"max_implicit": 10})
    store = store_from_config(RouterConfig.from_mapping(data), clock)
    assert isinstance(store, MemoryStateStore)
    provider = ScriptedProvider(default="ok")
    router = Router(data, providers={"alpha": provider}, clock=clock, state_store=store)
    for i in range(100):
        conversation = [{"role": "user", "content": f"conversation {i}"}]
        await router.complete(conversation)
        assert pins(store) <= 10 * 3
    assert pins(store) > 0  # pins were made, and kept within the bound
