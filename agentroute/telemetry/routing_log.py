"""The routing log: one JSON line per session, written off the event loop (docs/routing-log.md).

Opt-in: ``telemetry.routing_log: PATH`` in the config, or ``Router(routing_log=...)`` with a
path or any writable text sink (an object with ``write(str)``). The schema is versioned
(:data:`SCHEMA_VERSION`) and described by the pydantic models of
:mod:`agentroute.telemetry.routing_log_schema`, which the tests validate every written line
against.

**What a step costs.** :class:`RoutingLogStep` (in the chain right after the route span, only
when the log is on) appends one small tuple per call that made an attempt — the step number, the
wall time, and references to the call's frozen :class:`~agentroute.Decision` and
:class:`~agentroute.Attempt` records — to the session's open record. Nothing is formatted on the
event loop: at the session's end the ledger's totals are snapshotted and the JSON is built by the
writer thread. With the log off the step is not in the chain: it costs nothing.

**When a line is written.** A ``session`` line when the session ends: an explicit session's
``async with`` block exits (``end_reason: exit``), an implicit or bound session is evicted by
``sessions.max_implicit`` (``evicted``) or swept after ``sessions.idle_ttl_s`` idle
(``expired``), or the router is closed with the session still open (``router_closed``). A
session that made no step and has no outcome writes nothing. An outcome recorded while the
session is open rides on its line (the latest one wins); one recorded after the line was
written is an ``outcome`` line whose ``session_record`` is the session line's ``record_id``
(``null`` when the session is not known here: ``session_known: false``), so a reader joins
them by ``record_id`` (or by ``session_id`` for an outcome whose session was not known). A
shadow comparison (:mod:`agentroute.shadow`) that finishes while its session is open rides on its
step (``shadow``); one that finishes later is a ``shadow`` line naming the session line's
``record_id`` (remembered for the last :data:`ENDED_KEPT` sessions) and the step.

**Writing never blocks a call.** Records go through a bounded queue (:data:`QUEUE_SIZE`) to one
daemon thread, started with the first record. A full queue drops the record: it is counted
(:attr:`RoutingLog.lost`) and warned about (``route.routing_log_error``, ``queue_full``). A
path is opened in append mode (UTF-8) by the thread; a write that fails (a directory, a
read-only file, a full disk: any ``OSError``) loses that batch's records, counted and warned
about (the first, then at most once a minute), never raised; the next batch tries again.
After each batch the writer flushes: a path's file, and a sink's ``flush()`` if it has one.
:meth:`RoutingLog.aclose` writes the sessions still open, waits for the thread (in a worker
thread: the event loop is not blocked) and closes the file it opened; a sink given is flushed,
never closed (it is the caller's).

**Never content, never a secret.** A line holds ids, names (tiers, models, deployments, causes,
error types), numbers and the outcome's label: no message text, no tool arguments, no decision
reason, no error message, no API key.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import queue
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeAlias, runtime_checkable

from agentroute._types import Attempt, CallNext, Decision, ModelCall, ModelResult, Usage
from agentroute.clock import Clock, SystemClock, wall_time
from agentroute.errors import AllAttemptsFailed, ConfigurationError
from agentroute.session import SessionState
from agentroute.telemetry.logs import RouteEvents

__all__ = [
    "ENDED_KEPT",
    "QUEUE_SIZE",
    "SCHEMA_VERSION",
    "RoutingLog",
    "RoutingLogStep",
    "TextSink",
    "open_routing_log",
]

SCHEMA_VERSION = 1
"""The ``schema`` field of every line; raised when a field changes meaning or goes away (a new
optional field keeps it)."""
QUEUE_SIZE = 10_000
"""Records waiting for the writer thread at most; beyond them a record is dropped (counted)."""
_QUIET_S = 60.0

EndReason: TypeAlias = str
"""``exit``, ``evicted``, ``expired`` or ``router_closed``."""


@runtime_checkable
class TextSink(Protocol):
    """Anything with ``write(str)`` (a file opened in text mode, ``io.StringIO``, a socket
    wrapper...); ``flush()`` is called after each batch when it has one."""

    def write(self, text: str, /) -> Any: ...


Step: TypeAlias = tuple[int, float, Decision | None, tuple[Attempt, ...], str | None]
"""(step number, wall time it ended, decision, attempts, error type of a failed call)."""


class _Open:
    """A session's record while it is open: its steps so far, the outcome given to it, and the
    shadow comparisons of its steps that have finished (by step)."""

    __slots__ = ("outcome", "record_id", "shadows", "started", "steps")

    def __init__(self, started: float) -> None:
        self.started = started
        self.steps: list[Step] = []
        self.outcome: dict[str, Any] | None = None
        self.record_id = uuid.uuid4().hex
        self.shadows: dict[int, dict[str, Any]] | None = None


ENDED_KEPT = 10_000
"""Sessions whose ``record_id`` is remembered after their line was queued (a late shadow
comparison's line names it)."""


class RoutingLog:
    """The router's routing log: open sessions' step records, and the writer thread.

    Args:
        sink: a path (``str`` or ``os.PathLike``: appended to) or a :class:`TextSink`.
        highest: the highest of the tiers a session reached, by the config's order
            (:meth:`agentroute._catalog.Catalog.highest`).
        events: the router's event sink (``route.routing_log_error``).
        clock: the router's clock (the warnings' quiet period).

    Raises:
        ConfigurationError: ``sink`` is neither a path nor an object with ``write``.
    """

    def __init__(
        self,
        sink: str | os.PathLike[str] | TextSink,
        highest: Callable[[Sequence[str]], str | None],
        *,
        events: RouteEvents | None = None,
        clock: Clock | None = None,
    ) -> None:
        if isinstance(sink, str | os.PathLike):
            if not os.fspath(sink):
                raise ConfigurationError("routing_log: the path is empty")
            self._path: str | None = os.fspath(sink)
            self._sink: TextSink | None = None
        elif callable(getattr(sink, "write", None)):
            self._path, self._sink = None, sink
        else:
            raise ConfigurationError(
                f"routing_log: expected a path or an object with write(str), "
                f"got {type(sink).__name__}"
            )
        self.highest = highest
        """The highest of the tiers a session reached, by the config's order."""
        self._events = events or RouteEvents()
        self._clock: Clock = clock or SystemClock()
        self._open: dict[SessionState, _Open] = {}
        self._ended: dict[str, str] = {}
        """Session id → the ``record_id`` of its latest line, for the last :data:`ENDED_KEPT`."""
        self._queue: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue(QUEUE_SIZE)
        self._thread: threading.Thread | None = None
        self._file: Any = None
        self._lock = threading.Lock()
        self._last_warning: float | None = None
        self._closed = False
        self.lost = 0
        """Records lost so far: dropped on a full queue, or in a batch whose write failed."""
        self.written = 0
        """Lines written so far."""

    def __repr__(self) -> str:
        where = repr(self._path) if self._path is not None else type(self._sink).__name__
        return f"RoutingLog({where}, written={self.written}, lost={self.lost})"

    # On the event loop -----------------------------------------------------------------------

    def step(
        self,
        state: SessionState,
        number: int,
        decision: Decision | None,
        attempts: tuple[Attempt, ...],
        error_type: str | None,
    ) -> None:
        """A call of ``state`` that made an attempt ended (one tuple appended)."""
        record = self._open.get(state)
        if record is None:
            record = self._open[state] = _Open(wall_time())
        record.steps.append((number, wall_time(), decision, attempts, error_type))

    def attach_outcome(self, state: SessionState, outcome: dict[str, Any]) -> bool:
        """Put ``outcome`` on ``state``'s open record (the latest wins); ``False`` when its
        line was already written (the caller writes an ``outcome`` line instead)."""
        if self._closed:
            return False
        record = self._open.get(state)
        if record is None:
            record = self._open[state] = _Open(wall_time())
        record.outcome = outcome
        return True

    def shadow(self, state: SessionState, step: int, record: dict[str, Any]) -> None:
        """A shadow comparison of ``state``'s ``step`` finished (``record``: a
        :class:`~agentroute.telemetry.routing_log_schema.ShadowRecord` as a dict): on the
        step of the session's open record, else (its line was written) a ``shadow`` line."""
        open_ = self._open.get(state) if not self._closed else None
        if open_ is not None:
            if open_.shadows is None:
                open_.shadows = {}
            open_.shadows[step] = record
            return
        self._put(
            (
                "shadow",
                {
                    "record_id": uuid.uuid4().hex,
                    "session_id": state.key,
                    "session_record": self._ended.get(state.key),
                    "step": step,
                    "shadow": record,
                },
            )
        )

    def is_open(self, state: SessionState) -> bool:
        return state in self._open

    def end(self, state: SessionState, reason: EndReason) -> str | None:
        """``state`` ended: queue its line (built by the writer thread); its ``record_id``, or
        ``None`` when it made no step and has no outcome (nothing written)."""
        record = self._open.pop(state, None)
        if record is None:
            return None
        usage = state.usage
        snapshot = {
            "record_id": record.record_id,
            "session_id": state.key,
            "agent": state.agent,
            "user": state.user,
            "explicit": state.explicit,
            "started_at": record.started,
            "ended_at": wall_time(),
            "end_reason": reason,
            "tiers_reached": state.tiers_reached,
            "step_count": state.step,
            "total_cost_usd": state.cost_usd,
            "usage": usage,
            "outcome": record.outcome,
            "steps": record.steps,
            "shadows": record.shadows,
        }
        self._put(("session", snapshot))
        ended = self._ended
        ended.pop(state.key, None)
        ended[state.key] = record.record_id
        if len(ended) > ENDED_KEPT:
            del ended[next(iter(ended))]
        return record.record_id

    def outcome_line(
        self, session_id: str, outcome: dict[str, Any], summary: dict[str, Any] | None
    ) -> str:
        """Queue an ``outcome`` line for a session whose line was written already (``summary``:
        what is known of it; ``None``: not known); its ``record_id``."""
        record_id = uuid.uuid4().hex
        self._put(
            (
                "outcome",
                {
                    "record_id": record_id,
                    "session_id": session_id,
                    "outcome": outcome,
                    "summary": summary,
                },
            )
        )
        return record_id

    def open_sessions(self) -> list[SessionState]:
        return list(self._open)

    async def aclose(self) -> None:
        """Write the sessions still open (``router_closed``), then wait for every queued line
        to be written, flush, and close the file opened for a path. Idempotent."""
        if self._closed:
            return
        for state in list(self._open):
            self.end(state, "router_closed")
        self._closed = True
        thread = self._thread
        if thread is None:
            return
        import anyio.to_thread  # only a log written to a file has a thread to wait for

        await anyio.to_thread.run_sync(self._queue.put, None)  # behind every queued record
        await anyio.to_thread.run_sync(thread.join)

    def _put(self, item: tuple[str, dict[str, Any]]) -> None:
        if self._closed:
            self._lose(1, "closed", "the routing log is closed")
            return
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="agentroute-routing-log", daemon=True
            )
            self._thread.start()
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._lose(1, "queue_full", f"{QUEUE_SIZE} records waiting for the writer")

    # In the writer thread ----------------------------------------------------------------------

    def _run(self) -> None:
        q = self._queue
        while True:
            batch = [q.get()]
            while True:
                try:
                    batch.append(q.get_nowait())
                except queue.Empty:
                    break
            stop = None in batch
            records = [item for item in batch if item is not None]
            if records:
                self._write(records)
            if stop:
                self._close_file()
                return

    def _write(self, records: list[tuple[str, dict[str, Any]]]) -> None:
        lines: list[str] = []
        for kind, data in records:
            try:
                line = (
                    self._session_line(data)
                    if kind == "session"
                    else _outcome_line(data)
                    if kind == "outcome"
                    else _shadow_line(data)
                )
                lines.append(json.dumps(line, separators=(",", ":"), allow_nan=False) + "\n")
            except Exception as exc:  # a record that cannot be built: lost, never raised
                self._lose(1, type(exc).__name__, "a record could not be built")
        if not lines:
            return
        try:
            sink = self._sink
            if sink is None:
                if self._file is None:
                    assert self._path is not None
                    self._file = open(self._path, "a", encoding="utf-8")  # noqa: SIM115
                sink = self._file
            sink.write("".join(lines))
            flush: Callable[[], Any] | None = getattr(sink, "flush", None)
            if flush is not None:
                flush()
        except Exception as exc:  # a full disk, a directory, a read-only file, a broken sink
            self._close_file()  # (reopened by the next batch)
            self._lose(len(lines), type(exc).__name__, _os_error_text(exc))
            return
        self.written += len(lines)

    def _close_file(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            with contextlib.suppress(OSError):
                file.close()

    def _lose(self, n: int, error_type: str, error: str) -> None:
        with self._lock:
            self.lost += n
            now = self._clock.now()
            last = self._last_warning
            if last is not None and now - last < _QUIET_S:
                return
            if self._events.routing_log_error(error_type, error, self.lost):
                self._last_warning = now

    def _session_line(self, data: dict[str, Any]) -> dict[str, Any]:
        reached: tuple[str, ...] = data["tiers_reached"]
        usage: Usage = data["usage"]
        steps: list[dict[str, Any]] = []
        seen = 0
        shadows: dict[int, dict[str, Any]] = data["shadows"] or {}
        for number, at, decision, attempts, error_type in data["steps"]:
            total = 0
            if decision is not None and decision.signals is not None:
                total = decision.signals.tool_errors_total
            step = _step(number, at, decision, attempts, error_type, total - seen, total)
            if number in shadows:
                step["shadow"] = shadows[number]
            steps.append(step)
            seen = max(seen, total)
        return {
            "schema": SCHEMA_VERSION,
            "kind": "session",
            "record_id": data["record_id"],
            "session_id": data["session_id"],
            "agent": data["agent"],
            "user": data["user"],
            "explicit": data["explicit"],
            "started_at": data["started_at"],
            "ended_at": data["ended_at"],
            "end_reason": data["end_reason"],
            "start_tier": reached[0] if reached else None,
            "highest_tier": self.highest(reached),
            "tiers_reached": list(reached),
            "step_count": data["step_count"],
            "total_cost_usd": _number(data["total_cost_usd"]),
            "tokens": _tokens(usage),
            "outcome": data["outcome"],
            "steps": steps,
        }


def _step(
    number: int,
    at: float,
    decision: Decision | None,
    attempts: tuple[Attempt, ...],
    error_type: str | None,
    new_tool_errors: int,
    tool_errors_total: int,
) -> dict[str, Any]:
    served = next((a for a in reversed(attempts) if a.outcome == "ok"), None)
    last = served or (attempts[-1] if attempts else None)
    billed = [a.usage for a in attempts if a.usage is not None]
    tokens = None
    if billed:
        total = billed[0]
        for usage in billed[1:]:
            total = total + usage
        tokens = _tokens(total)
    return {
        "step": number,
        "time": at,
        "tier": decision.tier if decision is not None else None,
        "previous_tier": decision.previous_tier if decision is not None else None,
        "model": last.target.model if last is not None else None,
        "deployment": last.target.key if last is not None else None,
        "cause": str(decision.cause) if decision is not None else None,
        "score": _number(decision.score) if decision is not None else None,
        "contributions": (
            {name: _number(share) for name, share in decision.contributions}
            if decision is not None
            else {}
        ),
        "tokens": tokens,
        "cost_usd": _number(sum(a.cost_usd for a in attempts)),
        "attempts": [
            {
                "number": a.number,
                "model": a.target.model,
                "deployment": a.target.key,
                "outcome": a.outcome,
                "error_type": a.error_type,
                "status_code": a.status_code,
                "duration_s": _number(a.duration_s),
            }
            for a in attempts
        ],
        "tool_errors": max(0, new_tool_errors),
        "tool_errors_total": tool_errors_total,
        "error_type": error_type,
    }


def _outcome_line(data: dict[str, Any]) -> dict[str, Any]:
    summary = data["summary"]
    return {
        "schema": SCHEMA_VERSION,
        "kind": "outcome",
        "record_id": data["record_id"],
        "session_id": data["session_id"],
        "session_known": summary is not None,
        "session_record": summary.get("record_id") if summary else None,
        "agent": summary.get("agent") if summary else None,
        "start_tier": summary.get("start_tier") if summary else None,
        "highest_tier": summary.get("highest_tier") if summary else None,
        "outcome": data["outcome"],
    }


def _shadow_line(data: dict[str, Any]) -> dict[str, Any]:
    return {"schema": SCHEMA_VERSION, "kind": "shadow", **data}


def _tokens(usage: Usage) -> dict[str, int]:
    return {
        "input": usage.input_tokens,
        "cached": usage.cache_read_tokens,
        "cache_write": usage.cache_write_tokens,
        "output": usage.output_tokens,
    }


def _number(value: float) -> float:
    """A float JSON can hold (a non-finite one, which no routed number should be, becomes 0)."""
    return float(value) if math.isfinite(value) else 0.0


def _os_error_text(exc: BaseException) -> str:
    """What went wrong, without the path (it may name a user's directory) or any argument."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__


def open_routing_log(
    given: str | os.PathLike[str] | TextSink | None,
    configured: str | None,
    highest: Callable[[Sequence[str]], str | None],
    *,
    events: RouteEvents,
    clock: Clock,
) -> RoutingLog | None:
    """The router's routing log: ``Router(routing_log=...)``, else ``telemetry.routing_log``,
    else none."""
    sink = given if given is not None else configured
    if sink is None:
        return None
    return RoutingLog(sink, highest, events=events, clock=clock)


class RoutingLogStep:
    """In the chain right after the route span (only when the routing log is on): records each
    call that made an attempt as a step of its session's open record."""

    def __init__(self, log: RoutingLog) -> None:
        self._log = log

    async def __call__(self, call: ModelCall, call_next: CallNext) -> ModelResult:
        try:
            result = await call_next(call)
        except BaseException as exc:
            state = call.session
            if state is not None:
                if isinstance(exc, AllAttemptsFailed):
                    attempts: tuple[Attempt, ...] = tuple(exc.attempts)
                else:
                    progress = call.progress
                    attempts = () if progress is None else progress.attempts
                if attempts:  # (a call refused before any attempt is not a step)
                    last = state.last_decision
                    decision = last if last is not None and last.step == call.step else None
                    self._log.step(state, call.step, decision, attempts, type(exc).__name__)
            raise
        state = call.session
        if state is not None:
            self._log.step(state, call.step, result.decision, result.attempts, None)
        return result
