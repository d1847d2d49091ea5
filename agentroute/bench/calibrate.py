"""Calibration: fit the policy's escalation points to recorded runs, judged on held-out tasks.

What is fitted: each tier's step scale, ``models.<name>.typical_steps`` of the tier's first
model (the one the policy reads, :class:`~agentroute.policy.signals.StepProgress`), for every
tier a calm loop can leave (the top tier is never left). An outcome table has only one
signal, the run's length, and through steps alone a tier's threshold and the ``typical_steps``
of the tier below it are interchangeable: the replay cannot tell them apart. A threshold also
decides how many tool errors or repeats escalate, which a table cannot measure, so from a
table the thresholds and the other weights are left as configured; only ``typical_steps``
moves, and the start tier (below).

**The start tier** (``policy.start_tier``) is a knob too, but a guarded one: where the
cheap model is dominated (its runs so long that running it at all costs more than the
strongest model alone), no escalation point can help, only starting higher can. The
configured start is fitted first (the other knobs as below); it is kept unless its fitted
setting, on the training tasks, costs more than the strongest single model alone on those
tasks (the model the ratios are reported against: see "The target"). Only then are the
higher starts tried, lowest first, up to the highest tier with runs in the table (each
skipped when its tier has no runs), each fitted the same way with the policy starting there
(the ``typical_steps`` of tiers below it do not exist then): the first whose fitted setting
meets the target at a cost at most the strongest model's is taken, else the one whose fitted
setting has the best key (the search's: meeting the target the cheapest, …) if it beats the
configured start's, else the configured start stays. Why the guard: taking the best key over
all starts moves the start on tables where the configured one already pays, and that
overfits — on ``benchmarks/calibration_synthetic.py``'s 4-tier table (calibrated 99.8%
solved at 0.53× with the configured start) the folds then picked different starts and the
held-out share fell to 95.2%, below the 96% target. A configured start that misses the
target but not the cost does not move either: the refusal then says the cheap tiers cannot
reach the target, rather than the fit turning it into "start on a higher tier", a choice of
ladder for the user, not an escalation point. The shadow limits (``held``) apply unchanged:
starting higher never holds a tier longer.

**From a routing log** (read by :mod:`agentroute.bench.log_table` into the same table, its
censored runs replayed as failing on) each row also holds its steps' logged contributions
(signal → weighted share). Then the weight of every signal with a nonzero share in the
training tasks is a knob too (``policy.weights.<signal>``; candidates: the configured weight
× :data:`WEIGHT_FACTORS`), and each logged row leaves its tier where its re-weighed logged
score reaches a higher tier's start (:mod:`agentroute.bench.logged_leave`, with the rule
beyond a censored row's logged steps); rows without logged steps (imputed ones) use the
per-tier escalation points as with a table. The thresholds are still not knobs: scaling every
weight by ``c`` is the same as scaling every threshold by ``1/c``, so the weights already
move the escalation points every way the thresholds could. A signal the config does not
weight left no share in the log and cannot be fitted; :attr:`Calibration.not_fitted` names
every signal not fitted and why, :attr:`Calibration.logged` the ones fitted with the logged
steps that carried them. ``fit_weights=False`` fits ``typical_steps`` only (for comparison).

**The target**: the calibrated policy must solve at least ``target_solved`` of what the
strongest single model solves (the one solving the most tasks in the whole table; ties as in
:func:`agentroute.bench.cascade.strongest`), as cheaply as it can.

**The search** (on a training split): for each tier, candidate ``typical_steps`` are the
tier's current value, 1 (leave the tier almost at once) and multiples (¼ … 8×,
:data:`FACTORS`) of the median length of its model's solved runs in the training tasks (all
its runs when none solved). Coordinate descent
from the current values: tier by tier, cheap first, then (from a log) signal by signal in
the config's order, every candidate is replayed with
:func:`agentroute.bench.cascade.run_cascade` over the policy's own escalation points
(:func:`agentroute.bench.ladder.policy_schedule`, plus the logged rows' own), and the best
kept — among settings that meet the target the cheapest, else the one solving the most
(then the cheapest); a tie keeps the value held. Rounds repeat until one changes nothing, at
most :data:`MAX_ROUNDS`. So a run replays at most ``starts × MAX_ROUNDS × ((tiers − 1) ×
(len(FACTORS) + 2) + signals × len(WEIGHT_FACTORS))`` cascades per fit (``starts`` ≤
``tiers``: the candidate start tiers), and ``folds + 1`` fits: bounded, and independent of
the table beyond its size. No randomness
but the fold split, drawn from ``seed``: the same table, config and seed give the same result.

**Evaluation**: k-fold cross-validation split by task (the tasks shuffled with the seed and
dealt round-robin into ``folds`` folds). Each fold's tasks are held out while the fit runs on
the others; the fitted setting, the configured (default) policy, each single model and the
oracle are then scored on the held-out tasks. The reported share is the mean over folds of
(held-out solved / the strongest model's held-out solved), the cost ratio likewise against
the strongest model's held-out cost, with the lowest and highest fold. The patch is fitted on
all tasks once the folds are done.

**Shadow agreement** (``held``: tiers a routing log's shadow comparisons found weak where the
policy held them, :func:`agentroute.bench.shadow_evidence.hold_evidence`): the fit may not
make the policy hold such a tier longer than configured. For each held tier that a calm loop
can leave, its first model's ``typical_steps`` candidates stop at the configured value, and
the weight of every signal with a logged share on its models' rows (the decisions that
routed their steps, and the one that left) may not fall below the configured weight: the
two ways a setting keeps a session on a tier longer. The configured setting always satisfies
this, so the search starts inside it; :attr:`Calibration.held` and
:attr:`Calibration.held_signals` say what was constrained.

**Refusal**: the patch is not supported — :attr:`Calibration.refusal` says why — when the
held-out share is below the target on average, or the held-out cost ratio is above
``max_cost_ratio`` on average.
"""

