"""A shared store's outage never fails a call, nor holds it up: :class:`FailOpenStore`.

Cooldowns and pins make routing better; they are not needed to answer a call. When the store
behind them (Redis, another process's service) cannot be reached, each operation answers as an
empty store would — no failures counted, nothing cooling, no pin — and the router keeps
serving calls in order, as if it had no memory.

A store that does not answer at all (a hung server: the connection is accepted, nothing comes
back) is the costly case, so every operation is bounded and the store is skipped while it is
down:

* **a short budget per operation** (``op_timeout_s``, 50 ms by default): an operation the
  store has not answered within it is given up and answered as an empty store would, like
  one that failed. So a silent store never holds a call up by more than that, and the call's
  own deadline is kept (waiting for a turn under a burst is this process's load, not the
  store's: below).
* **a circuit breaker** (:class:`~agentroute.state.breaker.CircuitBreaker`): after
  ``breaker_failures`` consecutive failures or timeouts the store is skipped for
  ``breaker_reset_s`` seconds, then one operation probes it; the probe's success closes the
  breaker. A hung store so costs one short timeout per window, not one per operation.

The budget measures the *store's* silence, not this process's load. Under a burst of
concurrent calls the event loop itself is the bottleneck: operations queue for the store's
connections, new connections are opened (a few round trips each), and every step of that waits
a full turn of a busy loop, so a healthy store on loopback can take hundreds of milliseconds to
be heard from. Cutting those operations would drop pins and cooldowns exactly when there is
most traffic — and three such timeouts in a row open the breaker, which then skips the store
for everyone. So:

* **queueing is not the store's time**: a store with a bounded number of connections says how
  many (``capacity``: the Redis store's ``pool_size``), and at most that many operations are
  sent at once; the others wait their turn here (first come, first served) for as long as it
  takes, with no budget running. An operation that gets its turn while the breaker is open is
  skipped, so a hung store's queue drains at once;
* an operation that can start at once (the store says it has an idle open connection:
  ``ready()``) runs under a plain deadline of ``op_timeout_s``. A deadline cannot tell a
  silent store from an answer the busy loop has not read yet, so one that passes is no
  verdict: the operation is asked again, watched;
* any other operation (it opens a connection, or was asked again) is watched: a watcher
  ticks four times per ``op_timeout_s`` and gives it up once the store has answered nothing
  during ``op_timeout_s`` worth of ticks that woke on time (a late tick, the loop busy
  elsewhere, counts for nothing), and in any case after ``op_max_s``. Any answer counts, to
  any operation — and a store that can tell (``last_answer()``: the Redis store notes every
  reply read on its connections, those of a new connection's handshake too) counts every
  reply. Until the store has answered once, only ``op_max_s`` applies: the first connections
  are still being opened.

A hung store answers nothing, so its operations end after about ``op_timeout_s`` (twice that
for one that was ready: its plain deadline, then the watcher) — except on a store that was hung
before it ever answered, whose first operations take ``op_max_s`` before the breaker opens.
Asking again may send an operation twice; only a failure counted twice can come of it (a
deployment put aside a little sooner). The budgets bound real I/O, so they are real time (the
event loop's clock, :func:`~agentroute.clock.loop_time`: a fake clock must not cut a real
operation short); the breaker's window and the log's quiet period are read from the router's
:class:`~agentroute.clock.Clock`.

Every failure is counted (:attr:`FailOpenStore.errors`, and the ``agentroute.state.errors``
metric with the operation and the error type, ``timeout`` for an operation given up), every
skipped operation too (``agentroute.state.skipped``), and every breaker transition
(``agentroute.state.breaker``, logged as ``route.state_breaker``). Failures are logged as
``route.state_error`` (the first, then at most once a minute), never with the store's address
or password, through the router's event sink (:class:`~agentroute.telemetry.logs.RouteEvents`:
``telemetry.log_events``; by default only once the application has configured structlog). A
:class:`~agentroute.errors.ConfigurationError` (a developer's mistake, such as the Redis store
used on trio) and cancellation still propagate, and neither counts as a failure of the store.

The wrapper also answers the first ``cooling`` read of a call from what the affinity step read
with the pins in the same round trip (:mod:`agentroute.state.reads`).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar, cast

import anyio

from agentroute._error_translation import error_text
from agentroute.clock import Clock, SystemClock, loop_time
from agentroute.errors import ConfigurationError
from agentroute.state.base import StateStore
from agentroute.state.breaker import BreakerState, CircuitBreaker
from agentroute.state.reads import EMPTY_SNAPSHOT, CallReads, CallSnapshot, take_prefetched
from agentroute.telemetry.logs import RouteEvents

if TYPE_CHECKING:
    from agentroute.telemetry.metrics import RouterMetrics

__all__ = ["FailOpenSettings", "FailOpenStore"]

T = TypeVar("T")

_NONE: Mapping[str, float] = MappingProxyType({})
_QUIET_S = 60.0
_TICKS = 4
"""Ticks per ``op_timeout_s`` of a watched operation's watcher."""
TIMEOUT = "timeout"
"""The error type of an operation given up after ``op_timeout_s``."""


