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

**Only the steps that can act** (:class:`RouterChains`). The cost reservation does nothing for
a call when neither the config nor its session's metadata sets ``max_cost_usd`` (only an
explicit session has metadata); the budget check does nothing when neither sets
``max_cost_usd`` or ``max_steps`` (it can only refuse or cap a call against a limit); the route
and attempt spans do nothing when the router's telemetry records neither spans nor metrics (no
provider configured: each step would only ask and pass the call on). So the router keeps,
around each terminal, one chain per combination: with or without the limits' steps (a session
whose metadata names ``max_cost_usd`` or ``max_steps`` takes the one with them), with or
without the telemetry steps (asked once per call,
:meth:`~agentroute.telemetry.spans.Telemetry.observing`: a global provider set while a call
runs is seen from the next call on). Fewer coroutines per call, the same outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from agentroute._catalog import Catalog
from agentroute._chain import build_chain
from agentroute._frozen import value_object
from agentroute._types import CallNext, Middleware
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

if TYPE_CHECKING:
    from agentroute.shadow.runner import ShadowRunner

__all__ = [
    "RouterChains",
    "RouterSteps",
    "kept_steps",
    "router_steps",
]


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
    shadow: ShadowRunner | None = None,
) -> RouterSteps:
    """Every step of a router's chain, in order, in its group (the arguments as for
    ``Router``; the tool-error detector resolved; ``clock`` and ``events``: the router's one
    clock and event sink, which a classifier given no clock of its own reads too;
    ``routing_log``: when given, its step recorder follows the route span; ``shadow``: when
    given, its step is the innermost, after the attempt span)."""
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
    if shadow is not None:
        from agentroute.shadow.step import ShadowStep  # (loaded only when shadow routing is on)

        attempts = (*attempts, ShadowStep(shadow))  # innermost: what it calls is the terminal
    return RouterSteps(per_call, attempts)


def kept_steps(
    config: RouterConfig, steps: RouterSteps, *, limited: bool, observed: bool
) -> tuple[Middleware, ...]:
    """The steps that can act on a call: all of them for a ``limited`` call (its session
    sets a limit) under ``observed`` telemetry; otherwise without the cost reservation when
    the config sets no cost limit, without the budget check when it sets no limit at all,
    and without the route and attempt spans when telemetry records nothing."""
    budget = config.budget
    no_cost = not limited and budget.max_cost_usd is None
    no_limit = no_cost and budget.max_steps is None
    return tuple(
        step
        for step in steps.every
        if not (
            (no_cost and isinstance(step, CostReservation))
            or (no_limit and isinstance(step, BudgetMiddleware))
            or (not observed and isinstance(step, RouteTelemetry | AttemptTelemetry))
        )
    )


class RouterChains:
    """A router's chains around one terminal, one per combination of the steps a call needs
    (module docstring): :meth:`pick` gives a call's.

    Args:
        config: the router's config (its budget limits).
        steps: the router's steps.
        terminal: the end of every chain.
        observing: whether telemetry records spans or metrics now
            (:meth:`~agentroute.telemetry.spans.Telemetry.observing`).
    """

    __slots__ = ("_chains", "_observing")

    def __init__(
        self,
        config: RouterConfig,
        steps: RouterSteps,
        terminal: CallNext,
        observing: Callable[[], bool],
    ) -> None:
        built: dict[tuple[int, ...], CallNext] = {}  # by the steps' identities (one chain each)

        def chain(limited: bool, observed: bool) -> CallNext:
            kept = kept_steps(config, steps, limited=limited, observed=observed)
            ids = tuple(map(id, kept))
            if ids not in built:
                built[ids] = build_chain(kept, terminal)
            return built[ids]

        self._chains = (
            (chain(False, False), chain(False, True)),
            (chain(True, False), chain(True, True)),
        )
        """[limited][observed]"""
        self._observing = observing

    def pick(self, metadata: Mapping[str, Any] | None) -> CallNext:
        """The chain for a call of a session with ``metadata``, telemetry as it is now."""
        limited = metadata is not None and ("max_cost_usd" in metadata or "max_steps" in metadata)
        return self._chains[limited][self._observing()]
