"""Where a routing log's run leaves its tier under other weights: the logged scores, re-weighed.

A routing log records, for every step, the score the policy computed and its
``contributions`` (signal → ``weight × value``, docs/routing-log.md).
:mod:`agentroute.bench.log_table` keeps them on each row (``Outcome.steps``: the decisions
that routed the row's steps to its model, then the one that left it when the session went
on). Under a candidate setting (other weights, other ``typical_steps``) the same signals
give a score that is known without re-running anything:

* each share is multiplied by ``w'/w`` (the candidate weight over the configured one, the
  one the log was written with); the ``step`` share also by ``t/t'``, the configured
  ``typical_steps`` of the row's tier's first model over the candidate's (unset: the
  policy's ``expected_steps``), the scale the policy counts that tier's steps at. The step
  share is taken as logged (the session's progress when the step was routed), not shifted
  for a replay that reached the tier earlier or later than the logged session did.
* a signal the config does not weight (``w = 0``) left no share: the policy drops zero
  contributions, so such a signal cannot be re-weighed or fitted; a share logged for it
  anyway (a log written with another config) counts 0, as the config replayed counts it.

**The escalation point of a row on tier t**: its ``j``-th logged decision routed its
``j``-th call; the row leaves t at the first ``j`` whose candidate score reaches the start of
a higher tier (``policy.thresholds``; within 1e-9, so the float sums of a replay at the
configured weights land where the policy's did), after ``j − 1`` calls on t, for the highest
tier that score reaches. Hysteresis, step-downs, escalation requests, hints and the context
window are not replayed: only the score.

**Beyond the logged decisions** (a censored run a candidate keeps longer than the logged
policy did), the rule is pessimistic and simple: the step share keeps growing at the
candidate's per-step rate on t (``w'_step × expected_steps / t'``, what the policy adds per
step there) and every other share stays as at the last logged decision. A row whose score
then never reaches the next tier (``w'_step = 0`` and too little else) never leaves t on
its own: the cascade then fails a censored run where it stopped.

Rows without logged steps (outcome tables, imputed rows) get ``None``: the cascade uses the
per-tier :class:`~agentroute.bench.ladder.Schedule` for them, exactly as without a log.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping

from agentroute._frozen import value_object
from agentroute.bench.outcomes import Outcome
from agentroute.config import RouterConfig

__all__ = ["EPSILON", "LoggedLeave", "logged_leave", "with_weights"]

EPSILON = 1e-9
"""A score within this of a tier's start reaches it (float sums in another order)."""


@value_object
class LoggedLeave:
    """The per-row escalation point of the module docstring, for one candidate setting.

    Called as ``leave(level, row)``: ``None`` for a row without logged steps; else
    ``(calls, tier)``: the calls the row makes on tier ``level`` before it leaves for tier
    index ``tier`` (``calls`` ``None``: it never leaves on its own, ``tier`` is ``level``).
    """

    bounds: tuple[float, ...]
    """Each tier's start score, cheap first (the first tier's is 0)."""
    ratios: tuple[tuple[str, float], ...]
    """Every weighted signal but ``step``: candidate weight / configured weight."""
    step_ratio: tuple[float, ...]
    """Per tier: ``(w'_step / w_step) × (t / t')``."""
    step_rate: tuple[float, ...]
    """Per tier: the candidate's step share per step, ``w'_step × expected_steps / t'``."""

    def __call__(self, level: int, row: Outcome) -> tuple[int | None, int] | None:
        if not row.steps:
            return None
        if level >= len(self.bounds) - 1:
            return None, level
        need = self.bounds[level + 1] - EPSILON
        ratios = dict(self.ratios)
        scale = self.step_ratio[level]
        step = other = 0.0
        for j, shares in enumerate(row.steps, start=1):
            step = other = 0.0
            for name, share in shares:
                if name == "step":
                    step = share * scale
                else:
                    other += share * ratios.get(name, 0.0)
            if step + other >= need:
                return j - 1, self._reached(level, step + other)
        rate = self.step_rate[level]
        if rate <= 0:
            return None, level
        more = max(1, math.ceil((need - step - other) / rate))
        while step + other + more * rate < need:  # float rounding of the division
            more += 1
        return len(row.steps) + more - 1, self._reached(level, step + other + more * rate)

    def _reached(self, level: int, score: float) -> int:
        return max(level + 1, bisect.bisect_right(self.bounds, score + EPSILON) - 1)


def _typical(config: RouterConfig, tier: str) -> int:
    first = config.tiers[tier][0]
    return config.models[first].typical_steps or config.policy.expected_steps


def logged_leave(config: RouterConfig, candidate: RouterConfig) -> LoggedLeave:
    """The escalation points of ``candidate`` (a copy of ``config`` with other weights and
    ``typical_steps``) over rows logged by a router running ``config``."""
    weights, trial = config.policy.weights, candidate.policy.weights
    ratios = tuple(
        (name, trial.get(name, 0.0) / w) for name, w in weights.items() if w and name != "step"
    )
    w_step, c_step = weights.get("step", 0.0), trial.get("step", 0.0)
    reference = candidate.policy.expected_steps
    step_ratio, step_rate = [], []
    for tier in config.tier_names:
        t, t2 = _typical(config, tier), _typical(candidate, tier)
        step_ratio.append(c_step / w_step * t / t2 if w_step else 0.0)
        step_rate.append(c_step * reference / t2)
    thresholds = candidate.thresholds
    bounds = (0.0, *(thresholds[t] for t in candidate.tier_names[1:]))
    return LoggedLeave(bounds, ratios, tuple(step_ratio), tuple(step_rate))


def with_weights(config: RouterConfig, weights: Mapping[str, float]) -> RouterConfig:
    """``config`` with ``policy.weights.<signal>`` set as given (the other weights kept)."""
    merged: dict[str, float] = {**config.policy.weights, **weights}
    policy = config.policy.model_copy(update={"weights": merged})
    return config.model_copy(update={"policy": policy})
