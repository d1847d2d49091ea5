"""The ``budget`` section: a session's cost and step limits, and the tier cap near the limit."""

from __future__ import annotations

from pydantic import Field

from agentroute.config._fields import Integer, Number, Positive, _Strict

__all__ = ["BudgetConfig"]


class BudgetConfig(_Strict):
    """Per-session limits (:mod:`agentroute.middleware.budget`), checked before each call.

    * ``max_cost_usd``: once a session has spent this much (every billed attempt counted),
      its next call raises :class:`~agentroute.errors.BudgetExceeded`. A call in flight holds
      its expected cost against it (input tokens plus ``policy.output_tokens_guess``, at the
      chosen model's price), so concurrent calls overshoot it only by what the calls already
      in flight cost beyond their reservations (:mod:`agentroute.middleware.budget`).
    * ``max_steps``: a session's call beyond this many raises
      :class:`~agentroute.errors.StepLimitExceeded`.
    * ``cap_tier_at_fraction``: once this share of ``max_cost_usd`` is spent, calls go no
      higher than ``cap_tier`` (default: the start tier); the decision's cause is
      ``budget_cap``. ``null``: never cap.

    A session overrides ``max_cost_usd`` / ``max_steps`` with the same keys in its metadata
    (``router.session(metadata={"max_cost_usd": 0.5})``; ``null`` there lifts the limit).
    """

    max_cost_usd: Positive | None = None
    max_steps: Integer | None = Field(default=None, ge=1)
    cap_tier_at_fraction: Number | None = Field(default=0.8, gt=0, le=1)
    cap_tier: str | None = None
