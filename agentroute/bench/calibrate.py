"""Calibration: fit the policy's escalation points to recorded runs, judged on held-out tasks.

What is fitted: each tier's step scale, ``models.<name>.typical_steps`` of the tier's first
model (the one the policy reads, :class:`~agentroute.policy.signals.StepProgress`), for every
tier a calm loop can leave (the top tier is never left). An outcome table has only one
signal, the run's length, and through steps alone a tier's threshold and the ``typical_steps``
of the tier below it are interchangeable: the replay cannot tell them apart. A threshold also
decides how many tool errors or repeats escalate, which a table cannot measure, so the
thresholds and the other weights are left as configured; only ``typical_steps`` moves. A
routing log (read by :mod:`agentroute.bench.log_table` into the same table, its censored
runs replayed as failing on) does record the other signals per step, but making them knobs
would need a per-step replay of every signal's contribution, which the cascade does not do:
with ``--log`` too, only ``typical_steps`` moves, for the same reason.

**The target**: the calibrated policy must solve at least ``target_solved`` of what the
strongest single model solves (the one solving the most tasks in the whole table; ties as in
:func:`agentroute.bench.cascade.strongest`), as cheaply as it can.

**The search** (on a training split): for each tier, candidate ``typical_steps`` are the
tier's current value, 1 (leave the tier almost at once) and multiples (¼ … 8×,
:data:`FACTORS`) of the median length of its model's solved runs in the training tasks (all
its runs when none solved). Coordinate descent
from the current values: tier by tier, cheap first, every candidate is replayed with
:func:`agentroute.bench.cascade.run_cascade` over the policy's own escalation points
(:func:`agentroute.bench.ladder.policy_schedule`), and the best kept — among settings that
meet the target the cheapest, else the one solving the most (then the cheapest); a tie keeps
the value held. Rounds repeat until one changes nothing, at most :data:`MAX_ROUNDS`. So a
run replays at most ``MAX_ROUNDS × (tiers − 1) × (len(FACTORS) + 2)`` cascades per fit, and
``folds + 1`` fits: bounded, and independent of the table beyond its size. No randomness
but the fold split, drawn from ``seed``: the same table, config and seed give the same result.

**Evaluation**: k-fold cross-validation split by task (the tasks shuffled with the seed and
dealt round-robin into ``folds`` folds). Each fold's tasks are held out while the fit runs on
the others; the fitted setting, the configured (default) policy, each single model and the
oracle are then scored on the held-out tasks. The reported share is the mean over folds of
(held-out solved / the strongest model's held-out solved), the cost ratio likewise against
the strongest model's held-out cost, with the lowest and highest fold. The patch is fitted on
all tasks once the folds are done.

**Refusal**: the patch is not supported — :attr:`Calibration.refusal` says why — when the
held-out share is below the target on average, or the held-out cost ratio is above
``max_cost_ratio`` on average.
"""

from __future__ import annotations

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
from agentroute.bench.outcomes import OutcomeTable
from agentroute.config import RouterConfig
from agentroute.errors import ConfigurationError

__all__ = [
    "FACTORS",
    "MAX_ROUNDS",
    "Calibration",
    "Fold",
    "Spread",
    "calibrate",
    "patch_data",
    "split_tasks",
    "with_typical_steps",
]

FACTORS = (0.25, 0.35, 0.5, 0.7, 1.0, 1.4, 2.0, 2.8, 4.0, 8.0)
"""Candidate ``typical_steps``: these multiples of the tier model's median solved run."""
MAX_ROUNDS = 4
"""Coordinate-descent rounds at most (each tries every candidate of every tier once)."""


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


def patch_data(calibration: Calibration) -> dict[str, object]:
    """The config patch: only the changed keys (``models.<name>.typical_steps``)."""
    return {"models": {name: {"typical_steps": value} for name, value in calibration.changed}}


