"""RoutingMiddleware: signals → policy → :class:`~agentroute.Decision` → candidate targets.

Pure policy, no I/O: it brings the session's incremental scan of the conversation up to date,
computes the step's :class:`~agentroute.Signals`, asks the policy for a decision, records the
decision on the session, and passes the call on with ``decision`` and ``targets`` set. Any
policy is treated alike: what a policy remembers of a session between its decisions (the
scored policy's calm steps) it keeps itself. Asking the policy and recording its decision
happen with no await between them, so with concurrent calls on one session each decision is
made against the one recorded before it.
"""

from __future__ import annotations

from agentroute._catalog import Catalog
from agentroute._types import CallNext, ModelCall, ModelResult
from agentroute.errors import ConfigurationError
from agentroute.messages import system_of
from agentroute.policy import Policy
from agentroute.policy.classifier import HybridClassifier
from agentroute.policy.content import ContentRules
from agentroute.policy.signals import SignalExtractor
from agentroute.telemetry.logs import RouteEvents

__all__ = ["RoutingMiddleware"]


class RoutingMiddleware:
    """Decide the tier of each call and list the deployments that may serve it."""

    def __init__(
        self,
        policy: Policy,
        catalog: Catalog,
        extractor: SignalExtractor,
        *,
        content: ContentRules | HybridClassifier | None = None,
        events: RouteEvents | None = None,
    ) -> None:
        self._policy = policy
        self._catalog = catalog
        self._extractor = extractor
        self._content = content
        self._events = events or RouteEvents()
        # context_fraction is measured against one fixed window (the start tier's smallest), so
        # the score does not change with the tier it picks: a tier-relative share made the
        # score flap between tiers as the window changed under it.
        self._reference_window = catalog.smallest_window(catalog.config.start_tier)
        self._escalate_tool = catalog.config.policy.escalate_tool
        self._tiers = catalog.config.tiers

    async def __call__(self, call: ModelCall, call_next: CallNext) -> ModelResult:
        state = call.session
        if state is None:
            raise ConfigurationError("RoutingMiddleware needs a call bound to a session")
        extractor = self._extractor
        scan = extractor.scan_session(state, call.messages)
        content = 0.0
        if call.step == 1:
            if isinstance(self._content, ContentRules):
                content = self._content.score(call.messages)
            elif self._content is not None:
                content = await self._content.score(call.messages)
        tools, params = call.tools, call.params
        system = system_of(params) if params else None
        signals = extractor.signals(
            scan,
            step=call.step,
            # (None counts 0: asked here, it costs no call on a path every routed call takes)
            tools_tokens=0 if tools is None else extractor.tools_tokens(tools),
            extra_tokens=0 if system is None else extractor.system_tokens(system),
            reference_window=self._reference_window,
            validation_failures=state.validation_failures,
            app_escalation=state.escalation_reason is not None,
            hints=call.hints,
            content=content,
        )
        if signals.escalation_requested and state.escalation_reason is None:
            if scan.fresh_escalate:
                why = f": {scan.escalate_reason}" if scan.escalate_reason else ""
                state.request_escalation(f"the model called {self._escalate_tool}{why}")
            else:
                state.request_escalation("escalation keyword in the user's message")
        decision = self._policy(signals, state)
        if state.escalation_reason is not None:
            state.take_escalation()  # this call's decision has used it
        if decision.tier not in self._tiers:
            raise ConfigurationError(
                f"the policy chose unknown tier {decision.tier!r} "
                f"(tiers: {', '.join(self._catalog.tiers)})"
            )
        state.record(decision)
        self._events.decision(state, decision)
        targets = self._catalog.targets(decision.tier, decision.candidates)
        return await call_next(call.with_route(decision, targets))
