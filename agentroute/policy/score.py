"""The default policy: one explainable additive score, hysteresis, switch cost.

Each weighted signal contributes ``weight × value`` (the decision lists every non-zero
contribution; they sum to the score); the score picks the highest tier whose threshold it
reaches, never below ``policy.start_tier``. The ``step`` signal is the session's progress on
its models' own scales when any model sets ``typical_steps`` (each step on a model counts
``policy.expected_steps / typical_steps``: :class:`~agentroute.policy.signals.StepProgress`),
else ``Signals.step`` as is. Then, in this order:

1. **Escalation request** (``session.escalate()``, the model calling the ``escalate`` tool, a
   keyword): one tier above the higher of the current tier and the score's tier.
2. **Climb at once** when the score's tier is above the current one.
3. **Step down only when it pays**: after ``dwell_steps`` consecutive calm steps (score below
   the current tier's threshold minus ``margin``; the ``dwell_steps``-th such step may step
   down), and only if the expected saving over the remaining steps (``expected_steps − step``,
   at least 1) exceeds the cache loss of leaving the current model: re-reading the cached
   prefix at the lower model's full input price plus its cache-write premium. The lowest tier
   between the score's tier and the current one that pays (and can hold the call) is chosen;
   its figures are recorded on the decision (``switch``). Otherwise the tier is held (cause
   ``hysteresis_hold``).
4. **Hints**: ``min_tier`` / ``task_type`` raise the floor, ``max_tier`` / ``plan`` cap it (a
   cap wins over a floor: it is usually a budget or plan limit). Last, ``budget_max_tier``
   (set by :mod:`agentroute.middleware.budget` once a session has spent most of its budget)
   caps it with cause ``budget_cap`` and the hint ``budget_reason`` as the reason.
5. **Context window**: a model whose window (less ``context_margin``) cannot hold the call is
   never a candidate; if the chosen tier has none, the lowest tier above it with a model that
   fits is used (else the nearest below), cause ``context_window``; if no model fits at all,
   :class:`~agentroute.errors.ContextWindowExceeded` is raised before any network call.

The policy reads the signals and the session state and returns a decision; the routing
middleware records it on the session. The calm-step count the dwell needs is the policy's own
memory of each session (keyed by the session, dropped with it:
:class:`~agentroute.policy.session_memory.SessionMemory`), not the ledger's; see
:meth:`ScorePolicy.calm_steps` for how it follows the decisions recorded on the session, which
keeps the policy a function of its inputs (the same signals on the same state give the same
decision, however often it is asked).
"""

from __future__ import annotations

import bisect
import math
import operator
from collections.abc import Callable
from typing import Any, TypeAlias

from agentroute._catalog import Catalog
from agentroute._json_text import safe_repr
from agentroute._types import Cause, Decision, Signals, SwitchCost
from agentroute.config import Price, RouterConfig
from agentroute.errors import ConfigurationError, ContextWindowExceeded
from agentroute.policy.session_memory import SessionMemory
from agentroute.policy.signals import StepProgress
from agentroute.session import SessionState

__all__ = ["BUDGET_MAX_TIER", "BUDGET_REASON", "ScorePolicy", "calm_after"]

BUDGET_MAX_TIER = "budget_max_tier"
"""Hint: the highest tier the session's budget allows now (cause ``budget_cap``)."""
BUDGET_REASON = "budget_reason"
"""Hint: why the budget caps the tier (the spend), recorded as the decision's reason."""

_NONE = object()
"""No decision: what an entry made by :meth:`ScorePolicy.remember_calm` was based on."""

_CalmRun: TypeAlias = tuple[Decision | None, object, int]
"""The policy's memory of one session: ``(decision, based_on, run)``, the latest calm decision
it made for the session on the tier it held (``None``: one remembered by
:meth:`ScorePolicy.remember_calm`), the session's ``last_decision`` when it made it, and the
calm steps on that tier counting it."""


