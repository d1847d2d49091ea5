"""structlog events of the router: ``route.decision``, ``route.attempt``, ``route.fallback``
(the call moves to another deployment), ``route.cooldown``, ``route.affinity`` (a pin made or
kept), ``route.affinity_break``, from the budget step, ``route.budget``, and
``route.usage_unknown`` (once per type: a ``wrap()``-ed function's answer whose token usage
was not understood, so it was charged an estimate), ``route.session_evicted`` (a live implicit
session pushed out by ``sessions.max_implicit``). Every event carries ``session_id`` and
``step``, and the same values as the spans' attributes. A shared state store
adds ``route.state_error`` and ``route.state_breaker`` (:mod:`agentroute.state.failopen`; about
the store, not a session).

The library only *emits*: it never configures structlog, so events go wherever the application
sent structlog's output. An unconfigured structlog would print every event to stdout, which no
library should do to an application that never asked, so by default (``telemetry:
{log_events: null}``) events are emitted only once the application has configured structlog
(``structlog.is_configured()``; ``structlog.testing.capture_logs`` counts); ``true``/``false``
force them on or off. The rule holds at every level: a warning is no exception. Events carry
names, numbers and reasons, never message content or secrets.
"""

from __future__ import annotations

import structlog

from agentroute._error_translation import error_text
from agentroute._types import Attempt, Decision, Target
from agentroute.session import SessionState

__all__ = [
    "log_attempt",
    "log_cooldown",
    "log_decision",
    "log_fallback",
    "log_pin",
    "log_session_evicted",
    "log_usage_unknown",
    "logger",
    "should_log",
]

logger = structlog.get_logger("agentroute")


def should_log(mode: bool | None) -> bool:
    """Whether to emit now: forced by ``mode``, else only when structlog is configured."""
    return structlog.is_configured() if mode is None else mode


def log_decision(state: SessionState, decision: Decision) -> None:
    logger.debug(
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


def log_attempt(state: SessionState, step: int, attempt: Attempt) -> None:
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
    if attempt.outcome == "ok":
        logger.debug("route.attempt", **fields, cost_usd=attempt.cost_usd)
    else:
        logger.warning(
            "route.attempt",
            **fields,
            error_type=attempt.error_type,
            status_code=attempt.status_code,
            retry_after=attempt.retry_after,
            error=error_text(attempt.error) if attempt.error is not None else None,
        )


def log_fallback(state: SessionState, failed: Attempt, to: Target, action: str) -> None:
    logger.info(
        "route.fallback",
        session_id=state.key,
        step=state.step,
        attempt=failed.number,
        error_type=failed.error_type,
        deployment=failed.target.key,
        to_deployment=to.key,
        to_model=to.model,
        action=action,
    )


def log_cooldown(state: SessionState, target: Target, seconds: float, reason: str) -> None:
    logger.warning(
        "route.cooldown",
        session_id=state.key,
        step=state.step,
        model=target.model,
        deployment=target.key,
        cooldown_s=seconds,
        reason=reason,
    )


def log_pin(
    state: SessionState,
    kind: str,
    model: str,
    deployment: str,
    previous: str | None,
    reason: str,
) -> None:
    fields = {
        "session_id": state.key,
        "step": state.step,
        "pin": kind,
        "model": model,
        "deployment": deployment,
        "previous": previous,
    }
    if kind == "break":
        logger.info("route.affinity_break", **fields, reason=reason)
    else:
        logger.debug("route.affinity", **fields)


def log_usage_unknown(state: SessionState, kind: type, *, streamed: bool) -> None:
    hint = (
        "pass stream_options={'include_usage': True} to an OpenAI-compatible stream, or "
        "wrap(fn, usage_of=...)"
        if streamed
        else "wrap(fn, usage_of=...) reads a shape of your own"
    )
    logger.warning(
        "route.usage_unknown",
        session_id=state.key,
        step=state.step,
        response_type=f"{kind.__module__}.{kind.__qualname__}",
        streamed=streamed,
        charged="the counted input tokens (usage_estimated)",
        hint=hint,
    )


def log_session_evicted(state: SessionState, idle_s: float, limit: int) -> None:
    """A live implicit session was evicted: its step count, tier and cost are lost."""
    logger.warning(
        "route.session_evicted",
        session_id=state.key,
        step=state.step,
        idle_s=round(idle_s, 3),
        max_implicit=limit,
    )
