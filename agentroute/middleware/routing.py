"""RoutingMiddleware: signals → policy → :class:`~agentroute.Decision` → candidate targets.

Pure policy: it computes the step's signals, asks the policy for a decision, records the
decision on the session, and passes the call on with ``decision`` and ``targets`` set. It never
does I/O.
"""

from __future__ import annotations

from agentroute._catalog import Catalog
from agentroute._types import CallNext, ModelCall, ModelResult, Signals
from agentroute.errors import ConfigurationError
from agentroute.policy import Policy
from agentroute.telemetry.logs import log_decision


class RoutingMiddleware:
    """Decide the tier of each call and list the deployments that may serve it."""

    def __init__(self, policy: Policy, catalog: Catalog, *, log_events: bool = True) -> None:
        self._policy = policy
        self._catalog = catalog
        self._log = log_events

    async def __call__(self, call: ModelCall, call_next: CallNext) -> ModelResult:
        state = call.session
        if state is None:
            raise ConfigurationError("RoutingMiddleware needs a call bound to a session")
        signals = Signals(
            state.step, 0, 0, 0, 0, 0.0, 0, state.escalation_reason is not None, call.hints
        )
        decision = self._policy(signals, state)
        if decision.tier not in self._catalog.config.tiers:
            raise ConfigurationError(
                f"the policy chose unknown tier {decision.tier!r} "
                f"(tiers: {', '.join(self._catalog.tiers)})"
            )
        state.escalation_reason = None
        state.record(decision)
        if self._log:
            log_decision(state, decision)
        targets = self._catalog.targets(decision.tier, decision.candidates)
        return await call_next(call.with_route(decision, targets))
