"""A shared store that cannot be reached, or hangs, costs cooldowns and pins, never a call:
errors and timeouts are answered as an empty store would, a circuit breaker stops asking a
hung store, an operation that waits behind others is kept while the store answers them, and a
call's reads take one operation."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import anyio
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from agentroute import ConfigurationError, ProviderUnavailable, Router
from agentroute.state import MemoryStateStore
from agentroute.state.breaker import CircuitBreaker
from agentroute.state.failopen import FailOpenSettings, FailOpenStore
from agentroute.state.reads import CallSnapshot, prefetched
from agentroute.telemetry import attributes as A
from agentroute.telemetry.logs import RouteEvents
from agentroute.telemetry.metrics import RouterMetrics
from agentroute.testing import FakeClock, ScriptedProvider, capture_logs
from tests.helpers import CONVERSATION, config_dict

pytestmark = pytest.mark.anyio

PASSWORD = "s3cret-pw"


class DownStore:
    """A store whose server is gone: every operation raises (as redis-py would)."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls: list[str] = []

    async def _fail(self, name: str) -> None:
        self.calls.append(name)
        raise self.error

    async def add_failure(self, key: str, window_s: float) -> int:
        await self._fail("add_failure")
        return 0

    async def clear_failures(self, key: str) -> None:
        await self._fail("clear_failures")

    async def set_cooldown(self, key: str, seconds: float) -> None:
        await self._fail("set_cooldown")

    async def cooling(self, keys: Sequence[str]) -> Mapping[str, float]:
        await self._fail("cooling")
        return {}

    async def get_pin(self, session: str, model: str) -> str | None:
        await self._fail("get_pin")
        return None

    async def set_pin(self, session: str, model: str, deployment: str, ttl_s: float) -> None:
        await self._fail("set_pin")

    async def drop_pin(self, session: str, model: str) -> None:
        await self._fail("drop_pin")

    async def aclose(self) -> None:
        await self._fail("aclose")


def router(store: DownStore, alpha: ScriptedProvider) -> Router:
    data = config_dict(resilience={"max_retries": 0, "allowed_fails": 1})
    return Router(data, providers={"alpha": alpha}, state_store=store, clock=FakeClock())


async def test_calls_succeed_and_the_outage_is_logged_once_without_secrets() -> None:
    down = DownStore(ConnectionError(f"redis://:{PASSWORD}@10.0.0.1:6379 refused"))
    alpha = ScriptedProvider(["one", "two", "three"])
    r = router(down, alpha)
    with capture_logs() as events:
        for _ in range(3):
            assert (await r.complete(CONVERSATION)).text in {"one", "two", "three"}
    # every call asked the store (cooldowns and the pin) and went on without it
    assert {"cooling", "get_pin", "set_pin"} <= set(down.calls)
    state_errors = [e for e in events if e["event"] == "route.state_error"]
    assert len(state_errors) == 1  # the first error, then quiet for a minute
    assert state_errors[0]["error_type"] == "ConnectionError"
    assert PASSWORD not in repr(events)
    await r.aclose()  # closing a broken store does not raise either


async def test_a_failed_attempt_still_falls_back_when_the_store_cannot_count_it() -> None:
    down = DownStore(OSError("no route to host"))
    alpha = ScriptedProvider([ProviderUnavailable("busy", status_code=503), "from mid-1"])
    beta = ScriptedProvider(["from mid-b"])
    data = config_dict(resilience={"max_retries": 0})
    r = Router(data, providers={"alpha": alpha, "beta": beta}, state_store=down)
    result = await r.complete(CONVERSATION, hints={"min_tier": "medium"})
    assert result.text == "from mid-b"
    assert "add_failure" in down.calls


async def test_a_configuration_error_from_the_store_is_not_swallowed() -> None:
    down = DownStore(ConfigurationError("the Redis state store needs asyncio"))
    with pytest.raises(ConfigurationError, match="needs asyncio"):
        await router(down, ScriptedProvider(["x"])).complete(CONVERSATION)


async def test_the_wrapper_counts_errors_and_answers_as_an_empty_store() -> None:
    store = FailOpenStore(DownStore(TimeoutError("slow")), FailOpenSettings(breaker_failures=10))
    assert await store.add_failure("p/d", 60) == 0
    assert await store.cooling(["p/d"]) == {}
    assert await store.get_pin("s", "m") is None
    await store.set_pin("s", "m", "p/d", 300)
    assert store.errors == 4 and store.skipped == 0
    assert "errors=4" in repr(store)


