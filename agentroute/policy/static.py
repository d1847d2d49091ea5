"""The baseline policy: stay on the start tier; move only on hints and explicit escalation.

It is the floor every smarter policy is measured against, and the default until the scored
policy is configured: it starts on ``policy.start_tier``, climbs one tier for each escalation
request (``session.escalate()``) and keeps the tier it reached, and honours the ``min_tier``
and ``max_tier`` hints (``max_tier`` wins when the two disagree, since it is usually a
budget or plan limit).
"""

from __future__ import annotations

from agentroute._types import Cause, Decision, Signals
from agentroute.config import RouterConfig
from agentroute.errors import ConfigurationError
from agentroute.session import SessionState


class StaticPolicy:
    """Start tier, plus escalation requests and tier hints. No scoring."""

    def __init__(self, config: RouterConfig) -> None:
        self._tiers = config.tier_names
        self._index = {t: i for i, t in enumerate(self._tiers)}
        self._start = config.start_tier
        self._models = {t: tuple(m) for t, m in config.tiers.items()}

    def __call__(self, signals: Signals, state: SessionState) -> Decision:
        previous = state.tier
        if previous is None:
            level, cause = self._index[self._start], Cause.START
        else:
            level, cause = self._index.get(previous, self._index[self._start]), Cause.HOLD
        reason = ""
        if signals.escalation_requested:
            if level + 1 < len(self._tiers):
                level += 1
            cause = Cause.ESCALATION_REQUEST
            reason = state.escalation_reason or "escalation requested"
        if signals.hints:
            level, cause, reason = self._apply_hints(signals, level, cause, reason)
        tier = self._tiers[level]
        # positional: Decision(tier, previous_tier, cause, step, candidates, score,
        # contributions, signals, switch, reason) — keywords cost measurably on the hot path
        return Decision(
            tier, previous, cause, signals.step, self._models[tier], 0.0, (), signals, None, reason
        )

    def _apply_hints(
        self, signals: Signals, level: int, cause: Cause, reason: str
    ) -> tuple[int, Cause, str]:
        low = self._hint_level(signals, "min_tier")
        high = self._hint_level(signals, "max_tier")
        if low is not None and level < low:
            level, cause, reason = low, Cause.HINT, f"min_tier={self._tiers[low]}"
        if high is not None and level > high:
            level, cause, reason = high, Cause.HINT, f"max_tier={self._tiers[high]}"
        return level, cause, reason

    def _hint_level(self, signals: Signals, name: str) -> int | None:
        value = signals.hints.get(name)
        if value is None:
            return None
        try:
            return self._index[value]
        except (KeyError, TypeError):
            raise ConfigurationError(
                f"hint {name}={value!r} is not a tier (tiers: {', '.join(self._tiers)})"
            ) from None
