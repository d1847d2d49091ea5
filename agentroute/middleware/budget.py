"""BudgetMiddleware: a session's cost and step limits, checked before each call.

It sits right before routing, so a refused call makes no decision and no network call:

* **Steps**: a call beyond ``budget.max_steps`` raises
  :class:`~agentroute.errors.StepLimitExceeded` (with ``max_steps: 30``, calls 1-30 run and
  the 31st is refused).
* **Cost**: once the session's cost has reached ``budget.max_cost_usd`` (every billed attempt
  counts, also a failed or rejected one: see ``FallbackMiddleware``), the next call raises
  :class:`~agentroute.errors.BudgetExceeded`. The cost of a call is only known once it is
  made, so the call that crosses the limit completes; the limit stops the one after it.
* **Reservations** (:class:`CostReservation`, right after routing): calls of one session may
  run concurrently, and none of them has a cost until it ends, so each call holds its expected
  cost against the budget from the moment its model is chosen until it ends: its input tokens
  as counted for routing plus ``policy.output_tokens_guess`` output tokens, at the chosen
  model's full input and output prices (no cache discount). The real cost replaces the
  reservation when the call ends (a failed or cancelled call just releases it; a stream holds
  it until the stream ends). A call is refused once spent plus reserved has reached the limit,
  so only calls already in flight when it is reached overshoot it, each by what it costs
  beyond its reservation: a burst of N concurrent calls costing about their reservation ``r``
  each runs ``ceil(max_cost_usd / r)`` of them (the last one admitted completes, as above),
  not all N. For calls made one after another reservations change nothing.
* **Tier cap**: once ``budget.cap_tier_at_fraction`` of the budget is spent (or reserved),
  the call carries the hints ``budget_max_tier`` (``budget.cap_tier``, default the start tier)
  and ``budget_reason``; the scored policy then goes no higher than that tier, with cause
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
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from agentroute._catalog import Catalog
from agentroute._types import CallNext, ModelCall, ModelResult, StreamChunk, Usage
from agentroute.config import BudgetConfig
from agentroute.errors import BudgetExceeded, ConfigurationError, StepLimitExceeded
from agentroute.policy.score import BUDGET_MAX_TIER, BUDGET_REASON
from agentroute.policy.signals import SignalExtractor
from agentroute.pricing import cost_usd
from agentroute.session import SessionState
from agentroute.telemetry.logs import RouteEvents

__all__ = ["BudgetMiddleware", "CostReservation"]


class BudgetMiddleware:
    """Refuse a session's call past its step or cost limit; cap its tier near the cost limit.

    Args:
        budget: the config's ``budget`` section.
        start_tier: the tier capped to when ``budget.cap_tier`` is not set.
        events: the router's event sink (``route.budget`` on refusal; default: one following
            ``log_events: null``).
    """

    def __init__(
        self, budget: BudgetConfig, start_tier: str, *, events: RouteEvents | None = None
    ) -> None:
        self._max_cost = budget.max_cost_usd
        self._max_steps = budget.max_steps
        self._fraction = budget.cap_tier_at_fraction
        self._cap_tier = budget.cap_tier or start_tier
        self._events = events or RouteEvents()

    async def __call__(self, call: ModelCall, call_next: CallNext) -> ModelResult:
        state = call.session
        if state is None:
            return await call_next(call)
        max_cost, max_steps = self._max_cost, self._max_steps
        meta = state.metadata
        if meta and ("max_cost_usd" in meta or "max_steps" in meta):
            max_cost, max_steps = _overrides(meta, max_cost, max_steps)
        if max_steps is not None and call.step > max_steps:
            # the refused call is not a step: the router gives its number back
            self._refuse(state, call.step, "max_steps", max_steps)
            raise StepLimitExceeded(
                f"session {state.key!r} reached its max_steps limit of {max_steps} "
                f"(${state.cost_usd:.6f} spent); the call was refused before any model call",
                session_id=state.key,
                steps=call.step - 1,
                limit=max_steps,
            )
        if max_cost is not None:
            spent = state.cost_usd
            held = state.reserved_usd
            if _reached(spent + held, max_cost):
                self._refuse(state, call.step, "max_cost_usd", max_cost)
                reserved = f" (and ${held:.6f} reserved by calls in flight)" if held else ""
                raise BudgetExceeded(
                    f"session {state.key!r} spent ${spent:.6f}{reserved} of its max_cost_usd "
                    f"${max_cost:g} budget; the call was refused before any model call",
                    session_id=state.key,
                    spent_usd=spent,
                    limit_usd=max_cost,
                )
            fraction = self._fraction
            if fraction is not None and _reached(spent + held, fraction * max_cost):
                reserved = f" (and ${held:.6f} reserved)" if held else ""
                reason = (
                    f"spent ${spent:.6f}{reserved} of the ${max_cost:g} budget "
                    f"(≥ {fraction:.0%}): capped at {self._cap_tier}"
                )
                hints = {**call.hints, BUDGET_MAX_TIER: self._cap_tier, BUDGET_REASON: reason}
                call = dataclasses.replace(call, hints=hints)
        return await call_next(call)

    def _refuse(self, state: SessionState, step: int, limit: str, value: float) -> None:
        self._events.budget_refused(state, step, limit, value)


class CostReservation:
    """Hold each call's expected cost against its session's cost budget while it runs.

    Runs right after routing (the model is chosen), before the user's middlewares and the
    attempts: between the budget check and the reservation nothing waits but the session's
    first call when a first-turn classifier is configured, so a call admitted by the check
    holds its reservation before the next call of the session is checked (see the module
    docstring for the estimate and the bound it gives).

    Args:
        budget: the config's ``budget`` section (a session's metadata may set a limit too).
        catalog: the router's catalog (the models' prices, ``policy.output_tokens_guess``).
        extractor: the routing step's signal extractor (the scanned messages' tokens, for a
            custom policy's decision without signals).
    """

    def __init__(
        self, budget: BudgetConfig, catalog: Catalog, extractor: SignalExtractor | None = None
    ) -> None:
        self._extractor = extractor
        self._max_cost = budget.max_cost_usd
        self._prices = catalog.prices
        self._output_guess = catalog.config.policy.output_tokens_guess

    async def __call__(self, call: ModelCall, call_next: CallNext) -> ModelResult:
        state = call.session
        if state is None or not call.targets:
            return await call_next(call)
        meta = state.metadata  # whether the session has a cost limit (inline: every call asks)
        if (meta["max_cost_usd"] if meta and "max_cost_usd" in meta else self._max_cost) is None:
            return await call_next(call)
        amount = self._expected(call, state)
        state.reserve(amount)
        try:
            result = await call_next(call)
        except BaseException:
            state.release(amount)
            raise
        if result.stream is None:
            state.release(amount)
            return result
        # a stream's cost is known when it ends: hold the reservation until then
        held = _HeldStream(result.stream, lambda: state.release(amount))
        return dataclasses.replace(result, stream=held)

    def _expected(self, call: ModelCall, state: SessionState) -> float:
        """The call's input tokens as counted for routing, and the output guess, at the first
        candidate's full prices."""
        signals = call.decision.signals if call.decision is not None else None
        if signals is not None:
            tokens = signals.context_tokens
        else:  # a custom policy's decision without signals: the scanned messages
            extractor = self._extractor
            tokens = extractor.scanned_tokens(state) if extractor is not None else 0
        price = self._prices[call.targets[0].model]
        return cost_usd(Usage(tokens, self._output_guess), price)


class _HeldStream:
    """A call's open stream that releases the call's reservation, once, when the stream ends:
    read to its end, broken, or closed early."""

    def __init__(self, source: AsyncIterator[StreamChunk], release: Callable[[], None]) -> None:
        self._source = source
        self._release: Callable[[], None] | None = release

    def __aiter__(self) -> _HeldStream:
        return self

    async def __anext__(self) -> StreamChunk:
        try:
            return await self._source.__anext__()
        except BaseException:
            self._done()
            raise

    async def aclose(self) -> None:
        try:
            close = getattr(self._source, "aclose", None)
            if close is not None:
                await close()
        finally:
            self._done()

    def _done(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release()


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