# The circuit breaker ---------------------------------------------------------------------------


def test_the_breaker_opens_after_consecutive_failures_and_probes_once_per_window() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failures=3, reset_s=5.0, clock=clock)
    assert breaker.failed() is None and breaker.failed() is None
    assert breaker.succeeded() is None  # a success resets the streak
    assert breaker.failed() is None and breaker.failed() is None
    assert breaker.failed() == "open" and breaker.state == "open"
    assert breaker.allow() == (False, None)
    clock.advance(4.9)
    assert breaker.allow() == (False, None)
    clock.advance(0.1)
    assert breaker.allow() == (True, "half_open")  # the probe
    assert breaker.allow() == (False, None)  # everyone else skips while it runs
    assert breaker.failed() == "open"  # the probe failed: another full window
    clock.advance(4.9)
    assert breaker.allow() == (False, None)
    clock.advance(0.1)
    assert breaker.allow() == (True, "half_open")
    assert breaker.succeeded() == "closed"
    assert breaker.allow() == (True, None) and breaker.streak == 0


def test_an_abandoned_probe_lets_the_next_operation_probe_and_late_results_are_ignored() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failures=1, reset_s=1.0, clock=clock)
    assert breaker.failed() == "open"
    assert breaker.failed() is None and breaker.succeeded() is None  # late: no effect
    assert breaker.state == "open"
    clock.advance(1.0)
    assert breaker.allow() == (True, "half_open")
    breaker.abandoned()  # the probe's caller was cancelled: no verdict
    assert breaker.allow() == (True, None)  # the next operation probes instead
    assert breaker.allow() == (False, None)
    assert breaker.succeeded() == "closed"


# A hung store ------------------------------------------------------------------------------------


class HungStore(DownStore):
    """A store that answers its first operation (the router warmed up), then accepts every
    operation and never answers (a SIGSTOPped server) until ``answering`` is set again."""

    def __init__(self) -> None:
        super().__init__(RuntimeError("unused"))
        self.answering = True

    async def hang(self, store: FailOpenStore) -> None:
        """One answered operation through ``store``, then the hang."""
        await store.clear_failures("p/d")
        self.calls.clear()
        self.answering = False

    async def _fail(self, name: str) -> None:
        self.calls.append(name)
        if not self.answering:
            await anyio.sleep_forever()


FAST = FailOpenSettings(op_timeout_s=0.02, op_max_s=1.0, breaker_failures=3, breaker_reset_s=5.0)


def metered() -> tuple[InMemoryMetricReader, RouterMetrics]:
    reader = InMemoryMetricReader()
    return reader, RouterMetrics(MeterProvider(metric_readers=[reader]), ("simple",))


def counts(reader: InMemoryMetricReader, name: str) -> dict[tuple[tuple[str, Any], ...], float]:
    """Each data point's attributes (sorted) → its value, for one metric."""
    data = reader.get_metrics_data()
    out: dict[tuple[tuple[str, Any], ...], float] = {}
    for rm in data.resource_metrics if data is not None else ():
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == name:
                    for point in metric.data.data_points:
                        key = tuple(sorted((point.attributes or {}).items()))
                        out[key] = point.value  # type: ignore[union-attr]
    return out


