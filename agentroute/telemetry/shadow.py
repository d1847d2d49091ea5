"""What a shadow sample leaves behind: its ``agentroute.shadow`` span, metrics, event and
routing-log record (:mod:`agentroute.shadow.runner` decides and runs; this module records).

A :class:`ShadowSample` is the finished sample as one frozen value. Its ``reason`` names tools
and argument keys only (the comparator's rule), so it may go onto a span and into the log.
"""

from __future__ import annotations

import math
from typing import Any

from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode

from agentroute._frozen import value_object
from agentroute.session import SessionState
from agentroute.telemetry import attributes as A
from agentroute.telemetry.routing_log import RoutingLog
from agentroute.telemetry.routing_log_schema import clip_reason
from agentroute.telemetry.spans import Telemetry

__all__ = ["ShadowSample", "record_shadow", "start_shadow_span"]


@value_object
class ShadowSample:
    """One sample as it ended (``result``: ``compared``, ``failed``, ``cancelled``,
    ``dropped_concurrency`` or ``dropped_budget``)."""

    session: SessionState | None
    step: int
    served_tier: str
    served_model: str | None
    served_cost_usd: float
    cause: str
    reference_tier: str
    result: str
    reference_model: str | None = None
    agreement: float | None = None
    reason: str = ""
    judge: bool = False
    cost_usd: float = 0.0
    error_type: str | None = None
    error: str = ""


def start_shadow_span(t: Telemetry, link: Any) -> Span | None:
    """A root ``agentroute.shadow`` span linked to ``link`` (the step's route span's context),
    or ``None`` when spans are not recorded."""
    if not t.tracing():
        return None
    links = [Link(link)] if link is not None else None
    return t.tracer.start_span(A.SHADOW_SPAN, kind=SpanKind.INTERNAL, links=links)


def record_shadow(
    t: Telemetry, log: RoutingLog | None, sample: ShadowSample, span: Span | None = None
) -> None:
    """Finish ``span`` with the sample's attributes, and record its metrics, its
    ``route.shadow`` event and (when compared or failed) its routing-log record."""
    state = sample.session
    key = state.key if state is not None else ""
    reason = clip_reason(sample.reason or sample.error_type or sample.result)
    cost = sample.cost_usd if math.isfinite(sample.cost_usd) else 0.0
    if span is not None:
        if span.is_recording():
            span.set_attributes(_attributes(sample, key, reason, cost))
            if sample.error_type is not None:
                span.set_status(Status(StatusCode.ERROR, clip_reason(sample.error)))
                span.set_attribute(A.ERROR_TYPE, sample.error_type)
        span.end()
    if t.measuring():
        t.metrics.shadow(
            sample.served_tier,
            sample.cause,
            sample.reference_tier,
            sample.result,
            sample.agreement,
            cost,
        )
    t.events.shadow(
        key,
        sample.step,
        sample.served_tier,
        sample.reference_tier,
        sample.result,
        sample.agreement,
        reason,
        cost,
    )
    if log is None or state is None or sample.result not in ("compared", "failed"):
        return
    log.shadow(
        state,
        sample.step,
        {
            "served_tier": sample.served_tier,
            "served_model": sample.served_model,
            "cause": sample.cause,
            "reference_tier": sample.reference_tier,
            "reference_model": sample.reference_model,
            "agreement": sample.agreement,
            "reason": reason,
            "judge": sample.judge,
            "cost_usd": cost,
            "error_type": sample.error_type,
        },
    )


def _attributes(sample: ShadowSample, key: str, reason: str, cost: float) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        A.SHADOW_SERVED_TIER: sample.served_tier,
        A.SHADOW_REFERENCE_TIER: sample.reference_tier,
        A.DECISION_CAUSE: sample.cause,
        A.SHADOW_RESULT: sample.result,
        A.SHADOW_JUDGE: sample.judge,
        A.SHADOW_COST_USD: cost,
        A.SHADOW_SERVED_COST_USD: sample.served_cost_usd,
        A.SESSION_STEP: sample.step,
        A.SHADOW_REASON: reason,
    }
    if sample.served_model is not None:
        attrs[A.SHADOW_SERVED_MODEL] = sample.served_model
    if sample.reference_model is not None:
        attrs[A.SHADOW_REFERENCE_MODEL] = sample.reference_model
    if sample.agreement is not None:
        attrs[A.SHADOW_AGREEMENT] = sample.agreement
    if key:
        attrs[A.GEN_AI_CONVERSATION_ID] = key
    return attrs