from __future__ import annotations

import dataclasses
import random
import statistics
from collections.abc import Mapping, Sequence

from agentroute._frozen import value_object
from agentroute.bench.cascade import (
    Oracle,
    Totals,
    oracle,
    run_cascade,
    single_models,
    strongest,
    totals,
)
from agentroute.bench.ladder import Ladder, Schedule, map_ladder, policy_schedule
from agentroute.bench.logged_leave import logged_leave, with_weights
from agentroute.bench.outcomes import OutcomeTable
from agentroute.config import RouterConfig
from agentroute.config._policy import SIGNAL_NAMES
from agentroute.errors import ConfigurationError

__all__ = [
    "FACTORS",
    "MAX_ROUNDS",
    "WEIGHT_FACTORS",
    "Calibration",
    "Fold",
    "Spread",
    "calibrate",
    "patch_data",
    "split_tasks",
    "with_start_tier",
    "with_typical_steps",
]

FACTORS = (0.25, 0.35, 0.5, 0.7, 1.0, 1.4, 2.0, 2.8, 4.0, 8.0)
"""Candidate ``typical_steps``: these multiples of the tier model's median solved run."""
MAX_ROUNDS = 4
"""Coordinate-descent rounds at most (each tries every candidate of every knob once)."""
WEIGHT_FACTORS = (0.0, 0.5, 0.7, 1.0, 1.4, 2.0)
"""Candidate ``policy.weights.<signal>``: these multiples of the configured weight."""

Steps = dict[str, int]
Weights = dict[str, float]


@value_object
class Fold:
    """One held-out fold: what each contender solved and cost on its tasks."""

    tasks: int
    strongest: Totals
    default: Totals
    calibrated: Totals
    singles: tuple[Totals, ...]
    oracle: Oracle
    typical_steps: tuple[tuple[str, int], ...]
    weights: tuple[tuple[str, float], ...] = ()
    """The fold's fitted weights (only the signals fitted)."""
    start_tier: str = ""
    """The fold's fitted start tier."""


@value_object
class Spread:
    """A figure over the folds: its mean, lowest and highest."""

    mean: float
    low: float
    high: float


