"""ValidationMiddleware: an optional output check; on failure the step runs one tier up.

The check is the application's ``async (result, call) -> bool | str``: ``True`` accepts the
result; ``False`` or a string (the reason) rejects it. A rejected result is re-run on the next
tier up, as a new :class:`~agentroute.Decision` with cause ``validation_failure`` recorded on
the session, at most ``policy.max_validation_retries`` times; the session's
``validation_failures`` count feeds the score of later steps. When the retries are used up (or
there is no tier above, or none up to the budget's tier cap ``budget_max_tier``), the last
result is returned as it is — the caller still gets an answer, and the session's decisions
say it failed its check. Streamed calls
(``Router.stream()``) are passed through unchecked: their answer arrives after the chain has
returned, chunk by chunk, already in the caller's hands.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from agentroute._catalog import Catalog
from agentroute._types import CallNext, Cause, Decision, ModelCall, ModelResult
from agentroute.policy.score import BUDGET_MAX_TIER
from agentroute.telemetry.logs import RouteEvents

__all__ = ["ValidationMiddleware", "Validator"]

Validator = Callable[[ModelResult, ModelCall], Awaitable[bool | str]]


class ValidationMiddleware:
    """Check each result; re-run a rejected step one tier up, a bounded number of times."""

    def __init__(
        self,
        validator: Validator,
        catalog: Catalog,
        *,
        max_retries: int,
        events: RouteEvents | None = None,
    ) -> None:
        self._validator = validator
        self._catalog = catalog
        self._max_retries = max_retries
        self._events = events or RouteEvents()

    async def __call__(self, call: ModelCall, call_next: CallNext) -> ModelResult:
        result = await call_next(call)
        if call.mode == "stream":  # the answer has not arrived yet: nothing to check
            return result
        retries = 0
        while True:
            verdict = await self._validator(result, call)
            if verdict is True:
                return result
            state = call.session
            if state is not None:
                state.count_validation_failure()
            cap = call.hints.get(BUDGET_MAX_TIER) if call.hints else None
            up = self._next_decision(call.decision, verdict, cap)
            if up is None or state is None or retries >= self._max_retries:
                return result
            retries += 1
            state.record(up)
            self._events.decision(state, up)
            call = call.with_route(up, self._catalog.targets(up.tier, up.candidates))
            result = await call_next(call)

    def _next_decision(
        self, decision: Decision | None, verdict: bool | str, cap: str | None
    ) -> Decision | None:
        """The decision one tier up that fits the call (none above the budget's ``cap``)."""
        if decision is None:
            return None
        tiers = self._catalog.tiers
        level = self._catalog.index(decision.tier)
        top = self._catalog.ceiling(cap)
        tokens = decision.signals.context_tokens if decision.signals else 0
        for up in tiers[level + 1 : top + 1]:
            fits = self._catalog.fitting(up, tokens)
            if fits:
                return Decision(
                    up,
                    decision.tier,
                    Cause.VALIDATION_FAILURE,
                    decision.step,
                    fits,
                    decision.score,
                    decision.contributions,
                    decision.signals,
                    None,
                    verdict if isinstance(verdict, str) and verdict else "output check failed",
                )
        return None
