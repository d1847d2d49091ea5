"""BudgetMiddleware: a session's cost and step limits, checked before each call (DESIGN §3).

It sits right before routing, so a refused call makes no decision and no network call:

* **Steps**: a call beyond ``budget.max_steps`` raises
  :class:`~agentroute.errors.StepLimitExceeded` (with ``max_steps: 30``, calls 1-30 run and
  the 31st is refused).
* **Cost**: once the session's cost has reached ``budget.max_cost_usd`` (every billed attempt
  counts, also a failed or rejected one: see ``FallbackMiddleware``), the next call raises
  :class:`~agentroute.errors.BudgetExceeded`. The cost of a call is only known once it is
  made, so the call that crosses the limit completes; the limit stops the one after it.
* **Tier cap**: once ``budget.cap_tier_at_fraction`` of the budget is spent, the call carries
  the hints ``budget_max_tier`` (``budget.cap_tier``, default the start tier) and
  ``budget_reason``; the scored policy then goes no higher than that tier, with cause
  ``budget_cap`` and the spend as its reason. A custom policy sees the same hints. The cap
  also bounds the climbs made inside a call: a re-run after a rejected output check
  (``ValidationMiddleware``) and ``resilience.escalate_on_exhaustion`` (``FallbackMiddleware``)
  go no higher. A call that no model of the capped tier can hold still goes to a larger
  window (cause ``context_window``): refusing it would not save money, it would fail the run.

A refused call is not a step: the router gives its number back (as for any call that ends
before an attempt, see ``Router._step``), so the next call takes it. Limits are never checked
inside a call, so no attempt is cut short by them. A session overrides ``max_cost_usd`` /
``max_steps`` with the same keys in its metadata (``None`` lifts the limit); a bad value there
is a :class:`~agentroute.errors.ConfigurationError`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from agentroute._types import CallNext, ModelCall, ModelResult
from agentroute.config import BudgetConfig
from agentroute.errors import BudgetExceeded, ConfigurationError, StepLimitExceeded
from agentroute.policy.score import BUDGET_MAX_TIER, BUDGET_REASON
from agentroute.session import SessionState
from agentroute.telemetry.logs import logger, should_log

__all__ = ["BudgetMiddleware"]


class BudgetMiddleware:
    """Refuse a session's call past its step or cost limit; cap its tier near the cost limit.

    Args:
        budget: the config's ``budget`` section.
        start_tier: the tier capped to when ``budget.cap_tier`` is not set.
        log_events: structlog ``route.budget`` events on refusal (``None``: when structlog
            is configured).
    """

    def __init__(
        self, budget: BudgetConfig, start_tier: str, *, log_events: bool | None = None
    ) -> None:
        self._max_cost = budget.max_cost_usd
        self._max_steps = budget.max_steps
        self._fraction = budget.cap_tier_at_fraction
        self._cap_tier = budget.cap_tier or start_tier
        self._log = log_events

    async def __call__(self, call: ModelCall, call_next: CallNext) -> ModelResult:
        state = call.session
        if state is None:
            return await call_next(call)
        max_cost, max_steps = self._max_cost, self._max_steps
        meta = state.metadata
        if meta and ("max_cost_usd" in meta or "max_steps" in meta):
            max_cost, max_steps = _overrides(meta, max_cost, max_steps)
        if max_steps is not None and state.step > max_steps:
            # the refused call is not a step: the router gives its number back
            self._refuse(state, "max_steps", max_steps)
            raise StepLimitExceeded(
                f"session {state.key!r} reached its max_steps limit of {max_steps} "
                f"(${state.cost_usd:.6f} spent); the call was refused before any model call",
                session_id=state.key,
                steps=state.step - 1,
                limit=max_steps,
            )
        if max_cost is not None:
            spent = state.cost_usd
            if _reached(spent, max_cost):
                self._refuse(state, "max_cost_usd", max_cost)
                raise BudgetExceeded(
                    f"session {state.key!r} spent ${spent:.6f} of its max_cost_usd "
                    f"${max_cost:g} budget; the call was refused before any model call",
                    session_id=state.key,
                    spent_usd=spent,
                    limit_usd=max_cost,
                )
            fraction = self._fraction
            if fraction is not None and _reached(spent, fraction * max_cost):
                reason = (
                    f"spent ${spent:.6f} of the ${max_cost:g} budget "
                    f"(≥ {fraction:.0%}): capped at {self._cap_tier}"
                )
                hints = {**call.hints, BUDGET_MAX_TIER: self._cap_tier, BUDGET_REASON: reason}
                call = dataclasses.replace(call, hints=hints)
        return await call_next(call)

    def _refuse(self, state: SessionState, limit: str, value: float) -> None:
        if should_log(self._log):
            logger.warning(
                "route.budget",
                session_id=state.key,
                step=state.step,
                action="refused",
                limit=limit,
                limit_value=value,
                cost_usd=state.cost_usd,
            )


def _reached(spent: float, limit: float) -> bool:
    """``spent >= limit``, with float rounding forgiven: a sum of per-call costs drifts by a
    few ulps (ten calls of $0.10 add up to $0.9999999999999999)."""
    return spent >= limit * (1.0 - 1e-9)  # limits are positive


def _overrides(
    meta: Mapping[str, Any], max_cost: float | None, max_steps: int | None
) -> tuple[float | None, int | None]:
    """The session's own limits from its metadata (absent keys keep the config's)."""
    if "max_cost_usd" in meta:
        value = meta["max_cost_usd"]
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not value > 0
            or math.isinf(value)
        ):
            raise ConfigurationError(
                "session metadata max_cost_usd must be a positive number of USD or None"
            )
        max_cost = None if value is None else float(value)
    if "max_steps" in meta:
        value = meta["max_steps"]
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise ConfigurationError("session metadata max_steps must be an integer >= 1 or None")
        max_steps = value
    return max_cost, max_steps