@value_object
class Calibration:
    """The result of :func:`calibrate` (see the module docstring)."""

    ladder: Ladder
    strongest: str
    folds: tuple[Fold, ...]
    typical_steps: tuple[tuple[str, int], ...]
    """Fitted on all tasks: ``(model, typical_steps)`` for each tier's first model."""
    changed: tuple[tuple[str, int], ...]
    """The fitted values that differ from the config's (what the patch holds)."""
    target_solved: float
    max_cost_ratio: float | None
    solved_share: Spread
    cost_ratio: Spread
    refusal: str | None
    notes: tuple[str, ...]
    weights: tuple[tuple[str, float], ...] = ()
    """Fitted on all tasks: ``(signal, weight)`` for each signal fitted (logged steps only)."""
    changed_weights: tuple[tuple[str, float], ...] = ()
    """The fitted weights that differ from the config's (the patch holds them too)."""
    logged: tuple[tuple[str, int], ...] = ()
    """The signals fitted and how many logged steps carried a share of each (empty for a
    table without logged steps)."""
    not_fitted: tuple[tuple[str, str], ...] = ()
    """With logged steps: every other signal, and why it was not fitted."""
    held: tuple[str, ...] = ()
    """Tiers the fit could not make the policy hold longer (low shadow agreement)."""
    held_signals: tuple[str, ...] = ()
    """Signals whose weight the fit could not lower, for the ``held`` tiers."""
    start_tier: str = ""
    """Fitted on all tasks: the tier the policy starts on."""
    changed_start: str | None = None
    """The fitted start tier when it differs from the config's (the patch holds it)."""

    def share(self, pick: str) -> Spread:
        """Held-out solved over the strongest model's solved, per fold, of one contender:
        ``default``, ``calibrated``, ``oracle`` or a model's name."""
        return _share(self.folds, pick)

    def cost(self, pick: str) -> Spread:
        """Held-out cost over the strongest model's cost, per fold, of one contender."""
        return _cost_ratio(self.folds, pick)


def _share(folds: Sequence[Fold], pick: str) -> Spread:
    return _spread([_solved(f, pick) / max(1, f.strongest.solved) for f in folds])


def _cost_ratio(folds: Sequence[Fold], pick: str) -> Spread:
    ratios = []
    for f in folds:
        cost, base = _cost(f, pick), f.strongest.cost_usd
        ratios.append(cost / base if base else (0.0 if cost == 0 else float("inf")))
    return _spread(ratios)


def _solved(fold: Fold, pick: str) -> int:
    if pick == "oracle":
        return fold.oracle.solved
    return _totals_of(fold, pick).solved


def _cost(fold: Fold, pick: str) -> float:
    if pick == "oracle":
        return fold.oracle.cost_usd_top
    return _totals_of(fold, pick).cost_usd


def _totals_of(fold: Fold, pick: str) -> Totals:
    if pick == "default":
        return fold.default
    if pick == "calibrated":
        return fold.calibrated
    return next(t for t in fold.singles if t.name == pick)


def _spread(values: Sequence[float]) -> Spread:
    return Spread(statistics.fmean(values), min(values), max(values))


def split_tasks(tasks: Sequence[str], folds: int, seed: int) -> tuple[tuple[str, ...], ...]:
    """The tasks shuffled with ``seed`` and dealt round-robin into ``folds`` folds."""
    order = list(tasks)
    random.Random(seed).shuffle(order)
    return tuple(tuple(order[i::folds]) for i in range(folds))


def with_typical_steps(config: RouterConfig, steps: Mapping[str, int]) -> RouterConfig:
    """``config`` with ``models.<name>.typical_steps`` set as given (other models unchanged)."""
    models = dict(config.models)
    for name, value in steps.items():
        models[name] = models[name].model_copy(update={"typical_steps": value})
    return config.model_copy(update={"models": models})


def with_start_tier(config: RouterConfig, tier: str) -> RouterConfig:
    """``config`` with ``policy.start_tier`` set to ``tier`` (a tier it names)."""
    policy = config.policy.model_copy(update={"start_tier": tier})
    return config.model_copy(update={"policy": policy})