def _subset(table: OutcomeTable, tasks: Sequence[str]) -> OutcomeTable:
    keep = set(tasks)
    return OutcomeTable(tuple(r for r in table.rows if r.task_id in keep), table.source)


def _sum(name: str, table: OutcomeTable, ladder: Ladder, schedule: Schedule) -> Totals:
    return totals(name, run_cascade(table, ladder, schedule))


class _Fitter:
    """The search of the module docstring over one config and ladder; escalation points are
    remembered per setting (they depend on the config only, not on the tasks)."""

    def __init__(self, config: RouterConfig, ladder: Ladder, horizon: int) -> None:
        self._config = config
        self._ladder = ladder
        self._horizon = horizon
        self._schedules: dict[tuple[tuple[str, int], ...], Schedule] = {}
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

    def schedule(self, steps: Mapping[str, int]) -> Schedule:
        key = tuple(sorted(steps.items()))
        found = self._schedules.get(key)
        if found is None:
            config = with_typical_steps(self._config, steps)
            found = self._schedules[key] = policy_schedule(config, horizon=self._horizon)
        return found

    def evaluate(self, name: str, table: OutcomeTable, steps: Mapping[str, int]) -> Totals:
        return _sum(name, table, self._ladder, self.schedule(steps))

    def fit(self, table: OutcomeTable, need: float) -> dict[str, int]:
        """The cheapest setting solving at least ``need`` tasks of ``table`` (else the one
        solving the most), by coordinate descent from the current values."""
        best = dict(self.current)
        best_key = self._key(self.evaluate("fit", table, best), need)
        for _ in range(MAX_ROUNDS):
            moved = False
            for model, serving in self.knobs:
                for value in self._candidates(table, model, serving):
                    trial = best | {model: value}
                    key = self._key(self.evaluate("fit", table, trial), need)
                    if key < best_key:
                        best, best_key, moved = trial, key, True
            if not moved:
                break
        return best

    def _candidates(self, table: OutcomeTable, model: str, serving: str) -> list[int]:
        runs = [r for r in table.rows if r.model == serving]
        solved = [r.calls for r in runs if r.resolved] or [r.calls for r in runs]
        values = {self.current[model], 1}
        if solved:
            median = statistics.median(solved)
            values |= {max(1, round(median * f)) for f in FACTORS}
        return sorted(values)

    @staticmethod
    def _key(totals: Totals, need: float) -> tuple[int, float, float]:
        if totals.solved >= need:
            return (0, totals.cost_usd, 0.0)
        return (1, -totals.solved, totals.cost_usd)


def calibrate(
    config: RouterConfig,
    table: OutcomeTable,
    *,
    target_solved: float,
    max_cost_ratio: float | None = None,
    folds: int = 5,
    seed: int = 0,
) -> Calibration:
    """Fit ``typical_steps`` to ``table``, cross-validated (see the module docstring).

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
    fitter = _Fitter(config, ladder, horizon=longest + 1)
    if not fitter.knobs:
        raise ConfigurationError(
            "no tier to calibrate: the ladder needs a tier with runs in the table below the "
            "highest one with runs"
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
        need = target_solved * _single(train, ladder, top).solved
        fitted = fitter.fit(train, need)
        results.append(
            Fold(
                tasks=len(held),
                strongest=_single(test, ladder, top),
                default=fitter.evaluate("default", test, fitter.current),
                calibrated=fitter.evaluate("calibrated", test, fitted),
                singles=single_models(test, ladder),
                oracle=oracle(test, ladder),
                typical_steps=tuple(fitted.items()),
            )
        )
    final = fitter.fit(table, target_solved * _single(table, ladder, top).solved)
    changed = tuple((m, v) for m, v in final.items() if v != config.models[m].typical_steps)
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
    )


def _single(table: OutcomeTable, ladder: Ladder, model: str) -> Totals:
    return next(t for t in single_models(table, ladder) if t.name == model)
