"""OpenTelemetry metrics of the router: the two GenAI client histograms per
attempt, and the router's own counters (decisions, escalations, fallbacks, affinity, cost,
implicit sessions evicted while live, and the shared state store's failures, skipped
operations and breaker transitions).

Attributes are low-cardinality only (:data:`~agentroute.telemetry.attributes.METRIC_ATTRIBUTES`:
tier, cause, model, provider, outcome, error type): never a session id.
"""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry import metrics
from opentelemetry.metrics import MeterProvider

from agentroute._types import Decision, Target, Usage
from agentroute._version import __version__
from agentroute.telemetry import attributes as A

__all__ = ["RouterMetrics"]

_Attrs = Mapping[str, str]


def target_attributes(target: Target) -> dict[str, str]:
    """The GenAI metric attributes of one deployment."""
    return {
        A.GEN_AI_OPERATION_NAME: A.CHAT_OPERATION,
        A.GEN_AI_PROVIDER_NAME: A.PROVIDER_NAMES.get(target.provider_kind, target.provider_kind),
        A.GEN_AI_REQUEST_MODEL: target.deployment,
        A.MODEL: target.model,
    }


class RouterMetrics:
    """The router's instruments, made once from a meter provider (default: the global one)."""

    def __init__(self, meter_provider: MeterProvider | None, tiers: tuple[str, ...]) -> None:
        meter = metrics.get_meter("agentroute", __version__, meter_provider=meter_provider)
        self._rank = {t: i for i, t in enumerate(tiers)}
        self.tokens = meter.create_histogram(
            A.METRIC_TOKEN_USAGE,
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=A.TOKEN_USAGE_BUCKETS,
        )
        self.duration = meter.create_histogram(
            A.METRIC_OPERATION_DURATION,
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=A.DURATION_BUCKETS,
        )
        self.decisions = meter.create_counter(
            A.METRIC_DECISIONS, unit="{decision}", description="Routing decisions."
        )
        self.escalations = meter.create_counter(
            A.METRIC_ESCALATIONS, unit="{decision}", description="Decisions to a higher tier."
        )
        self.fallbacks = meter.create_counter(
            A.METRIC_FALLBACKS, unit="{attempt}", description="Attempts after a call's first."
        )
        self.affinity_hits = meter.create_counter(
            A.METRIC_AFFINITY_HITS, unit="{call}", description="Calls served by their pin."
        )
        self.affinity_breaks = meter.create_counter(
            A.METRIC_AFFINITY_BREAKS, unit="{call}", description="Pins broken by a call."
        )
        self.cost = meter.create_counter(
            A.METRIC_COST, unit="USD", description="Estimated cost of the attempts."
        )
        self.sessions_evicted = meter.create_counter(
            A.METRIC_SESSIONS_EVICTED,
            unit="{session}",
            description="Implicit sessions evicted before their idle TTL (sessions.max_implicit).",
        )
        self.session_outcomes = meter.create_counter(
            A.METRIC_SESSION_OUTCOMES,
            unit="{outcome}",
            description="Outcomes recorded for sessions, by start and highest tier reached.",
        )
        self.state_errors = meter.create_counter(
            A.METRIC_STATE_ERRORS,
            unit="{operation}",
            description="State store operations that failed or timed out (answered as empty).",
        )
        self.state_skipped = meter.create_counter(
            A.METRIC_STATE_SKIPPED,
            unit="{operation}",
            description="State store operations skipped while its circuit breaker was open.",
        )
        self.state_breaker = meter.create_counter(
            A.METRIC_STATE_BREAKER,
            unit="{transition}",
            description="Transitions of the state store's circuit breaker.",
        )

        self.shadow_agreement = meter.create_histogram(
            A.METRIC_SHADOW_AGREEMENT,
            unit="1",
            description="Agreement of the reference tier's answer with the served one, per "
            "shadowed step, by served tier and cause.",
            explicit_bucket_boundaries_advisory=A.AGREEMENT_BUCKETS,
        )
        self.shadow_samples = meter.create_counter(
            A.METRIC_SHADOW_SAMPLES,
            unit="{sample}",
            description="Shadow samples by what became of them (compared, failed, cancelled, "
            "dropped_concurrency, dropped_budget).",
        )
        self.shadow_cost = meter.create_counter(
            A.METRIC_SHADOW_COST,
            unit="USD",
            description="Cost of the shadow calls (never in a session's cost).",
        )

    def attempt(
        self,
        target: Target,
        number: int,
        duration_s: float,
        usage: Usage | None,
        cost_usd: float,
        error_type: str | None,
    ) -> None:
        """Record one attempt (its duration, tokens, cost; a fallback if not the first)."""
        attrs = target_attributes(target)
        if error_type is not None:
            attrs[A.ERROR_TYPE] = error_type
        self.duration.record(duration_s, attrs)
        if number > 1:
            self.fallbacks.add(1, attrs)
        if usage is not None:
            self.tokens.record(usage.input_tokens, {**attrs, A.GEN_AI_TOKEN_TYPE: "input"})
            self.tokens.record(usage.output_tokens, {**attrs, A.GEN_AI_TOKEN_TYPE: "output"})
        if cost_usd:
            self.cost.add(cost_usd, attrs)

    def decision(self, decision: Decision) -> None:
        """Record a routing decision (and an escalation when it climbed tiers)."""
        attrs: _Attrs = {A.DECISION_TIER: decision.tier, A.DECISION_CAUSE: str(decision.cause)}
        self.decisions.add(1, attrs)
        previous = decision.previous_tier
        if previous is not None and self._rank.get(decision.tier, 0) > self._rank.get(previous, 0):
            self.escalations.add(1, attrs)

    def session_evicted(self) -> None:
        """Record a live implicit session pushed out by the table's bound (its state is lost)."""
        self.sessions_evicted.add(1)

    def outcome(
        self, start_tier: str | None, highest_tier: str | None, success: bool | None, known: bool
    ) -> None:
        """Record one outcome of a session (tiers ``unknown`` when the session is not known)."""
        self.session_outcomes.add(
            1,
            {
                A.SESSION_START_TIER: start_tier or "unknown",
                A.SESSION_HIGHEST_TIER: highest_tier or "unknown",
                A.OUTCOME_SUCCESS: "unknown" if success is None else str(success).lower(),
                A.OUTCOME_SESSION_KNOWN: known,
            },
        )

    def pin(self, kind: str, model: str) -> None:
        """Record an affinity hit or break (a new pin is neither)."""
        if kind == "hit":
            self.affinity_hits.add(1, {A.MODEL: model})
        elif kind == "break":
            self.affinity_breaks.add(1, {A.MODEL: model})

    def store_error(self, operation: str, error_type: str) -> None:
        """Record a state store operation that failed (``error_type``: the exception's class
        name, or ``timeout``)."""
        self.state_errors.add(1, {A.STATE_OPERATION: operation, A.ERROR_TYPE: error_type})

    def store_skipped(self, operation: str) -> None:
        """Record a state store operation skipped because the breaker is open."""
        self.state_skipped.add(1, {A.STATE_OPERATION: operation})

    def store_breaker(self, state: str) -> None:
        """Record the state store's circuit breaker moving to ``state``."""
        self.state_breaker.add(1, {A.STATE_BREAKER: state})

    def shadow(
        self,
        served_tier: str,
        cause: str,
        reference_tier: str,
        result: str,
        agreement: float | None,
        cost_usd: float,
    ) -> None:
        """Record what became of one shadow sample (its agreement when compared, its cost)."""
        attrs: _Attrs = {
            A.SHADOW_SERVED_TIER: served_tier,
            A.DECISION_CAUSE: cause,
            A.SHADOW_REFERENCE_TIER: reference_tier,
        }
        self.shadow_samples.add(1, {**attrs, A.SHADOW_RESULT: result})
        if agreement is not None:
            self.shadow_agreement.record(agreement, attrs)
        if cost_usd:
            self.shadow_cost.add(cost_usd, attrs)