async def test_a_hung_store_costs_one_short_timeout_per_window_not_one_per_operation() -> None:
    clock = FakeClock()
    hung = HungStore()
    reader, metrics = metered()
    store = FailOpenStore(hung, FAST, clock=clock, metrics=metrics, events=RouteEvents(True))
    await hung.hang(store)
    with capture_logs() as events:
        for _ in range(20):
            assert await store.cooling(["p/d"]) == {}
            assert await store.get_pin("s", "m") is None
            await store.set_pin("s", "m", "p/d", 60.0)
    assert len(hung.calls) == 3  # the breaker opened after three timeouts
    assert (store.errors, store.timeouts, store.skipped) == (3, 3, 57)
    assert store.breaker.state == "open"
    op = A.STATE_OPERATION
    assert counts(reader, A.METRIC_STATE_ERRORS) == {
        ((op, name), (A.ERROR_TYPE, "timeout")): 1 for name in ("cooling", "get_pin", "set_pin")
    }
    assert sum(counts(reader, A.METRIC_STATE_SKIPPED).values()) == 57
    assert counts(reader, A.METRIC_STATE_BREAKER) == {((A.STATE_BREAKER, "open"),): 1}
    breaker_events = [e for e in events if e["event"] == "route.state_breaker"]
    assert [(e["state"], e["log_level"]) for e in breaker_events] == [("open", "warning")]
    errors = [e for e in events if e["event"] == "route.state_error"]
    assert len(errors) == 1 and errors[0]["error_type"] == "timeout"  # then quiet for a minute

    clock.advance(5.0)  # the window is over: one probe, still hung
    assert await store.get_pin("s", "m") is None
    assert await store.get_pin("s", "m") is None  # skipped: the breaker opened again
    assert len(hung.calls) == 4 and store.breaker.state == "open"
    hung.answering = True  # SIGCONT
    clock.advance(5.0)
    assert await store.get_pin("s", "m") is None  # the probe, answered
    assert store.breaker.state == "closed"
    await store.set_pin("s", "m", "p/d", 60.0)
    assert len(hung.calls) == 6
    assert counts(reader, A.METRIC_STATE_BREAKER) == {
        ((A.STATE_BREAKER, "open"),): 2,
        ((A.STATE_BREAKER, "half_open"),): 2,
        ((A.STATE_BREAKER, "closed"),): 1,
    }


async def test_calls_go_on_while_the_store_hangs_and_it_is_used_again_once_it_answers() -> None:
    """Through the router: every call answers; the hung store is asked three times in all."""
    clock = FakeClock()
    hung = HungStore()
    data = config_dict(resilience={"max_retries": 0})
    alpha = ScriptedProvider(default="ok")
    r = Router(data, providers={"alpha": alpha}, state_store=FailOpenStore(hung, FAST, clock=clock))
    await hung.hang(r._store)  # type: ignore[arg-type]
    for i in range(10):
        async with r.session(id=f"s{i}"):
            assert (await r.complete(CONVERSATION)).text == "ok"
    assert len(hung.calls) == 3 and r._store.breaker.state == "open"  # type: ignore[attr-defined]
    hung.answering = True
    clock.advance(5.0)
    async with r.session(id="s-after"):
        assert (await r.complete(CONVERSATION)).text == "ok"
    assert r._store.breaker.state == "closed"  # type: ignore[attr-defined]
    assert hung.calls[3:] == ["cooling", "get_pin", "set_pin"]  # the probe, then as usual


class SlowStore(DownStore):
    """Answers at once, except ``get_pin`` of session ``slow``, which waits for ``release``.
    ``fast`` (optional) is what ``ready()`` answers."""

    def __init__(self, fast: bool | None = None) -> None:
        super().__init__(RuntimeError("unused"))
        self.release = anyio.Event()
        if fast is not None:
            self.ready = lambda: fast

    async def _fail(self, name: str) -> None:
        self.calls.append(name)

    async def get_pin(self, session: str, model: str) -> str | None:
        self.calls.append("get_pin")
        if session == "slow":
            await self.release.wait()
        return "p/d"


async def waits_while_others_are_answered(store: FailOpenStore, slow: SlowStore) -> str | None:
    """Start the slow ``get_pin``; meanwhile ask other things every 10 ms for 0.6 s (far past
    the 0.2 s budget); then release it. Returns what the slow ``get_pin`` answered."""
    found: list[str | None] = []

    async def waiter() -> None:
        found.append(await store.get_pin("slow", "m"))

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        for _ in range(60):
            await store.cooling(["p/d"])  # answered at once: the store is alive
            await anyio.sleep(0.01)
        slow.release.set()
    return found[0]


async def test_an_operation_waiting_behind_others_is_kept_while_the_store_answers() -> None:
    """Under load an operation may wait long for a pooled connection: the store is not silent
    meanwhile (it answers the others), so the operation is not given up."""
    slow = SlowStore()
    store = FailOpenStore(slow, FailOpenSettings(op_timeout_s=0.2, op_max_s=30.0))
    await store.cooling(["p/d"])  # the store has answered once
    assert await waits_while_others_are_answered(store, slow) == "p/d"
    assert (store.errors, store.timeouts) == (0, 0)


async def test_an_operation_is_given_up_after_op_max_s_even_while_the_store_answers() -> None:
    slow = SlowStore()
    store = FailOpenStore(slow, FailOpenSettings(op_timeout_s=0.05, op_max_s=0.2))
    assert await waits_while_others_are_answered(store, slow) is None
    assert (store.errors, store.timeouts) == (1, 1)