@dataclass(frozen=True, slots=True)
class FailOpenSettings:
    """How long one store operation may take, and when the breaker opens and probes again
    (the ``state`` config's fields of the same names; see the module docstring).

    Raises:
        ConfigurationError: a budget that is not a finite number of seconds above 0,
            ``op_max_s`` below ``op_timeout_s``, or ``breaker_failures`` below 1.
    """

    op_timeout_s: float = 0.05
    op_max_s: float = 2.0
    breaker_failures: int = 3
    breaker_reset_s: float = 5.0

    def __post_init__(self) -> None:
        for name in ("op_timeout_s", "op_max_s", "breaker_reset_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not (
                isinstance(value, int | float) and 0 < value < math.inf
            ):
                raise ConfigurationError(
                    f"state.{name} must be a finite number of seconds > 0, not {value!r}"
                )
        if self.op_max_s < self.op_timeout_s:
            raise ConfigurationError(
                f"state.op_max_s ({self.op_max_s:g}) must not be below state.op_timeout_s "
                f"({self.op_timeout_s:g})"
            )
        failures = self.breaker_failures
        if isinstance(failures, bool) or not isinstance(failures, int) or failures < 1:
            raise ConfigurationError(
                f"state.breaker_failures must be an int >= 1, not {failures!r}"
            )

    @classmethod
    def from_config(cls, state: object) -> FailOpenSettings:
        """The settings of a ``state`` config section; the defaults for a section without them
        (the in-memory store's, when a store is passed to the router directly)."""
        default = cls()
        return cls(
            op_timeout_s=getattr(state, "op_timeout_s", default.op_timeout_s),
            op_max_s=getattr(state, "op_max_s", default.op_max_s),
            breaker_failures=getattr(state, "breaker_failures", default.breaker_failures),
            breaker_reset_s=getattr(state, "breaker_reset_s", default.breaker_reset_s),
        )