def patch_data(calibration: Calibration) -> dict[str, object]:
    """The config patch: only the changed keys (``models.<name>.typical_steps``,
    ``policy.start_tier`` when the start moved, ``policy.weights.<signal>`` when a weight
    moved)."""
    data: dict[str, object] = {
        "models": {name: {"typical_steps": value} for name, value in calibration.changed}
    }
    policy: dict[str, object] = {}
    if calibration.changed_start is not None:
        policy["start_tier"] = calibration.changed_start
    if calibration.changed_weights:
        policy["weights"] = dict(calibration.changed_weights)
    if policy:
        data["policy"] = policy
    return data


def logged_signals(table: OutcomeTable) -> dict[str, int]:
    """Each signal with a nonzero logged share, and how many logged steps carried one (a
    row's own steps: the step that left it is counted on the row it went to)."""
    counts: dict[str, int] = {}
    for row in table.rows:
        for shares in row.steps[: row.calls]:
            for name, share in shares:
                if share:
                    counts[name] = counts.get(name, 0) + 1
    return counts


def _subset(table: OutcomeTable, tasks: Sequence[str]) -> OutcomeTable:
    keep = set(tasks)
    return OutcomeTable(tuple(r for r in table.rows if r.task_id in keep), table.source)


def _sum(name: str, table: OutcomeTable, ladder: Ladder, schedule: Schedule) -> Totals:
    return totals(name, run_cascade(table, ladder, schedule))


class _Fitter:
    """The search of the module docstring over one config and ladder; escalation points are
    remembered per setting (they depend on the config only, not on the tasks). With
    ``logged`` (a table with logged steps) every schedule also carries the rows' own
    escalation points under the setting (:func:`~agentroute.bench.logged_leave.logged_leave`).
    """

    def __init__(
        self,
        config: RouterConfig,
        ladder: Ladder,
        horizon: int,
        logged: bool,
        ceilings: Mapping[str, int] | None = None,
        floors: Mapping[str, float] | None = None,
    ) -> None:
        self._config = config
        self._ladder = ladder
        self._horizon = horizon
        self._logged = logged
        self._policy: dict[tuple[tuple[tuple[str, int], ...], float], Schedule] = {}
        reference = config.policy.expected_steps
        # the knobs: each tier a calm loop can leave, by its first config model
        self.knobs: list[tuple[str, str]] = []  # (model read by the policy, model serving)
        start = config.tier_names.index(config.start_tier)
        for level, tier in enumerate(config.tier_names[:-1]):
            serving = ladder.models[level]
            if level >= start and serving and level < ladder.top:
                self.knobs.append((config.tiers[tier][0], serving[0]))
        self.current = {
            model: config.models[model].typical_steps or reference for model, _ in self.knobs
        }
        self.weights = {name: float(w) for name, w in config.policy.weights.items() if w}
        # the held tiers' limits: typical_steps at most, weights at least (model/signal → value)
        self.ceilings = {
            m: min(v, self.current[m]) for m, v in (ceilings or {}).items() if m in self.current
        }
        self.floors = dict(floors or {})

    def schedule(self, steps: Steps, weights: Weights) -> Schedule:
        key = tuple(sorted(steps.items()))
        step = weights.get("step", self.weights.get("step", 0.0))
        found = self._policy.get((key, step))
        if found is None:
            config = with_weights(with_typical_steps(self._config, steps), {"step": step})
            found = self._policy[(key, step)] = policy_schedule(config, horizon=self._horizon)
        if not self._logged:
            return found
        candidate = with_weights(with_typical_steps(self._config, steps), weights)
        return dataclasses.replace(found, row_leave=logged_leave(self._config, candidate))

    def evaluate(
        self, name: str, table: OutcomeTable, steps: Steps, weights: Weights | None = None
    ) -> Totals:
        return _sum(name, table, self._ladder, self.schedule(steps, weights or {}))

    def signals(self, table: OutcomeTable) -> list[str]:
        """The weight knobs for ``table``: every weighted signal with a logged share in it."""
        carried = logged_signals(table)
        return [name for name in self.weights if carried.get(name)]

    def fit(self, table: OutcomeTable, need: float, *, weights: bool) -> tuple[Steps, Weights]:
        """The cheapest setting solving at least ``need`` tasks of ``table`` (else the one
        solving the most), by coordinate descent from the current values: the tiers'
        ``typical_steps``, then (with ``weights``) the weights of :meth:`signals`."""
        best, best_w, _ = self.fit_keyed(table, need, weights=weights)
        return best, best_w

    def fit_keyed(
        self, table: OutcomeTable, need: float, *, weights: bool
    ) -> tuple[Steps, Weights, tuple[int, float, float]]:
        """:meth:`fit`, with the fitted setting's key (to compare fits of other starts)."""
        best = dict(self.current)
        best_w = {name: self.weights[name] for name in self.signals(table)} if weights else {}
        best_key = self._key(self.evaluate("fit", table, best, best_w), need)
        for _ in range(MAX_ROUNDS):
            moved = False
            for model, serving in self.knobs:
                for value in self._candidates(table, model, serving):
                    trial = best | {model: value}
                    key = self._key(self.evaluate("fit", table, trial, best_w), need)
                    if key < best_key:
                        best, best_key, moved = trial, key, True
            for signal in best_w:
                for factor in WEIGHT_FACTORS:
                    weight = round(self.weights[signal] * factor, 6)
                    if weight < self.floors.get(signal, 0.0):
                        continue
                    trial_w = best_w | {signal: weight}
                    key = self._key(self.evaluate("fit", table, best, trial_w), need)
                    if key < best_key:
                        best_w, best_key, moved = trial_w, key, True
            if not moved:
                break
        return best, best_w, best_key

    def _candidates(self, table: OutcomeTable, model: str, serving: str) -> list[int]:
        runs = [r for r in table.rows if r.model == serving]
        solved = [r.calls for r in runs if r.resolved] or [r.calls for r in runs]
        values = {self.current[model], 1}
        if solved:
            median = statistics.median(solved)
            values |= {max(1, round(median * f)) for f in FACTORS}
        ceiling = self.ceilings.get(model)
        return sorted(v for v in values if ceiling is None or v <= ceiling)

    @staticmethod
    def _key(totals: Totals, need: float) -> tuple[int, float, float]:
        if totals.solved >= need:
            return (0, totals.cost_usd, 0.0)
        return (1, -totals.solved, totals.cost_usd)