async def test_a_ready_operation_not_answered_within_op_timeout_s_is_asked_again_watched() -> None:
    """A store that says it is ready (an idle connection) gets a plain deadline first; one not
    met is no verdict (a busy loop may not have read the answer yet), so the operation is asked
    again, watched: kept while the store answers others."""
    slow = SlowStore(fast=True)
    store = FailOpenStore(slow, FailOpenSettings(op_timeout_s=0.2, op_max_s=30.0))
    assert await waits_while_others_are_answered(store, slow) == "p/d"
    assert (store.errors, store.timeouts) == (0, 0)
    assert slow.calls.count("get_pin") == 2  # asked again once


class LateStore(DownStore):
    """Answers everything at once, except ``get_pin``, which answers after ``delay`` seconds;
    ``fast`` is what ``ready()`` answers."""

    def __init__(self, delay: float, fast: bool) -> None:
        super().__init__(RuntimeError("unused"))
        self.delay = delay
        self.ready = lambda: fast

    async def _fail(self, name: str) -> None:
        self.calls.append(name)

    async def get_pin(self, session: str, model: str) -> str | None:
        self.calls.append("get_pin")
        await anyio.sleep(self.delay)
        return "p/d"


async def blocked_loop_meanwhile(store: FailOpenStore, block_s: float) -> str | None:
    """``get_pin`` through ``store`` while another task holds the event loop for ``block_s``
    seconds (CPU work: a burst of routing, a garbage collection), just after it started."""
    found: list[str | None] = []

    async def ask() -> None:
        found.append(await store.get_pin("s", "m"))

    async with anyio.create_task_group() as tg:
        tg.start_soon(ask)
        await anyio.sleep(0.01)
        time.sleep(block_s)  # noqa: ASYNC251 (blocking the loop is the point)
    return found[0]


async def test_a_ready_operation_answered_while_the_loop_was_busy_is_no_failure() -> None:
    """Before: the store answered in 0.1 s, but the loop was busy until past the 0.2 s
    deadline, which then fired with the answer not yet read: the answer was dropped and a
    healthy store counted a timeout (three in a row opened the breaker)."""
    slow = LateStore(delay=0.1, fast=True)
    store = FailOpenStore(slow, FailOpenSettings(op_timeout_s=0.2, op_max_s=30.0))
    await store.cooling(["p/d"])  # the store has answered once
    assert await blocked_loop_meanwhile(store, 0.35) == "p/d"
    assert (store.errors, store.timeouts) == (0, 0)


async def test_a_watched_operation_is_not_given_up_for_time_the_loop_was_busy() -> None:
    """Before: the watcher woke on time at 0.2 s, but the loop had been busy for 0.18 s of
    that, so the store had had no chance to answer; it was given up as silent. Now only
    silence while the loop was free counts."""
    slow = LateStore(delay=0.25, fast=False)
    store = FailOpenStore(slow, FailOpenSettings(op_timeout_s=0.2, op_max_s=30.0))
    await store.cooling(["p/d"])  # the store has answered once
    assert await blocked_loop_meanwhile(store, 0.18) == "p/d"
    assert (store.errors, store.timeouts) == (0, 0)


class PooledStore(DownStore):
    """A store with ``capacity`` connections: each operation holds one for ``hold_s``
    seconds (forever while ``hung``), and an operation beyond them waits for one, as a
    connection pool does."""

    def __init__(self, capacity: int, hold_s: float) -> None:
        super().__init__(RuntimeError("unused"))
        self.capacity = capacity
        self.hold_s = hold_s
        self.hung = False
        self._pool: anyio.Semaphore | None = None

    async def _fail(self, name: str) -> None:
        self.calls.append(name)
        self._pool = self._pool or anyio.Semaphore(self.capacity)
        async with self._pool:
            if self.hung:
                await anyio.sleep_forever()
            await anyio.sleep(self.hold_s)


async def test_operations_beyond_the_stores_capacity_queue_without_using_its_time() -> None:
    """Before: 20 operations at once on a store of 2 connections each waited in the store's
    own queue against ``op_max_s`` (0.3 s), and those queued longest were given up, though
    the store kept answering. Now they queue in the wrapper (a store's ``capacity``), and an
    operation's budget starts once it is sent."""
    pooled = PooledStore(capacity=2, hold_s=0.05)
    store = FailOpenStore(pooled, FailOpenSettings(op_timeout_s=0.1, op_max_s=0.3))
    await store.cooling(["p/d"])  # the store has answered once
    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(store.cooling, ["p/d"])
    assert (store.errors, store.skipped) == (0, 0)
    assert len(pooled.calls) == 21