class FailOpenStore:
    """Wraps ``store``: each operation bounded in time, skipped while the breaker is open, and
    its errors logged, counted and answered as an empty store would answer.

    A store that can tell whether an operation would start at once (no wait for a connection,
    none to open) has a ``ready() -> bool`` method; one without it is always watched. A store
    with a bounded number of connections says how many in a ``capacity: int`` attribute
    (operations beyond it queue here, outside any budget), and one that can tell when it last
    read a reply from its server has a ``last_answer() -> float`` method (the event loop's
    clock, :func:`~agentroute.clock.loop_time`): the watcher counts those replies as answers
    (module docstring).

    Args:
        store: the store to guard.
        settings: the time budget per operation and the breaker's thresholds.
        clock: where the breaker and the log's quiet period read time (the router's clock).
        metrics: the router's instruments, for the error, skip and breaker counters.
        events: the router's event sink (default: one following ``log_events: null``).
    """

    def __init__(
        self,
        store: StateStore,
        settings: FailOpenSettings | None = None,
        *,
        clock: Clock | None = None,
        metrics: RouterMetrics | None = None,
        events: RouteEvents | None = None,
    ) -> None:
        self.store = store
        self.settings = settings = settings or FailOpenSettings()
        self._clock: Clock = clock or SystemClock()
        self.breaker = CircuitBreaker(
            settings.breaker_failures, settings.breaker_reset_s, self._clock
        )
        self._timeout = settings.op_timeout_s
        self._metrics = metrics
        self._events = events or RouteEvents()
        self._reader: CallReads | None = store if isinstance(store, CallReads) else None
        ready = getattr(store, "ready", None)
        self._ready: Callable[[], bool] | None = ready if callable(ready) else None
        heard = getattr(store, "last_answer", None)
        self._heard: Callable[[], float] | None = heard if callable(heard) else None
        capacity = getattr(store, "capacity", None)
        self._capacity: int | None = capacity if isinstance(capacity, int) else None
        self._slots: anyio.CapacityLimiter | None = None
        self._progress = -math.inf
        """When the store last answered an operation (the event loop's clock)."""
        self.errors = 0
        """Operations that failed or timed out so far."""
        self.timeouts = 0
        """Of :attr:`errors`, those given up after ``op_timeout_s``."""
        self.skipped = 0
        """Operations not sent to the store because the breaker was open."""
        self._last_log: float | None = None

    def __repr__(self) -> str:
        return (
            f"FailOpenStore({self.store!r}, errors={self.errors}, skipped={self.skipped}, "
            f"breaker={self.breaker.state!r})"
        )

    # The guard -----------------------------------------------------------------------------

    async def _run(
        self,
        operation: str,
        empty: T,
        fn: Callable[..., Awaitable[T]],
        *args: Any,
    ) -> T:
        """``fn(*args)`` within the budget, through the breaker; ``empty`` when it is skipped,
        fails or times out."""
        breaker = self.breaker
        allowed, moved = breaker.allow()
        if moved is not None:
            self._moved(moved)
        if not allowed:
            return self._skip(operation, empty)
        probe = breaker.state == "half_open"
        slots = self._slots
        if slots is None and self._capacity is not None:
            slots = self._slots = anyio.CapacityLimiter(self._capacity)
        try:
            if slots is None:
                answered, result = await self._bounded(fn, args)
            else:
                async with slots:  # a queue in this process: none of the store's time
                    if breaker.state != "closed" and not probe:  # it opened meanwhile
                        return self._skip(operation, empty)
                    answered, result = await self._bounded(fn, args)
        except ConfigurationError:
            if probe:
                breaker.abandoned()
            raise
        except Exception as exc:
            self._progress = loop_time()  # an error is an answer: the store is alive
            self._failed(operation, type(exc).__name__, error_text(exc))
            return empty
        except BaseException:  # cancelled by the caller: no verdict on the store
            if probe:  # (only the probe holds the half-open breaker's turn)
                breaker.abandoned()
            raise
        if not answered:
            self.timeouts += 1
            self._failed(operation, TIMEOUT, f"no answer within {self._timeout:g}s")
            return empty
        self._progress = loop_time()
        moved = breaker.succeeded()
        if moved is not None:
            self._moved(moved)
        return cast(T, result)

    def _skip(self, operation: str, empty: T) -> T:
        self.skipped += 1
        if self._metrics is not None:
            self._metrics.store_skipped(operation)
        return empty

    async def _bounded(
        self, fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...]
    ) -> tuple[bool, Any]:
        """``(True, fn(*args))``, or ``(False, None)`` if it was given up (module docstring:
        a plain deadline when the store is ready, then a watcher)."""
        ready = self._ready
        if ready is not None and ready():
            with anyio.move_on_after(self._timeout):
                return True, await fn(*args)
            # No answer within op_timeout_s, or one the busy loop had not read yet: a deadline
            # cannot tell them apart, so the operation is asked again, watched.
        outcome: list[Any] = []
        failure: list[Exception] = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._watch, tg.cancel_scope, loop_time())
            try:
                outcome.append(await fn(*args))
            except Exception as exc:  # raised below, outside the task group (no group wrapping)
                failure.append(exc)
            tg.cancel_scope.cancel()  # the watcher
        if failure:
            raise failure[0]
        return (True, outcome[0]) if outcome else (False, None)

    def _last_answer(self) -> float:
        """When the store last answered anything (the event loop's clock; ``-inf``: never)."""
        heard = self._heard
        return self._progress if heard is None else max(self._progress, heard())

    async def _watch(self, scope: anyio.CancelScope, start: float) -> None:
        """Cancel ``scope`` once the store has been silent for ``op_timeout_s`` of time in
        which the loop was free (ticks that woke on time), or ``op_max_s`` after ``start``."""
        budget = self._timeout
        tick = budget / _TICKS
        cap = start + self.settings.op_max_s
        seen = self._last_answer()
        silent = 0.0
        wake = start + tick
        while True:
            await anyio.sleep_until(min(wake, cap))
            now = loop_time()
            if now >= cap:
                break
            last = self._last_answer()
            if last == -math.inf:  # never heard from yet: connections are still being opened
                wake = cap
                continue
            if last > seen:  # the store answered meanwhile: it is alive
                seen, silent = last, 0.0
            elif now - wake <= tick / 2:  # a tick on time, the store silent all along
                silent += tick
                if silent >= budget:
                    break
            wake = now + tick  # (a late tick counts for nothing: the loop was busy)
        scope.cancel()

    def _failed(self, operation: str, error_type: str, message: str) -> None:
        self.errors += 1
        if self._metrics is not None:
            self._metrics.store_error(operation, error_type)
        moved = self.breaker.failed()
        now = self._clock.now()
        last = self._last_log
        if (last is None or now - last >= _QUIET_S) and self._events.state_error(
            operation, error_type, message, self.errors
        ):
            self._last_log = now
        if moved is not None:
            self._moved(moved)

    def _moved(self, state: BreakerState) -> None:
        if self._metrics is not None:
            self._metrics.store_breaker(state)
        self._events.state_breaker(state, self.breaker.streak, self.settings.breaker_reset_s)

    # The store's operations ----------------------------------------------------------------

    async def add_failure(self, key: str, window_s: float) -> int:
        return await self._run("add_failure", 0, self.store.add_failure, key, window_s)

    async def clear_failures(self, key: str) -> None:
        await self._run("clear_failures", None, self.store.clear_failures, key)

    async def set_cooldown(self, key: str, seconds: float) -> None:
        await self._run("set_cooldown", None, self.store.set_cooldown, key, seconds)

    async def cooling(self, keys: Sequence[str]) -> Mapping[str, float]:
        ahead = take_prefetched(keys)
        if ahead is not None:
            return ahead
        return await self._run("cooling", _NONE, self.store.cooling, keys)

    async def read_call(
        self, keys: Sequence[str], session: str, models: Sequence[str]
    ) -> CallSnapshot:
        """A call's cooldowns and pins: one round trip when the store can (see
        :mod:`agentroute.state.reads`), else its ``cooling`` and ``get_pin`` reads."""
        reader = self._reader
        if reader is not None:
            return await self._run(
                "read_call", EMPTY_SNAPSHOT, reader.read_call, keys, session, models
            )
        cooling = await self.cooling(keys)
        pins: dict[str, str] = {}
        for model in models:
            pin = await self.get_pin(session, model)
            if pin is not None:
                pins[model] = pin
        return CallSnapshot(cooling, pins)

    async def get_pin(self, session: str, model: str) -> str | None:
        return await self._run("get_pin", None, self.store.get_pin, session, model)

    async def set_pin(self, session: str, model: str, deployment: str, ttl_s: float) -> None:
        await self._run("set_pin", None, self.store.set_pin, session, model, deployment, ttl_s)

    async def drop_pin(self, session: str, model: str) -> None:
        await self._run("drop_pin", None, self.store.drop_pin, session, model)

    async def put_session_summary(self, session: str, summary: str, ttl_s: float) -> None:
        put = getattr(self.store, "put_session_summary", None)
        if put is not None:  # (a store written before summaries existed keeps none)
            await self._run("put_session_summary", None, put, session, summary, ttl_s)

    async def get_session_summary(self, session: str) -> str | None:
        get = getattr(self.store, "get_session_summary", None)
        if get is None:
            return None
        return await self._run("get_session_summary", None, get, session)

    async def aclose(self) -> None:
        """Close the store (whatever the breaker says: its connections must be released)."""
        try:
            await self.store.aclose()
        except ConfigurationError:
            raise
        except Exception as exc:
            self._failed("aclose", type(exc).__name__, error_text(exc))