class _Starts:
    """One :class:`_Fitter` per candidate start tier (the configured one, then each higher
    tier with runs up to the highest with runs) and the guarded choice between their fits
    (the module docstring, "The start tier")."""

    def __init__(
        self,
        config: RouterConfig,
        ladder: Ladder,
        horizon: int,
        logged: bool,
        ceilings: Mapping[str, int],
        floors: Mapping[str, float],
    ) -> None:
        tiers = config.tier_names
        start = tiers.index(config.start_tier)
        self.configured = config.start_tier
        self.fitters: dict[str, _Fitter] = {
            self.configured: _Fitter(config, ladder, horizon, logged, ceilings, floors)
        }
        for level in range(start + 1, ladder.top + 1):
            if ladder.models[level]:
                self.fitters[tiers[level]] = _Fitter(
                    with_start_tier(config, tiers[level]), ladder, horizon, logged, ceilings, floors
                )

    @property
    def default(self) -> _Fitter:
        """The fitter of the configured start."""
        return self.fitters[self.configured]

    def fit(
        self, table: OutcomeTable, need: float, budget: float, *, weights: bool
    ) -> tuple[str, Steps, Weights]:
        """The start tier and its fitted setting on ``table``: the configured start unless
        its fit costs more than ``budget`` (the strongest model's cost on ``table``); then
        the first higher start whose fit meets ``need`` solved within ``budget``, else the
        best key among the higher starts if it beats the configured one's."""
        steps, weights_, best_key = self.default.fit_keyed(table, need, weights=weights)
        chosen = (self.configured, steps, weights_)
        if self._cost(best_key) <= budget:
            return chosen
        for tier, fitter in self.fitters.items():
            if tier == self.configured:
                continue
            steps, weights_, key = fitter.fit_keyed(table, need, weights=weights)
            if self._pays(key, budget):
                return tier, steps, weights_
            if key < best_key:
                chosen, best_key = (tier, steps, weights_), key
        return chosen

    @classmethod
    def _pays(cls, key: tuple[int, float, float], budget: float) -> bool:
        """A fitted key meets the target at a cost at most ``budget``."""
        return key[0] == 0 and cls._cost(key) <= budget

    @staticmethod
    def _cost(key: tuple[int, float, float]) -> float:
        """The cost of the setting a :meth:`_Fitter._key` was made from."""
        return key[1] if key[0] == 0 else key[2]


