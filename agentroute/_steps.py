"""The router's steps, built from a config and put in their fixed order.

(route span) → (routing log's step recorder) → budget → routing → cost reservation → the user's
middlewares → (validation) → affinity → fallback → (attempt span). The order is the design: the
route span sees the whole call, the budget refuses before a decision is made, the call's
expected cost is reserved against the budget once its model is chosen, the user's middlewares
see the decision and wrap every attempt, validation re-runs a step through affinity and
fallback, and the attempt span sits after the fallback step so it sees each attempt.
:class:`~agentroute.Router` adds the terminal. The steps come in two named groups
(:class:`RouterSteps`): those run once per call (``call``) and those that run the attempts
(``attempts``: fallback → attempt span), which a broken stream's restart runs alone.

**Without the reservation.** When the config sets no ``budget.max_cost_usd``, the cost
reservation does nothing for a call unless its session's metadata sets a limit (only an
explicit session has metadata). So the router also builds its chains without that step
(:func:`without_reservation`) and sends down them every call whose session's metadata has no
``max_cost_usd`` key: two coroutines less per call, the same outcome.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agentroute._catalog import Catalog
from agentroute._frozen import value_object
from agentroute._types import Middleware
from agentroute.clock import Clock
from agentroute.config import RouterConfig
from agentroute.middleware import FallbackMiddleware, RoutingMiddleware
from agentroute.middleware.affinity import AffinityMiddleware
from agentroute.middleware.budget import BudgetMiddleware, CostReservation
from agentroute.middleware.validation import ValidationMiddleware, Validator
from agentroute.policy import Policy
from agentroute.policy.classifier import HybridClassifier
from agentroute.policy.content import ContentRules
from agentroute.policy.score import ScorePolicy
from agentroute.policy.signals import SignalConfig, SignalExtractor
from agentroute.policy.tokens import make_counter
from agentroute.policy.tool_errors import ToolErrorDetector
from agentroute.state import StateStore
from agentroute.telemetry.attempt_spans import AttemptTelemetry
from agentroute.telemetry.logs import RouteEvents
from agentroute.telemetry.routing_log import RoutingLog, RoutingLogStep
from agentroute.telemetry.spans import RouteTelemetry, Telemetry

__all__ = ["RouterSteps", "router_steps", "set_a_cost_limit", "without_reservation"]


@value_object
class RouterSteps:
    """A router's steps, in order, in their two groups."""

    call: tuple[Middleware, ...]
    """Run once per call: route span, budget, routing, cost reservation, the user's
    middlewares, validation, affinity."""
    attempts: tuple[Middleware, ...]
    """Run the call's attempts: the fallback step and the attempt span after it (a broken
    stream's restart runs only these, its decision made)."""

    @property
    def every(self) -> tuple[Middleware, ...]:
        """All the steps, outermost first."""
        return (*self.call, *self.attempts)


def router_steps(
    config: RouterConfig,
    catalog: Catalog,
    telemetry: Telemetry,
    store: StateStore,
    *,
    clock: Clock,
    events: RouteEvents,
    policy: Policy | None,
    tool_error_detector: ToolErrorDetector,
    classifier: HybridClassifier | None,
    validator: Validator | None,
    middleware: Sequence[Middleware],
    routing_log: RoutingLog | None = None,
) -> RouterSteps:
    """Every step of a router's chain, in order, in its group (the arguments as for
    ``Router``; the tool-error detector resolved; ``clock`` and ``events``: the router's one
    clock and event sink, which a classifier given no clock of its own reads too;
    ``routing_log``: when given, its step recorder follows the route span)."""
    if classifier is not None:
        classifier.adopt_clock(clock)
    p = config.policy
    extractor = SignalExtractor(
        make_counter(p.token_counter),
        SignalConfig(
            recent_window=p.recent_window,
            repeat_window=p.repeat_window,
            escalate_tool=p.escalate_tool,
            escalation_keywords=tuple(p.escalation_keywords),
        ),
        tool_error_detector,
    )
    validation: list[Middleware] = (
        [
            ValidationMiddleware(
                validator, catalog, max_retries=p.max_validation_retries, events=events
            )
        ]
        if validator is not None
        else []
    )
    per_call: tuple[Middleware, ...] = (
        RouteTelemetry(telemetry),
        *([RoutingLogStep(routing_log)] if routing_log is not None else []),
        BudgetMiddleware(config.budget, config.start_tier, events=events),
        RoutingMiddleware(
            policy or ScorePolicy(config),
            catalog,
            extractor,
            content=classifier or (ContentRules() if p.content_rules else None),
            events=events,
        ),
        CostReservation(config.budget, catalog, extractor),
        *middleware,
        *validation,
        AffinityMiddleware(catalog, config.affinity, store, clock=clock, events=events),
    )
    attempts: tuple[Middleware, ...] = (
        FallbackMiddleware(catalog, config.resilience, store=store, clock=clock, events=events),
        AttemptTelemetry(telemetry),  # after the fallback step: once per attempt
    )
    return RouterSteps(per_call, attempts)


def without_reservation(config: RouterConfig, steps: RouterSteps) -> tuple[Middleware, ...] | None:
    """Every step but the cost reservation (a per-call step), for the calls of sessions that
    do not :func:`set_a_cost_limit`; ``None`` when every call needs it (the config sets a cost
    limit)."""
    if config.budget.max_cost_usd is not None:
        return None
    kept = tuple(step for step in steps.call if not isinstance(step, CostReservation))
    return (*kept, *steps.attempts)


def set_a_cost_limit(metadata: Mapping[str, Any] | None) -> bool:
    """Whether a session's metadata sets its own ``max_cost_usd`` (``None`` included: it lifts
    the config's), so its calls take the chain with the cost reservation even when
    :func:`without_reservation` left it out of the default one."""
    return metadata is not None and "max_cost_usd" in metadata