async def test_operations_queued_for_a_hung_store_are_skipped_once_the_breaker_opens() -> None:
    pooled = PooledStore(capacity=2, hold_s=0.0)
    store = FailOpenStore(pooled, FailOpenSettings(op_timeout_s=0.05, op_max_s=1.0))
    await store.cooling(["p/d"])  # the store has answered once
    pooled.hung = True
    with anyio.fail_after(20):  # only against a hang of the test itself
        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(store.cooling, ["p/d"])
    # two by two: the first four reach the store and time out (the third opens the breaker,
    # the fourth was already sent), the six still queued are skipped
    assert (store.timeouts, store.skipped, store.breaker.state) == (4, 6, "open")
    assert len(pooled.calls) == 5


@pytest.mark.parametrize("ready", [None, True, False])
async def test_a_silent_store_is_given_up_after_op_timeout_s(ready: bool | None) -> None:
    slow = SlowStore(fast=ready)
    store = FailOpenStore(slow, FailOpenSettings(op_timeout_s=0.05, op_max_s=30.0))
    await store.cooling(["p/d"])  # it answered once, then falls silent
    with anyio.fail_after(20):  # only against a hang of the test itself
        assert await store.get_pin("slow", "m") is None
    assert store.timeouts == 1


async def test_before_its_first_answer_a_store_gets_op_max_s() -> None:
    """The first connections are still being opened (several turns of a busy loop each)."""

    class Opening(DownStore):
        async def _fail(self, name: str) -> None:
            self.calls.append(name)
            await anyio.sleep(0.3)  # six budgets, well within op_max_s

    store = FailOpenStore(Opening(OSError()), FailOpenSettings(op_timeout_s=0.05, op_max_s=30.0))
    assert await store.get_pin("s", "m") is None
    assert (store.errors, store.timeouts) == (0, 0)


async def test_a_store_hung_before_its_first_answer_gets_op_max_s_then_the_breaker_opens() -> None:
    hung = HungStore()
    hung.answering = False
    store = FailOpenStore(hung, FailOpenSettings(op_timeout_s=0.01, op_max_s=0.1))
    async with anyio.create_task_group() as tg:  # the first calls of a router, concurrently
        for _ in range(5):
            tg.start_soon(store.get_pin, "s", "m")
    assert (store.timeouts, store.breaker.state) == (5, "open")
    assert await store.get_pin("s", "m") is None
    assert len(hung.calls) == 5 and store.skipped == 1


async def test_a_cancelled_probe_is_no_verdict_and_the_next_operation_probes() -> None:
    clock = FakeClock()
    hung = HungStore()
    store = FailOpenStore(hung, FAST, clock=clock)
    await hung.hang(store)
    for _ in range(3):
        await store.get_pin("s", "m")
    assert store.breaker.state == "open"
    clock.advance(5.0)
    with anyio.move_on_after(0.001):  # the caller gives up first (before op_timeout_s)
        await store.get_pin("s", "m")
    assert store.breaker.state == "half_open" and store.errors == 3
    hung.answering = True
    await store.get_pin("s", "m")
    assert store.breaker.state == "closed" and len(hung.calls) == 5


async def test_a_configuration_error_is_no_failure_of_the_store() -> None:
    store = FailOpenStore(DownStore(ConfigurationError("needs asyncio")), FAST)
    for _ in range(5):
        with pytest.raises(ConfigurationError):
            await store.cooling(["p/d"])
    assert store.errors == 0 and store.breaker.state == "closed"


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigurationError, match=r"op_max_s .* must not be below"):
        FailOpenSettings(op_timeout_s=1.0, op_max_s=0.5)
    with pytest.raises(ConfigurationError, match=r"state\.op_timeout_s must be a finite"):
        FailOpenSettings(op_timeout_s=float("nan"))
    with pytest.raises(ConfigurationError, match=r"state\.breaker_failures must be an int"):
        FailOpenSettings(breaker_failures=0)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("op_timeout_s", 0, "state.op_timeout_s: Input should be greater"),
        ("op_max_s", 0.01, "op_max_s .* must not be below op_timeout_s"),
        ("pool_size", 0, "state.pool_size: Input should be greater"),
        ("breaker_failures", 0, "state.breaker_failures: Input should be greater"),
        ("breaker_reset_s", -1, "state.breaker_reset_s: Input should be greater"),
    ],
)
def test_the_redis_state_fields_are_validated(field: str, value: Any, message: str) -> None:
    data = config_dict(state={"kind": "redis", "url": "redis://127.0.0.1:1/0", field: value})
    with pytest.raises(ConfigurationError, match=message):
        Router(data)