def calibrate(
    config: RouterConfig,
    table: OutcomeTable,
    *,
    target_solved: float,
    max_cost_ratio: float | None = None,
    folds: int = 5,
    seed: int = 0,
    fit_weights: bool = True,
    held: Sequence[str] = (),
) -> Calibration:
    """Fit the start tier and ``typical_steps`` (and, when ``table`` has logged steps and
    ``fit_weights``, the logged signals' weights) to ``table``, cross-validated (see the
    module docstring). ``held``: tiers the fit may not make the policy hold longer (tiers
    the config does not name, or its top tier, are ignored).

    Raises :class:`~agentroute.errors.ConfigurationError` when the config cannot be
    calibrated on steps (``policy.weights.step`` ≤ 0, a single tier) or the table is too
    small for the folds.
    """
    if not 0 < target_solved <= 1:
        raise ConfigurationError(f"target_solved must be in (0, 1], got {target_solved:g}")
    if max_cost_ratio is not None and max_cost_ratio <= 0:
        raise ConfigurationError(f"max_cost_ratio must be > 0, got {max_cost_ratio:g}")
    weight = config.policy.weights.get("step", 0.0)
    if weight <= 0:
        raise ConfigurationError(
            f"policy.weights.step is {weight:g}: the policy never escalates on steps, so there "
            "is nothing to calibrate from an outcome table; set it above 0"
        )
    ladder = map_ladder(config, table)
    longest = sum(
        max((r.calls for r in table.rows if r.model in ms), default=0) for ms in ladder.models
    )
    logged = any(r.steps for r in table.rows)
    held_tiers = tuple(t for t in dict.fromkeys(held) if t in config.tier_names[:-1])
    ceilings, floors = _hold_limits(config, table, held_tiers)
    starts = _Starts(config, ladder, longest + 1, logged, ceilings, floors)
    fitter = starts.default
    if not fitter.knobs:
        order = ", ".join(
            f"{tier} ({', '.join(models) or 'no runs'})"
            for tier, models in zip(ladder.tiers, ladder.models, strict=True)
        )
        raise ConfigurationError(
            "no tier to calibrate: the ladder needs a tier with runs in the table, at or above "
            f"the start tier {config.start_tier!r}, below the highest one with runs; the "
            f"tiers in config order (read cheapest first), with the models that have runs: "
            f"{order} (a config written with sorted keys reorders its tiers)"
        )
    singles = single_models(table, ladder)
    top = strongest(singles, ladder).name
    tasks = list(dict.fromkeys(r.task_id for r in table.rows if r.model in ladder.all_models))
    if not 2 <= folds <= len(tasks):
        raise ConfigurationError(
            f"folds must be between 2 and the number of tasks ({len(tasks)}), got {folds}"
        )
    results = []
    for held in split_tasks(tasks, folds, seed):
        held_set = set(held)
        train = _subset(table, [t for t in tasks if t not in held_set])
        test = _subset(table, held)
        base = _single(train, ladder, top)
        need = target_solved * base.solved
        start, fitted, fitted_w = starts.fit(train, need, base.cost_usd, weights=fit_weights)
        results.append(
            Fold(
                tasks=len(held),
                strongest=_single(test, ladder, top),
                default=fitter.evaluate("default", test, fitter.current),
                calibrated=starts.fitters[start].evaluate("calibrated", test, fitted, fitted_w),
                singles=single_models(test, ladder),
                oracle=oracle(test, ladder),
                typical_steps=tuple(fitted.items()),
                weights=tuple(fitted_w.items()),
                start_tier=start,
            )
        )
    base = _single(table, ladder, top)
    need = target_solved * base.solved
    final_start, final, final_w = starts.fit(table, need, base.cost_usd, weights=fit_weights)
    changed = tuple((m, v) for m, v in final.items() if v != config.models[m].typical_steps)
    changed_w = tuple((n, w) for n, w in final_w.items() if w != config.policy.weights[n])
    fitted_signals, not_fitted = _signal_facts(config, table, logged, fit_weights)
    share, cost = _share(results, "calibrated"), _cost_ratio(results, "calibrated")
    refusal = None
    if share.mean < target_solved:
        refusal = (
            f"held-out solved is {share.mean:.1%} of the strongest model's on average, below "
            f"the target {target_solved:.1%}"
        )
    elif max_cost_ratio is not None and cost.mean > max_cost_ratio:
        refusal = (
            f"held-out cost is {cost.mean:.2f}× the strongest model's on average, above "
            f"the allowed {max_cost_ratio:.2f}×"
        )
    return Calibration(
        ladder=ladder,
        strongest=top,
        folds=tuple(results),
        typical_steps=tuple(final.items()),
        changed=changed,
        target_solved=target_solved,
        max_cost_ratio=max_cost_ratio,
        solved_share=share,
        cost_ratio=cost,
        refusal=refusal,
        notes=ladder.notes,
        weights=tuple(final_w.items()),
        changed_weights=changed_w,
        logged=fitted_signals,
        not_fitted=not_fitted,
        held=held_tiers,
        held_signals=tuple(floors),
        start_tier=final_start,
        changed_start=None if final_start == config.start_tier else final_start,
    )


