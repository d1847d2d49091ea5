"""structlog events of the router, emitted through one sink: :class:`RouteEvents`.

The events: ``route.decision``, ``route.attempt``, ``route.fallback`` (the call moves to another
deployment), ``route.cooldown``, ``route.affinity`` (a pin made or kept),
``route.affinity_break``, from the budget step, ``route.budget``, and ``route.usage_unknown``
(once per type: a ``wrap()``-ed function's answer whose token usage was not understood, so it
was charged an estimate), ``route.session_evicted`` (a live implicit session pushed out by
``sessions.max_implicit``), ``route.sdk_retries`` (a wrapped function's client retries by
itself). Every event about a session carries ``session_id`` and ``step``, and the same values
as the spans' attributes. An event about one call carries that call's own step (the caller
passes it: ``ModelCall.step``), never the session's latest, which with concurrent calls on one
session is another call's; ``route.session_evicted``, about the session, carries its step
count. A shared state store adds ``route.state_error`` and
``route.state_breaker`` (:mod:`agentroute.state.failopen`; about the store, not a session).
Outcomes add ``route.outcome`` (info: one per outcome recorded) and
``route.outcome_unknown_session`` (warning: an outcome for a session neither live nor
remembered, kept all the same); the routing log adds ``route.routing_log_error`` (warning: a
record that could not be written, or was dropped because the writer's queue was full;
:mod:`agentroute.telemetry.routing_log`); shadow routing adds ``route.shadow`` (info: what became
of one sample, :mod:`agentroute.shadow`).

The library only *emits*: it never configures structlog, so events go wherever the application
sent structlog's output. An unconfigured structlog would print every event to stdout, which no
library should do to an application that never asked, so by default (``telemetry:
{log_events: null}``) events are emitted only while the application has configured structlog
(``structlog.is_configured()``, asked per event: an application may configure structlog after
building its router; ``structlog.testing.capture_logs`` counts); ``true``/``false`` force them
on or off. The rule holds at every level: a warning is no exception. Events carry names,
numbers and reasons, never message content or secrets.

**One sink.** The router builds one :class:`RouteEvents` from ``telemetry.log_events`` and
hands it to every component that emits (the routing, validation, budget, affinity and fallback
steps, the function terminal, the fail-open store, the telemetry); none of them decides on its
own. The sink decides once, when it is built, how it will decide (never, always, or while
structlog is configured), and before building an event it asks the logger structlog would use
whether the event's level is enabled (``is_enabled_for``, which structlog's filtering and
stdlib loggers have), so an application filtering at ``info`` pays nothing for the
``debug`` events.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

from agentroute._error_translation import error_text
from agentroute._types import Attempt, Decision, Target
from agentroute.session import SessionState

__all__ = ["RouteEvents", "logger"]

# structlog is imported at the first event emitted, not by ``import agentroute``: with the
# default ``log_events: null`` no event is emitted before the application has configured
# structlog, which it cannot have done without importing it, so an application that never uses
# structlog never loads it (nor what it loads: rich's traceback renderer, attrs, …).
# ``logger`` and ``_STRUCTLOG_CONFIG`` are set by :func:`_load` (module ``__getattr__`` below).
logger: Any
"""``structlog.get_logger("agentroute")``: the lazy logger every event is bound from."""
_STRUCTLOG_CONFIG: Any
_loaded = False

_DEBUG, _INFO, _WARNING = logging.DEBUG, logging.INFO, logging.WARNING  # structlog's levels


def _structlog_config() -> Any:
    """The configuration object structlog's lazy loggers read (private to structlog: read
    only to learn of a reconfiguration); ``None`` if a structlog release moves it, and every
    event then binds anew."""
    try:
        from structlog import _config
    except ImportError:  # pragma: no cover - see the docstring
        return None
    return getattr(_config, "_CONFIG", None)


def _load() -> None:
    """Import structlog and set :data:`logger` and :data:`_STRUCTLOG_CONFIG` (once)."""
    global logger, _STRUCTLOG_CONFIG, _loaded
    import structlog

    logger = structlog.get_logger("agentroute")
    _STRUCTLOG_CONFIG = _structlog_config()
    _loaded = True


def __getattr__(name: str) -> Any:
    """``logger`` and ``_STRUCTLOG_CONFIG`` before the first event: structlog imported now."""
    if name in ("logger", "_STRUCTLOG_CONFIG"):
        _load()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_bound: tuple[Any, Any, Any, Any, Any] | None = None
"""``(wrapper class, logger factory, processors, context class, logger)``: the logger
``logger.bind()`` gave under that configuration, reused while structlog keeps it."""


def _current() -> Any:
    """``logger.bind()`` under structlog's current configuration, built once per configuration.

    Binding assembles a new bound logger from structlog's configuration each time (its wrapper
    class, a logger from the factory, the processors, a context): a few microseconds per event,
    paid even for an event its level filter then drops. What it builds depends only on those
    four settings, so the logger is kept with their identities and rebuilt when
    ``structlog.configure()`` (or ``reset_defaults()``, ``capture_logs()``) replaces any of
    them; a processor list changed in place is the same list the kept logger holds. The level
    is still asked per event (a stdlib logger's level may change at any time).
    """
    global _bound
    if not _loaded:
        _load()
    cfg = _STRUCTLOG_CONFIG
    if cfg is None:  # pragma: no cover - see the import
        return logger.bind()
    kept = _bound
    if (
        kept is not None
        and kept[0] is cfg.default_wrapper_class
        and kept[1] is cfg.logger_factory
        and kept[2] is cfg.default_processors
        and kept[3] is cfg.default_context_class
    ):
        return kept[4]
    settings = (
        cfg.default_wrapper_class,
        cfg.logger_factory,
        cfg.default_processors,
        cfg.default_context_class,
    )
    bound = logger.bind()
    _bound = (*settings, bound)
    return bound


def _at(level: int) -> Any | None:
    """The logger structlog would use now, if an event of ``level`` passes its level filter
    (``is_enabled_for``: structlog's filtering and stdlib loggers; any other passes)."""
    bound = _current()
    enabled = getattr(bound, "is_enabled_for", None)
    return None if enabled is not None and not enabled(level) else bound


def _never() -> bool:
    return False


def _always() -> bool:
    return True


class RouteEvents:
    """The router's structlog events: one method per event, each a no-op unless the event
    would be emitted (module docstring).

    Args:
        mode: ``telemetry.log_events``: ``True``/``False`` force events on or off; ``None``
            emits them while structlog is configured.
    """

    __slots__ = ("_emitting", "mode")

    def __new__(cls, mode: bool | None = None) -> RouteEvents:
        # log_events: false gets the silent sink: each event is one call that does nothing
        return object.__new__(_Silent if mode is False and cls is RouteEvents else cls)

    def __init__(self, mode: bool | None = None) -> None:
        self.mode = mode
        self._emitting: Callable[[], bool] = _always if mode else _never
        if mode is None:  # structlog's own check once it is imported (see _configured)
            structlog = sys.modules.get("structlog")
            self._emitting = self._configured if structlog is None else structlog.is_configured

    def _configured(self) -> bool:
        """``structlog.is_configured()`` for ``log_events: null`` while structlog has not been
        imported (then it cannot have been configured: ``False``, nothing imported); once it
        has, its own ``is_configured`` is asked directly from then on."""
        structlog = sys.modules.get("structlog")
        if structlog is None:
            return False
        self._emitting = structlog.is_configured
        return bool(structlog.is_configured())

    def __repr__(self) -> str:
        return f"RouteEvents(mode={self.mode!r})"

    def logger_for(self, level: int) -> Any | None:
        """The logger to emit an event of ``level`` (a ``logging`` level number) on, bound now
        to structlog's current configuration; ``None`` when the event would not be emitted,
        so the caller builds nothing."""
        return _at(level) if self._emitting() else None

    # The events ------------------------------------------------------------------------------

    def decision(self, state: SessionState, decision: Decision) -> None:
        log = self._emitting() and _at(_DEBUG)
        if not log:
            return
        log.debug(
            "route.decision",
            session_id=state.key,
            step=decision.step,
            tier=decision.tier,
            previous_tier=decision.previous_tier,
            cause=str(decision.cause),
            score=decision.score,
            candidates=list(decision.candidates),
            reason=decision.reason,
        )

    def attempt(
        self,
        state: SessionState,
        step: int,
        attempt: Attempt,
        *,
        error: BaseException | None = None,
    ) -> None:
        """``error``: the error to report when the record does not keep it (a stream's)."""
        ok = attempt.outcome == "ok"
        log = self._emitting() and _at(_DEBUG if ok else _WARNING)
        if not log:
            return
        fields = {
            "session_id": state.key,
            "step": step,
            "attempt": attempt.number,
            "model": attempt.target.model,
            "deployment": attempt.target.key,
            "outcome": attempt.outcome,
            "duration_s": round(attempt.duration_s, 6),
        }
        if attempt.lag_s:
            fields["lag_s"] = round(attempt.lag_s, 6)  # it started this late (a busy loop, a store)
        if ok:
            log.debug("route.attempt", **fields, cost_usd=attempt.cost_usd)
            return
        if error is None:
            error = attempt.error
        log.warning(
            "route.attempt",
            **fields,
            error_type=attempt.error_type,
            status_code=attempt.status_code,
            retry_after=attempt.retry_after,
            error=None if error is None else error_text(error),
        )

    def fallback(
        self, state: SessionState, step: int, failed: Attempt, to: Target, action: str
    ) -> None:
        log = self._emitting() and _at(_INFO)
        if not log:
            return
        log.info(
            "route.fallback",
            session_id=state.key,
            step=step,
            attempt=failed.number,
            error_type=failed.error_type,
            deployment=failed.target.key,
            to_deployment=to.key,
            to_model=to.model,
            action=action,
        )

    def cooldown(
        self, state: SessionState, step: int, target: Target, seconds: float, reason: str
    ) -> None:
        log = self._emitting() and _at(_WARNING)
        if not log:
            return
        log.warning(
            "route.cooldown",
            session_id=state.key,
            step=step,
            model=target.model,
            deployment=target.key,
            cooldown_s=seconds,
            reason=reason,
        )

    def pin(
        self,
        state: SessionState,
        step: int,
        kind: str,
        model: str,
        deployment: str,
        previous: str | None,
        reason: str,
    ) -> None:
        broken = kind == "break"
        log = self._emitting() and _at(_INFO if broken else _DEBUG)
        if not log:
            return
        fields = {
            "session_id": state.key,
            "step": step,
            "pin": kind,
            "model": model,
            "deployment": deployment,
            "previous": previous,
        }
        if broken:
            log.info("route.affinity_break", **fields, reason=reason)
        else:
            log.debug("route.affinity", **fields)

    def budget_refused(self, state: SessionState, step: int, limit: str, value: float) -> None:
        log = self._emitting() and _at(_WARNING)
        if not log:
            return
        log.warning(
            "route.budget",
            session_id=state.key,
            step=step,
            action="refused",
            limit=limit,
            limit_value=value,
            cost_usd=state.cost_usd,
        )

    def usage_unknown(self, state: SessionState, step: int, kind: type, *, streamed: bool) -> None:
        log = self._emitting() and _at(_WARNING)
        if not log:
            return
        hint = (
            "pass stream_options={'include_usage': True} to an OpenAI-compatible stream, or "
            "wrap(fn, usage_of=...)"
            if streamed
            else "wrap(fn, usage_of=...) reads a shape of your own"
        )
        log.warning(
            "route.usage_unknown",
            session_id=state.key,
            step=step,
            response_type=f"{kind.__module__}.{kind.__qualname__}",
            streamed=streamed,
            charged="the counted input tokens (usage_estimated)",
            hint=hint,
        )

    def session_evicted(self, state: SessionState, idle_s: float, limit: int) -> None:
        """A live implicit session was evicted: its step count, tier and cost are lost."""
        log = self._emitting() and _at(_WARNING)
        if not log:
            return
        log.warning(
            "route.session_evicted",
            session_id=state.key,
            step=state.step,
            idle_s=round(idle_s, 3),
            max_implicit=limit,
        )

    def outcome(
        self,
        session_id: str,
        known: bool,
        start_tier: str | None,
        highest_tier: str | None,
        success: bool | None,
        score: float | None,
        label: str | None,
    ) -> None:
        """An outcome was recorded for a session (``known``: the session was live here or
        its summary was found)."""
        log = self._emitting() and _at(_INFO)
        if not log:
            return
        log.info(
            "route.outcome",
            session_id=session_id,
            session_known=known,
            start_tier=start_tier,
            highest_tier=highest_tier,
            success=success,
            score=score,
            label=label,
        )

    def shadow(
        self,
        session_id: str,
        step: int,
        served_tier: str,
        reference_tier: str,
        result: str,
        agreement: float | None,
        reason: str,
        cost_usd: float,
    ) -> None:
        """What became of one shadow sample (``result``: compared, failed, cancelled,
        dropped_concurrency, dropped_budget)."""
        log = self._emitting() and _at(_INFO)
        if not log:
            return
        log.info(
            "route.shadow",
            session_id=session_id,
            step=step,
            served_tier=served_tier,
            reference_tier=reference_tier,
            result=result,
            agreement=agreement,
            reason=reason,
            cost_usd=cost_usd,
        )

    def outcome_unknown_session(self, session_id: str) -> None:
        log = self._emitting() and _at(_WARNING)
        if not log:
            return
        log.warning(
            "route.outcome_unknown_session",
            session_id=session_id,
            effect="the outcome is kept (session_known: false), without the session's tiers",
        )

    def routing_log_error(self, error_type: str, error: str, lost: int) -> bool:
        """A routing-log record could not be written (``lost``: records lost so far);
        whether it was emitted."""
        log = self._emitting() and _at(_WARNING)
        if not log:
            return False
        log.warning(
            "route.routing_log_error",
            error_type=error_type,
            error=error,
            lost=lost,
            effect="routing continues; the routing log misses these records",
        )
        return True

    def sdk_retries(self, function: str, source: str, max_retries: int) -> None:
        log = self._emitting() and _at(_WARNING)
        if not log:
            return
        log.warning("route.sdk_retries", function=function, source=source, max_retries=max_retries)

    def state_error(self, operation: str, error_type: str, error: str, errors_so_far: int) -> bool:
        """Whether it was emitted (the store keeps its quiet period from the last one)."""
        log = self._emitting() and _at(_WARNING)
        if not log:
            return False
        log.warning(
            "route.state_error",
            operation=operation,
            error_type=error_type,
            error=error,
            errors_so_far=errors_so_far,
            effect="routing continues without cooldowns and pins",
        )
        return True

    def state_breaker(self, state: str, failures: int, reset_s: float) -> None:
        opened = state == "open"
        log = self._emitting() and _at(_WARNING if opened else _INFO)
        if not log:
            return
        if opened:
            log.warning(
                "route.state_breaker",
                state=state,
                failures=failures,
                reset_s=reset_s,
                effect=f"the state store is skipped for {reset_s:g}s",
            )
        else:
            log.info(
                "route.state_breaker",
                state=state,
                effect="one operation probes the state store"
                if state == "half_open"
                else "the state store is used again",
            )


class _Silent(RouteEvents):
    """The sink of ``log_events: false``: every event returns at once (an explicit signature
    each: a ``*args`` no-op costs more per call)."""

    __slots__ = ()

    def logger_for(self, level: int) -> Any | None:
        return None

    def decision(self, state: SessionState, decision: Decision) -> None:
        pass

    def attempt(
        self,
        state: SessionState,
        step: int,
        attempt: Attempt,
        *,
        error: BaseException | None = None,
    ) -> None:
        pass

    def fallback(
        self, state: SessionState, step: int, failed: Attempt, to: Target, action: str
    ) -> None:
        pass

    def cooldown(
        self, state: SessionState, step: int, target: Target, seconds: float, reason: str
    ) -> None:
        pass

    def pin(
        self,
        state: SessionState,
        step: int,
        kind: str,
        model: str,
        deployment: str,
        previous: str | None,
        reason: str,
    ) -> None:
        pass

    def budget_refused(self, state: SessionState, step: int, limit: str, value: float) -> None:
        pass

    def usage_unknown(self, state: SessionState, step: int, kind: type, *, streamed: bool) -> None:
        pass

    def session_evicted(self, state: SessionState, idle_s: float, limit: int) -> None:
        pass

    def outcome(
        self,
        session_id: str,
        known: bool,
        start_tier: str | None,
        highest_tier: str | None,
        success: bool | None,
        score: float | None,
        label: str | None,
    ) -> None:
        pass

    def shadow(
        self,
        session_id: str,
        step: int,
        served_tier: str,
        reference_tier: str,
        result: str,
        agreement: float | None,
        reason: str,
        cost_usd: float,
    ) -> None:
        pass

    def outcome_unknown_session(self, session_id: str) -> None:
        pass

    def routing_log_error(self, error_type: str, error: str, lost: int) -> bool:
        return False

    def sdk_retries(self, function: str, source: str, max_retries: int) -> None:
        pass

    def state_error(self, operation: str, error_type: str, error: str, errors_so_far: int) -> bool:
        return False

    def state_breaker(self, state: str, failures: int, reset_s: float) -> None:
        pass
