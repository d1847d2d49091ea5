"""Outcomes: how a session went, recorded by the application, joined to how it was routed.

``session.record_outcome(success=None, score=None, label=None)`` inside (or after) an ``async
with router.session()`` block, and ``await router.record_outcome(session_id, ...)`` later — from
another process too. Each becomes:

* a span ``agentroute.outcome`` (``gen_ai.conversation.id``, the outcome, the session's start
  and highest tier), linked to the session's latest ``agentroute.route`` span when known;
* one count of the metric ``agentroute.session.outcomes``, by start tier, highest tier reached,
  success and whether the session was known;
* a structlog event ``route.outcome``;
* with the routing log on, the session's line carries it (the session is open here), or an
  ``outcome`` line referencing the session's line is written
  (:mod:`agentroute.telemetry.routing_log`).

**The inputs** (checked; a bad one raises :class:`~agentroute.errors.ConfigurationError` naming
the argument): ``success`` a bool or ``None``; ``score`` a finite number in [0, 1] or ``None``
(a share, so outcomes of different sources average: scale a 1–5 rating to it); ``label`` a
string of at most :data:`MAX_LABEL` characters or ``None`` (a category such as ``"refund"``:
it goes onto spans and into the log, so never put user content in it).

**Sync or async.** ``session.record_outcome`` is a plain method: the session is here, so it
needs no I/O and never blocks (its span, metric and event are emitted at once). ``await
router.record_outcome(id, ...)`` looks the session up: live in this router (an open explicit
session, an implicit or bound one in the table), remembered here after it ended, else its
summary in the state store (kept ``telemetry.outcome_ttl_s`` after it ended by the router that
ran it; a read bounded like every state operation). An outcome whose session is none of these
(unknown, or expired) is still recorded, with ``session_known: false`` on its span, metric and
line, and a ``route.outcome_unknown_session`` warning: it is never an error that loses it.

**Session summaries.** When a session ends (its ``async with`` block exits, or the router is
closed with it open) the router puts its summary (start and highest tier, agent, user, its
routing-log ``record_id``, its latest route span's ids) into the state store for
``telemetry.outcome_ttl_s``, and keeps the last :data:`REMEMBERED` ones in memory. Implicit and
bound sessions end inside a routed call (evicted, or swept idle): their summaries are kept in
memory only (no store write on the call's path).
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.trace import Link, SpanContext, SpanKind, TraceFlags

from agentroute._secrets import redact
from agentroute.clock import wall_time
from agentroute.errors import ConfigurationError
from agentroute.session import SessionState
from agentroute.state import StateStore
from agentroute.telemetry import attributes as A
from agentroute.telemetry.routing_log import RoutingLog
from agentroute.telemetry.spans import Telemetry

__all__ = ["MAX_LABEL", "REMEMBERED", "SessionOutcomes", "check_outcome"]

MAX_LABEL = 200
"""The longest ``label`` accepted (characters)."""
REMEMBERED = 10_000
"""Ended sessions' summaries kept in memory (the oldest go first)."""


def check_outcome(success: object, score: object, label: object) -> dict[str, Any]:
    """The outcome as a routing-log record, with its time.

    Raises:
        ConfigurationError: an argument of the wrong type or out of range (named).
    """
    if success is not None and not isinstance(success, bool):
        raise ConfigurationError(
            f"record_outcome(): success must be True, False or None, not {type(success).__name__}"
        )
    value: float | None = None
    if score is not None:
        if isinstance(score, bool) or not isinstance(score, int | float):
            raise ConfigurationError(
                f"record_outcome(): score must be a number in [0, 1] or None, "
                f"not {type(score).__name__}"
            )
        try:
            value = float(score)
        except OverflowError:  # an int too large for a float
            value = math.inf
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise ConfigurationError(
                f"record_outcome(): score must be a finite number in [0, 1], not {score!r:.40}"
            )
    if label is not None:
        if not isinstance(label, str):
            raise ConfigurationError(
                f"record_outcome(): label must be a string or None, not {type(label).__name__}"
            )
        if len(label) > MAX_LABEL:
            raise ConfigurationError(
                f"record_outcome(): label is {len(label)} characters long (at most {MAX_LABEL})"
            )
    return {"success": success, "score": value, "label": label, "recorded_at": wall_time()}