def _hold_limits(
    config: RouterConfig, table: OutcomeTable, held: Sequence[str]
) -> tuple[dict[str, int], dict[str, float]]:
    """For the ``held`` tiers: each one's first model's ``typical_steps`` ceiling (the
    configured value; unset: ``expected_steps``), and the weight floor (the configured
    weight) of every signal with a logged share on the rows of the tier's models."""
    ceilings: dict[str, int] = {}
    floors: dict[str, float] = {}
    weights = config.policy.weights
    for tier in held:
        first = config.tiers[tier][0]
        ceilings[first] = config.models[first].typical_steps or config.policy.expected_steps
        models = set(config.tiers[tier])
        for row in table.rows:
            if row.model not in models:
                continue
            for shares in row.steps:
                for name, share in shares:
                    if share and weights.get(name):
                        floors[name] = float(weights[name])
    ordered = {name: floors[name] for name in SIGNAL_NAMES if name in floors}
    return ceilings, ordered


def _signal_facts(
    config: RouterConfig, table: OutcomeTable, logged: bool, fit_weights: bool
) -> tuple[tuple[tuple[str, int], ...], tuple[tuple[str, str], ...]]:
    """The signals fitted with their logged steps, and every other signal with the reason
    it was not fitted (nothing for a table without logged steps)."""
    if not logged:
        return (), ()
    carried = logged_signals(table)
    weights = config.policy.weights
    fitted: list[tuple[str, int]] = []
    not_fitted: list[tuple[str, str]] = []
    for name in SIGNAL_NAMES:
        if not weights.get(name):
            not_fitted.append((name, "weight 0 in the config: no share logged, cannot be fitted"))
        elif not carried.get(name):
            not_fitted.append((name, "no share in the log"))
        elif not fit_weights:
            not_fitted.append((name, "weights fixed"))
        else:
            fitted.append((name, carried[name]))
    return tuple(fitted), tuple(not_fitted)


def _single(table: OutcomeTable, ladder: Ladder, model: str) -> Totals:
    return next(t for t in single_models(table, ladder) if t.name == model)