class ScorePolicy:
    """Weighted signals → tier, with hysteresis and the cache-aware switch cost."""

    def __init__(self, config: RouterConfig) -> None:
        p = config.policy
        self._catalog = Catalog(config)
        self._tiers = config.tier_names
        self._index = {t: i for i, t in enumerate(self._tiers)}
        self._start = self._index[config.start_tier]
        thresholds = config.thresholds
        self._bounds = [0.0] + [thresholds[t] for t in self._tiers[1:]]
        self._weights = tuple((name, w) for name, w in p.weights.items() if w)
        names = [name for name, _ in self._weights]
        # one C-level call fetches every weighted signal (attrgetter of one name returns a
        # bare value, of several a tuple: normalize to a tuple)
        getter = operator.attrgetter(*names) if names else None
        self._values: Callable[[Signals], tuple[Any, ...]] = (
            (lambda s: ())
            if getter is None
            else (lambda s: (getter(s),))
            if len(names) == 1
            else getter
        )
        # the step signal on each model's scale (models.<name>.typical_steps); when every
        # step counts 1 (none set) the score reads Signals.step as is, at no extra cost
        self.progress = StepProgress(config)
        self._step_at = (
            names.index("step") if "step" in names and not self.progress.uniform else None
        )
        self._dwell = p.dwell_steps
        self._margin = p.margin
        # a score below this is a calm step on the tier (none is on the lowest tier)
        self._calm_below = {
            t: self._bounds[i] - p.margin if i > 0 else -math.inf for i, t in enumerate(self._tiers)
        }
        self._calm: SessionMemory[_CalmRun] = SessionMemory()
        self._calm_of = self._calm.by_id.get
        self._window_share = 1.0 - p.context_margin
        self._expected_steps = p.expected_steps
        self._output_guess = p.output_tokens_guess
        self._task_types = {k: self._index[v] for k, v in p.task_types.items()}
        self._plans = {k: self._index[v] for k, v in p.plans.items()}
        self._models = {t: tuple(ms) for t, ms in config.tiers.items()}
        self._windows = {name: m.context_window for name, m in config.models.items()}
        self._prices = {name: m.price for name, m in config.models.items()}

    # The decision -------------------------------------------------------------------------

    def __call__(self, signals: Signals, state: SessionState) -> Decision:
        if self._step_at is None:
            contributions = self.contributions(signals)
        else:
            contributions = self._scaled_contributions(signals, state, self._step_at)
        score = sum(c for _, c in contributions)
        # the score's tier (tier_for_score, inline: it runs on every routed call)
        target = max(self._start, bisect.bisect_right(self._bounds, score) - 1)
        previous = state.tier
        current = self._index.get(previous) if previous is not None else None
        switch: SwitchCost | None = None
        reason = ""
        if signals.escalation_requested:
            base = target if current is None else max(current, target)
            level = min(base + 1, len(self._tiers) - 1)
            cause, reason = Cause.ESCALATION_REQUEST, state.escalation_reason or "requested"
        elif current is None:
            level, cause = target, (Cause.START if target == self._start else Cause.SCORE)
        elif target > current:
            level, cause = target, Cause.SCORE
        elif target == current:
            level, cause = current, Cause.HOLD
        else:
            level, cause, switch, reason = self._maybe_step_down(
                signals, state, score, current, target
            )
        level, cause, reason = self._apply_hints(signals, level, cause, reason)
        tier, candidates, cause, reason = self._fit_window(signals, level, cause, reason)
        if switch is None and current is not None and tier != previous:
            # any other switch (a climb, a hint, a window) is priced too: what it throws away
            switch = self.switch_cost(signals, state, current, self._index[tier])
        decision = Decision(
            tier,
            previous,
            cause,
            signals.step,
            candidates,
            score,
            contributions,
            signals,
            switch,
            reason,
        )
        if tier == previous and score < self._calm_below[tier]:  # a calm step on the tier held
            last = state.last_decision
            self._calm.put(state, (decision, last, self._calm_run(state, last) + 1))
        return decision

    def contributions(self, signals: Signals) -> tuple[tuple[str, float], ...]:
        """Each weighted signal's ``weight × value`` (booleans count 1), zeros left out."""
        out = []
        for (name, weight), value in zip(self._weights, self._values(signals), strict=True):
            if value:
                out.append((name, weight * float(value)))
        return tuple(out)

    def _scaled_contributions(
        self, signals: Signals, state: SessionState, step_at: int
    ) -> tuple[tuple[str, float], ...]:
        """:meth:`contributions` with the ``step`` signal as the session's progress on its
        models' scales (:class:`~agentroute.policy.signals.StepProgress`)."""
        values = list(self._values(signals))
        values[step_at] = self.progress(state, signals.step)
        out = []
        for (name, weight), value in zip(self._weights, values, strict=True):
            if value:
                out.append((name, weight * float(value)))
        return tuple(out)

    def tier_for_score(self, score: float) -> int:
        """The highest tier whose threshold ``score`` reaches (0 when none does)."""
        return max(0, bisect.bisect_right(self._bounds, score) - 1)

    def is_calm(self, score: float, tier: str) -> bool:
        """Whether ``score`` is clearly below what ``tier`` needs (a calm step on that tier)."""
        return score < self._calm_below[tier]

    # Calm steps: the policy's own memory of each session ------------------------------------

    def calm_steps(self, state: SessionState) -> int:
        """The consecutive calm steps ``state``'s session has made on its current tier, as of
        its latest recorded decision: what the dwell counts.

        A decision of this policy that keeps the tier on a calm score is remembered when it
        is made, with the session's ``last_decision`` it was based on. The memory counts only
        while the session records decisions as this policy made them: if the session's
        ``last_decision`` is that decision (or an equal one: a policy asked twice gives equal
        answers), the run counts it; if it is still the one it was based on (the decision was
        not recorded, or not yet), the run before it; any other decision recorded since (a
        busy step or a change of tier, which this policy does not remember, the output
        check's climb, another policy's decision) ends the run: 0. So the count is the one
        the session ledger kept when it counted calm steps at each recorded decision, and
        asking the policy changes no later answer until its decision is recorded.

        Concurrent calls of one session: the routing step asks the policy and records its
        decision with no await between, so decisions are remembered in the order they are
        recorded, and each is counted against the one recorded before it.
        """
        run = self._calm_of(id(state))
        if run is None:
            return 0
        return self._calm_run(state, state.last_decision, run)

    def _calm_run(
        self, state: SessionState, last: Decision | None, run: _CalmRun | None = None
    ) -> int:
        if run is None:
            run = self._calm_of(id(state))
            if run is None:
                return 0
        decision, based_on, steps = run
        if decision is last or decision == last:
            return steps
        return steps - 1 if based_on is last or based_on == last else 0

    def remember_calm(self, state: SessionState, calm_steps: int) -> None:
        """Make :meth:`calm_steps` of ``state`` say ``calm_steps`` (``0`` before the session
        has a tier): a session restored at a point of its run (tests, a bench ladder)."""
        if state.tier is None:
            calm_steps = 0
        self._calm.put(state, (state.last_decision, _NONE, calm_steps))

    # Step-down arithmetic -----------------------------------------------------------------

    def _maybe_step_down(
        self, signals: Signals, state: SessionState, score: float, current: int, target: int
    ) -> tuple[int, Cause, SwitchCost | None, str]:
        calm = score < self._calm_below[self._tiers[current]]
        calm_run = self.calm_steps(state) + 1 if calm else 0
        if calm_run < self._dwell:
            return current, Cause.HYSTERESIS_HOLD, None, f"calm {calm_run}/{self._dwell}"
        # The lowest tier from the score's tier up that can hold the call and pays for the
        # switch; checking every tier in between keeps the rule monotonic (more trouble never
        # ends lower) and never steps into a tier whose models cannot hold the call.
        best: SwitchCost | None = None
        for level in range(target, current):
            if not self._fitting(self._tiers[level], signals):
                continue
            switch = self.switch_cost(signals, state, current, level)
            if switch.expected_saving > switch.cache_loss:
                return level, Cause.SCORE, switch, "step-down pays"
            best = best or switch
        if best is None:
            return current, Cause.HYSTERESIS_HOLD, None, "no lower tier can hold the call"
        return current, Cause.HYSTERESIS_HOLD, best, "step-down would not pay"

    def switch_cost(
        self, signals: Signals, state: SessionState, current: int, target: int
    ) -> SwitchCost:
        """Saving of running the remaining steps on ``target`` instead of ``current``
        (negative when ``target`` costs more: a climb) vs the cache the switch throws away."""
        cur = self._prices[self._first_fitting(current, signals)]
        low = self._prices[self._first_fitting(target, signals)]
        prefix = signals.context_tokens
        completed = signals.step - 1  # the steps before this call
        out = state.usage.output_tokens / completed if completed > 0 else self._output_guess
        remaining = max(1, self._expected_steps - signals.step)
        saving = remaining * (_warm_step(cur, prefix, out) - _warm_step(low, prefix, out))
        loss = prefix * (max(low.input, low.cache_write_or_input) - low.cache_read_or_input) * 1e-6
        return SwitchCost(expected_saving=saving, cache_loss=loss)

    # Hints and windows --------------------------------------------------------------------

    def _apply_hints(
        self, signals: Signals, level: int, cause: Cause, reason: str
    ) -> tuple[int, Cause, str]:
        hints = signals.hints
        if not hints:
            return level, cause, reason
        floors = [(self._hint(hints.get("min_tier"), "min_tier"), "min_tier")]
        caps = [(self._hint(hints.get("max_tier"), "max_tier"), "max_tier")]
        task, plan = hints.get("task_type"), hints.get("plan")
        if isinstance(task, str) and task in self._task_types:
            floors.append((self._task_types[task], f"task_type={task}"))
        if isinstance(plan, str) and plan in self._plans:
            caps.append((self._plans[plan], f"plan={plan}"))
        for floor, why in floors:
            if floor is not None and level < floor:
                level, cause = floor, Cause.HINT
                reason = f"{why}={self._tiers[floor]}" if why == "min_tier" else why
        for cap, why in caps:
            if cap is not None and level > cap:
                level, cause = cap, Cause.HINT
                reason = f"{why}={self._tiers[cap]}" if why == "max_tier" else why
        budget = self._hint(hints.get(BUDGET_MAX_TIER), BUDGET_MAX_TIER)
        if budget is not None and level > budget:
            level, cause = budget, Cause.BUDGET_CAP
            reason = str(hints.get(BUDGET_REASON) or f"budget cap at {self._tiers[budget]}")
        return level, cause, reason

    def _hint(self, value: object, name: str) -> int | None:
        if value is None:
            return None
        if not isinstance(value, str) or value not in self._index:
            raise ConfigurationError(
                f"hint {name}={safe_repr(value)} is not a tier (tiers: {', '.join(self._tiers)})"
            )
        return self._index[value]

    def _first_fitting(self, level: int, signals: Signals) -> str:
        """The tier's first model that holds the call (else its first model)."""
        tier = self._tiers[level]
        fits = self._fitting(tier, signals)
        return fits[0] if fits else self._models[tier][0]

    def _fitting(self, tier: str, signals: Signals) -> tuple[str, ...]:
        return self._catalog.fitting(tier, signals.context_tokens)

    def _fit_window(
        self, signals: Signals, level: int, cause: Cause, reason: str
    ) -> tuple[str, tuple[str, ...], Cause, str]:
        tier = self._tiers[level]
        fits = self._fitting(tier, signals)
        if len(fits) == len(self._models[tier]):
            return tier, fits, cause, reason
        if fits:
            return tier, fits, cause, reason or "larger-window models only"
        order = [*range(level + 1, len(self._tiers)), *range(level - 1, -1, -1)]
        for other in order:
            fits = self._fitting(self._tiers[other], signals)
            if fits:
                why = f"{signals.context_tokens:,} tokens do not fit {tier}"
                return self._tiers[other], fits, Cause.CONTEXT_WINDOW, why
        largest = max(self._windows.values())
        raise ContextWindowExceeded(
            f"the call needs ~{signals.context_tokens:,} tokens; the largest configured window "
            f"is {largest:,} (less a {1 - self._window_share:.0%} margin)"
        )


def _warm_step(price: Price, prefix: int, out: float) -> float:
    """USD of one step with the prefix read from a warm cache and ``out`` new tokens."""
    return (prefix * price.cache_read_or_input + out * (price.input + price.output)) * 1e-6


def calm_after(policy: ScorePolicy, decision: Decision, calm_steps: int) -> int:
    """The session's calm-step count after ``decision`` is recorded, from ``calm_steps``
    before it: reset on a switch or a busy step (the rule :meth:`ScorePolicy.calm_steps`
    follows)."""
    if decision.previous_tier != decision.tier:
        return 0
    return calm_steps + 1 if policy.is_calm(decision.score, decision.tier) else 0