# One round trip for a call's reads ---------------------------------------------------------------


class BatchingStore:
    """A store (not the in-memory one, so the router guards it) that can read a call's
    cooldowns and pins at once; it records every operation."""

    def __init__(self) -> None:
        self.inner = MemoryStateStore()
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)

        async def spy(*args: Any) -> Any:
            self.calls.append(name)
            return await method(*args)

        return spy

    async def read_call(
        self, keys: Sequence[str], session: str, models: Sequence[str]
    ) -> CallSnapshot:
        self.calls.append("read_call")
        cooling = await self.inner.cooling(keys)
        pins = {m: p for m in models if (p := await self.inner.get_pin(session, m)) is not None}
        return CallSnapshot(cooling, pins)


async def test_a_call_reads_cooldowns_and_pins_in_one_operation() -> None:
    """Before: the pin of each sticky model, then the cooldowns, then the new pin (three round
    trips to a store across a network); now: one read, one write."""
    store = BatchingStore()
    r = Router(
        config_dict(), providers={"alpha": ScriptedProvider(default="ok")}, state_store=store
    )
    async with r.session(id="s1"):
        await r.complete(CONVERSATION)
        assert store.calls == ["read_call", "set_pin"]
        store.calls.clear()
        await r.complete(CONVERSATION)
        assert store.calls == ["read_call", "set_pin"]  # a hit: the pin refreshed


async def test_the_prefetched_cooldowns_answer_one_read_then_the_store_does() -> None:
    store = BatchingStore()
    await store.inner.set_cooldown("p/b", 30.0)
    guarded = FailOpenStore(store)  # type: ignore[arg-type]
    snapshot = await guarded.read_call(["p/a", "p/b"], "s", [])
    assert set(snapshot.cooling) == {"p/b"}
    with prefetched(["p/a", "p/b"], snapshot.cooling):
        assert set(await guarded.cooling(["p/a", "p/b"])) == {"p/b"}
        assert store.calls == ["read_call"]  # answered from what was read
        await guarded.cooling(["p/a", "p/b"])  # a later read (a cooldown may be new): the store
        await guarded.cooling(["p/c"])
    assert store.calls == ["read_call", "cooling", "cooling"]
    await guarded.cooling(["p/a"])  # outside the call: the store
    assert store.calls[-1] == "cooling"


async def test_a_store_without_batched_reads_is_read_operation_by_operation() -> None:
    down = DownStore(OSError("down"))
    store = FailOpenStore(down, FailOpenSettings(breaker_failures=10))
    assert await store.read_call(["p/a"], "s", ["m1", "m2"]) == CallSnapshot({}, {})
    assert down.calls == ["cooling", "get_pin", "get_pin"]


class SummaryHungStore(HungStore):
    """A hung store that also keeps session summaries (and hangs on them too)."""

    async def put_session_summary(self, session: str, summary: str, ttl_s: float) -> None:
        await self._fail("put_session_summary")

    async def get_session_summary(self, session: str) -> str | None:
        await self._fail("get_session_summary")
        return "never"


async def test_session_summaries_of_a_hung_store_are_given_up_not_waited_for() -> None:
    hung = SummaryHungStore()
    store = FailOpenStore(hung, FAST, clock=FakeClock(), events=RouteEvents(False))
    await hung.hang(store)
    with anyio.fail_after(5):  # a real bound: the operations end after op_timeout_s
        await store.put_session_summary("s", "{}", 60.0)
        assert await store.get_session_summary("s") is None
    assert hung.calls == ["put_session_summary", "get_session_summary"]
    assert store.timeouts == 2


async def test_a_store_without_session_summaries_keeps_none() -> None:
    old = DownStore(RuntimeError("unused"))  # written before summaries existed
    store = FailOpenStore(old, FAST, clock=FakeClock(), events=RouteEvents(False))
    await store.put_session_summary("s", "{}", 60.0)
    assert await store.get_session_summary("s") is None
    assert old.calls == [] and store.errors == 0