class SessionOutcomes:
    """The router's outcomes and session ends (the hooks :class:`~agentroute.Session` calls).

    Args:
        telemetry: the router's telemetry (tracer, metrics, events).
        store: the router's state store (session summaries).
        log: the routing log, if on.
        highest: the highest of the tiers a session reached, by the config's order
            (:meth:`agentroute._catalog.Catalog.highest`).
        ttl_s: ``telemetry.outcome_ttl_s``.
        find_live: the live implicit or bound session of an id (the router's table), if any.
    """

    def __init__(
        self,
        telemetry: Telemetry,
        store: StateStore,
        log: RoutingLog | None,
        highest: Callable[[Sequence[str]], str | None],
        ttl_s: float,
        find_live: Callable[[str], SessionState | None],
    ) -> None:
        self._t = telemetry
        self._store = store
        self.log = log
        self._highest = highest
        self._ttl = ttl_s
        self._find_live = find_live
        self._entered: dict[str, SessionState] = {}
        """Explicit sessions inside their ``async with`` block, by id."""
        self._ended: OrderedDict[str, dict[str, Any]] = OrderedDict()
        """Summaries of the sessions that ended here, by id (the last :data:`REMEMBERED`)."""

    # The session's hooks ---------------------------------------------------------------------

    def session_started(self, state: SessionState) -> None:
        self._entered[state.key] = state

    async def session_ended(self, state: SessionState) -> None:
        """An explicit session's ``async with`` block exited: its line, its summary."""
        if self._entered.get(state.key) is state:
            del self._entered[state.key]
        await self._publish(state, self._end(state, "exit"))

    def session_dropped(self, state: SessionState, reason: str) -> None:
        """An implicit or bound session was evicted or swept (inside a routed call: no I/O)."""
        self._end(state, reason)

    def outcome(self, state: SessionState, success: object, score: object, label: object) -> None:
        """``session.record_outcome(...)``: the session is here (open or ended)."""
        outcome = check_outcome(success, score, label)
        self._record(state.key, outcome, state=state)

    # The router's ----------------------------------------------------------------------------

    async def record(
        self, session_id: object, success: object, score: object, label: object
    ) -> None:
        """``router.record_outcome(session_id, ...)`` (module docstring)."""
        if not isinstance(session_id, str) or not session_id:
            raise ConfigurationError(
                f"record_outcome(): session_id must be a non-empty string, got {session_id!r:.80}"
            )
        outcome = check_outcome(success, score, label)
        state = self._entered.get(session_id) or self._find_live(session_id)
        if state is not None:
            self._record(session_id, outcome, state=state)
            return
        summary = self._ended.get(session_id)
        if summary is None:
            text = await self._store.get_session_summary(session_id)
            if text is not None:
                try:
                    found = json.loads(text)
                except ValueError:
                    found = None
                summary = found if isinstance(found, dict) else None
        self._record(session_id, outcome, summary=summary)

    async def aclose(self) -> None:
        """The router closes: the sessions still open end (``router_closed``), their
        summaries are published, and the routing log is flushed and closed."""
        for state in list(self._entered.values()):
            await self._publish(state, self._end(state, "router_closed"))
        self._entered.clear()
        log = self.log
        if log is not None:
            for state in log.open_sessions():  # implicit and bound sessions still open
                self._end(state, "router_closed")
            await log.aclose()

    # Inside ------------------------------------------------------------------------------------

    def _end(self, state: SessionState, reason: str) -> dict[str, Any]:
        log = self.log
        record_id = log.end(state, reason) if log is not None else None
        reached = state.tiers_reached
        span = state.route_span
        summary: dict[str, Any] = {
            "record_id": record_id,
            "agent": state.agent,
            "user": state.user,
            "start_tier": reached[0] if reached else None,
            "highest_tier": self._highest(reached),
            "steps": state.step,
            "cost_usd": state.cost_usd,
        }
        if isinstance(span, SpanContext) and span.is_valid:
            summary["trace_id"] = f"{span.trace_id:032x}"
            summary["span_id"] = f"{span.span_id:016x}"
            summary["sampled"] = span.trace_flags.sampled
        ended = self._ended
        ended[state.key] = summary
        ended.move_to_end(state.key)
        if len(ended) > REMEMBERED:
            ended.popitem(last=False)
        return summary

    async def _publish(self, state: SessionState, summary: dict[str, Any]) -> None:
        if state.step == 0 and summary["record_id"] is None:
            return  # a session that made no call: nothing to join an outcome to
        await self._store.put_session_summary(state.key, json.dumps(summary), self._ttl)

    def _record(
        self,
        session_id: str,
        outcome: dict[str, Any],
        *,
        state: SessionState | None = None,
        summary: dict[str, Any] | None = None,
    ) -> None:
        link: SpanContext | None = None
        if state is not None:
            known = True
            reached = state.tiers_reached
            start, highest, agent = (
                reached[0] if reached else None,
                self._highest(reached),
                state.agent,
            )
            span = state.route_span
            link = span if isinstance(span, SpanContext) and span.is_valid else None
            log = self.log
            if log is not None:
                live = (
                    self._entered.get(session_id) is state or self._find_live(session_id) is state
                )
                if not (live and log.attach_outcome(state, outcome)):  # its line is written
                    ended = self._ended.get(session_id) or _bare(state, start, highest)
                    log.outcome_line(session_id, outcome, ended)
        else:
            known = summary is not None
            start = summary.get("start_tier") if summary else None
            highest = summary.get("highest_tier") if summary else None
            agent = summary.get("agent") if summary else None
            link = _remote(summary) if summary else None
            if self.log is not None:
                self.log.outcome_line(session_id, outcome, summary)
            if not known:
                self._t.events.outcome_unknown_session(session_id)
        success, score, label = outcome["success"], outcome["score"], outcome["label"]
        t = self._t
        if t.measuring():
            t.metrics.outcome(start, highest, success, known)
        if t.tracing():
            span_ = t.tracer.start_span(
                A.OUTCOME_SPAN,
                kind=SpanKind.INTERNAL,
                links=[Link(link)] if link is not None else None,
            )
            if span_.is_recording():
                attrs: dict[str, Any] = {
                    A.GEN_AI_CONVERSATION_ID: session_id,
                    A.OUTCOME_SESSION_KNOWN: known,
                }
                if agent is not None:
                    attrs[A.GEN_AI_AGENT_NAME] = agent
                if success is not None:
                    attrs[A.OUTCOME_SUCCESS] = success
                if score is not None:
                    attrs[A.OUTCOME_SCORE] = score
                if label is not None:
                    attrs[A.OUTCOME_LABEL] = redact(label)
                if start is not None:
                    attrs[A.SESSION_START_TIER] = start
                if highest is not None:
                    attrs[A.SESSION_HIGHEST_TIER] = highest
                span_.set_attributes(attrs)
            span_.end()
        t.events.outcome(session_id, known, start, highest, success, score, label)


def _bare(state: SessionState, start: str | None, highest: str | None) -> dict[str, Any]:
    """What an outcome line says of a live session whose line is not open (none written)."""
    return {"record_id": None, "agent": state.agent, "start_tier": start, "highest_tier": highest}


def _remote(summary: dict[str, Any]) -> SpanContext | None:
    """The latest route span of a session summarised by another router (or this one)."""
    try:
        trace_id = int(summary["trace_id"], 16)
        span_id = int(summary["span_id"], 16)
    except (KeyError, TypeError, ValueError):
        return None
    flags = TraceFlags(TraceFlags.SAMPLED if summary.get("sampled") else TraceFlags.DEFAULT)
    context = SpanContext(trace_id, span_id, is_remote=True, trace_flags=flags)
    return context if context.is_valid else None
