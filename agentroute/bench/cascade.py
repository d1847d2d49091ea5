"""Cost saved vs tasks solved: the policy's step escalation replayed over an outcome table.

The table says, for each task and model, whether the model's whole recorded run solved it,
what it cost and how many calls it made. It does not say what a run would have done had it
been switched mid-way, so the cascade is an approximation, applied to each task:

1. the task starts on the start tier's model (the policy's own first decision);
2. if that model's run ended within the calls the tier gets before the policy leaves it, the
   run is taken as recorded: solved or failed at its cost (a confident wrong answer is
   invisible to the router, so a failure that ends early is never escalated);
3. otherwise the router escalates at that call: the calls so far are charged pro rata
   (``cost_usd × calls_so_far / calls``) and the next tier's model is used, **its recorded run
   from its start** (a restart approximation: the stronger model did not see the first
   attempt, and its calls count on from the session's step), recursively up the ladder;
4. the highest tier with a row for the task takes its run as recorded.

A schedule may carry a per-row escalation point (``Schedule.row_leave``): for a row that has
one (a routing log's row with logged scores, :mod:`agentroute.bench.logged_leave`), its
calls on the tier before it is left, and the tier it climbs to, replace the schedule's in
steps 2-3 (counted on that tier, not in session steps); every other row uses the schedule.

**Censored rows** (``Outcome.censored``: a routing log's run that was left before it ended,
:mod:`agentroute.bench.log_table`). Below the budget the row replays as any other (step 3).
When the tier's budget reaches the row's calls (a policy that would have stayed longer than
the logged one did) the run is assumed to **keep failing**: it is charged pro rata up to the
budget (``cost_usd / calls × budget``) and the task climbs as in step 3; where the replay
never leaves the tier (the task's top, or a tier a calm loop never leaves) it is a failure at
its recorded cost. Pessimistic on purpose: a log never tells that staying longer would have
helped. A censored run gave no final answer, so the output check never sees it.

**Missing rows.** A tier with no row for a task (its models were not run on it) is climbed
past: the next tier up that has a row serves the task (within a tier, the first model in
config order that has a row). The last tier with a row counts as the top for that task.
Tasks are those with a row for at least one ladder model; each model missing for some of them
is reported (count and examples). Single models are scored over the tasks they have rows for.

**Oracle.** Per task, the cheapest model whose run solved it (ties: cheaper, then the lower
tier, then config order). Tasks no model solved are charged two ways, both reported: at the
top model's cost (the highest tier with a row for the task), and at zero.

**Strongest single model**: the one solving the most tasks; ties go to the higher tier, then
the more expensive.

**Output check** (a :class:`Verifier`, the ``Router(validator=...)`` behaviour). With a check,
step 2 changes: when a model's run ends as recorded within its tier's budget, the check looks
at its final answer and rejects it with probability ``recall`` when the run failed and ``fpr``
when it solved the task. A rejected run is charged **in full** and the task climbs **one** tier
(the next tier up with a row), whose model runs its recorded run from its start (the same
restart approximation as step 3); session steps go on counting from the rejected run's last
call, so a policy schedule may climb past that tier at once if its budget is already spent. The
task's top tier (the last with a row) is never rejected: there is nowhere to climb, and the
router returns the last answer as it is. Runs cut short by a step escalation are never checked
(they gave no final answer). The check has no retry limit here (the router's
``policy.max_validation_retries`` bounds re-runs of one step; each climb here is a new model's
run) and its failures do not feed the score (only the step signal moves).

*Draws.* :func:`check_draws` makes one uniform draw in [0, 1) per row of the table, in table
order, from ``random.Random(f"agentroute.bench.verifier/{seed}")`` (a stream of its own, not
the synthetic generator's); row ``i``'s run is rejected when its draw is below ``recall``
(failed run) or ``fpr`` (solved run). Every schedule (the policy's, every k of the sweep) and
every setting with the same seed use the same draws, so they differ by the check's rates and
the escalation points only, not by luck; a higher recall rejects a superset of failed runs.
*Without step escalation* (:func:`without_steps`) every tier keeps a task until its model's
run ends: only the check climbs.

Everything here is pure: value objects in, value objects out.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet

from agentroute._frozen import value_object
from agentroute.bench.ladder import Ladder, Schedule, fixed_schedule, map_ladder, policy_schedule
from agentroute.bench.outcomes import Outcome, OutcomeTable
from agentroute.config import RouterConfig
from agentroute.errors import ConfigurationError

__all__ = [
    "Checked",
    "Coverage",
    "Evaluation",
    "Leg",
    "Oracle",
    "TaskRun",
    "Totals",
    "Verifier",
    "check_draws",
    "checked",
    "coverage",
    "evaluate",
    "oracle",
    "pareto",
    "rejected_runs",
    "run_cascade",
    "run_task",
    "single_models",
    "strongest",
    "sweep",
    "totals",
    "without_steps",
]

VERIFIER_STREAM = "agentroute.bench.verifier"
"""The check's draws come from ``random.Random(f"{VERIFIER_STREAM}/{seed}")``."""


@value_object
class Leg:
    """One model's part in a task's cascade: ``whole`` when its run was taken to its end;
    ``rejected`` when the output check then rejected its answer (and the task climbed)."""

    tier: str
    model: str
    calls: int
    cost_usd: float
    whole: bool
    rejected: bool = False


@value_object
class TaskRun:
    """One task through the cascade; ``skipped`` lists tiers climbed past for lack of a row."""

    task_id: str
    solved: bool
    cost_usd: float
    legs: tuple[Leg, ...]
    skipped: tuple[str, ...] = ()


@value_object
class Totals:
    """Tasks solved and USD spent by one way of serving the tasks (over ``tasks`` tasks)."""

    name: str
    solved: int
    cost_usd: float
    tasks: int
    escalated: int = 0
    rejected: int = 0


@value_object
class Oracle:
    """The cheapest solving model per task; unsolved tasks charged at the top model or at 0."""

    solved: int
    cost_usd_top: float
    cost_usd_zero: float
    tasks: int
    picks: tuple[tuple[str, int], ...]


@value_object
class Coverage:
    """A ladder model without a row for ``missing`` of the tasks (``examples``: the first 3)."""

    model: str
    missing: int
    examples: tuple[str, ...]


@value_object
class Verifier:
    """An output check: rejects a failed final answer with probability ``recall``, a solved
    one with ``fpr`` (its false-positive rate), drawing from ``seed`` (module docstring)."""

    recall: float
    fpr: float
    seed: int = 0

    @property
    def label(self) -> str:
        return f"check R={self.recall:g} F={self.fpr:g}"


@value_object
class Checked:
    """The cascade under one output check: the policy's schedule (or, without ``steps``, no
    step escalation at all) and the k sweep (empty without ``steps``: there is no k)."""

    verifier: Verifier
    steps: bool
    policy: Totals
    sweep: tuple[Totals, ...]


@value_object
class Evaluation:
    """Everything the report shows about one table under one config."""

    ladder: Ladder
    schedule: Schedule
    tasks: tuple[str, ...]
    runs: tuple[TaskRun, ...]
    policy: Totals
    singles: tuple[Totals, ...]
    strongest: Totals
    oracle: Oracle
    sweep: tuple[Totals, ...]
    coverage: tuple[Coverage, ...]
    notes: tuple[str, ...]
    checks: tuple[Checked, ...] = ()


Rows = Mapping[str, Outcome]
"""One task's rows by model."""


def _rungs(rows: Rows, ladder: Ladder) -> list[tuple[int, Outcome]]:
    """(tier index, row) for each tier with a row for the task: its first model that has one."""
    out = []
    for i, models in enumerate(ladder.models):
        row = next((rows[m] for m in models if m in rows), None)
        if row is not None:
            out.append((i, row))
    return out


def run_task(
    task_id: str,
    rows: Rows,
    ladder: Ladder,
    schedule: Schedule,
    rejected: AbstractSet[tuple[str, str]] = frozenset(),
) -> TaskRun:
    """One task through the cascade (module docstring, steps 1-4).

    ``rejected``: the (task, model) runs whose final answer the output check rejects
    (:func:`rejected_runs`); such a run, when taken whole below the task's top, is charged in
    full and the task climbs one tier.
    """
    rungs = _rungs(rows, ladder)
    tier, done, cost = schedule.start, 0, 0.0
    legs: list[Leg] = []
    skipped: list[str] = []
    while True:
        found = next(((i, row) for i, row in rungs if i >= tier), None)
        upto = found[0] if found is not None else len(ladder.tiers)
        skipped += [ladder.tiers[i] for i in range(tier, upto) if ladder.models[i]]
        if found is None:  # no row at or above this tier: nothing left to run the task on
            return TaskRun(task_id, False, cost, tuple(legs), tuple(skipped))
        level, row = found
        name = ladder.tiers[level]
        leave = schedule.leave_at[level]
        last = level == rungs[-1][0]
        own = None if last or schedule.row_leave is None else schedule.row_leave(level, row)
        if own is not None:  # the row's own escalation point (its logged scores)
            budget, climb = own
        else:
            climb = schedule.climb_to[level]
            budget = (
                None if last or leave is None else leave if schedule.per_tier else leave - 1 - done
            )
        if row.censored and (budget is None or row.calls <= budget):
            if budget is None:  # nowhere the replay would leave it: it fails where it stopped
                legs.append(Leg(name, row.model, row.calls, row.cost_usd, False))
                return TaskRun(task_id, False, cost + row.cost_usd, tuple(legs), tuple(skipped))
            part = row.cost_usd * budget / row.calls  # kept failing until the budget ran out
            legs.append(Leg(name, row.model, budget, part, False))
            cost += part
            done += budget
            tier = max(climb, level + 1)
            continue
        if budget is None or row.calls <= budget:
            if last or (task_id, row.model) not in rejected:
                legs.append(Leg(name, row.model, row.calls, row.cost_usd, True))
                total = cost + row.cost_usd
                return TaskRun(task_id, row.resolved, total, tuple(legs), tuple(skipped))
            legs.append(Leg(name, row.model, row.calls, row.cost_usd, True, rejected=True))
            cost += row.cost_usd
            done += row.calls
            tier = level + 1
            continue
        if budget > 0:
            part = row.cost_usd * budget / row.calls
            legs.append(Leg(name, row.model, budget, part, False))
            cost += part
            done += budget
        tier = max(climb, level + 1)


def _by_task(table: OutcomeTable, ladder: Ladder) -> dict[str, dict[str, Outcome]]:
    """Each task's rows by model, for ladder models only; tasks in order of first sight."""
    on_ladder = set(ladder.all_models)
    out: dict[str, dict[str, Outcome]] = {}
    for row in table.rows:
        if row.model in on_ladder:
            out.setdefault(row.task_id, {})[row.model] = row
    return out


def run_cascade(
    table: OutcomeTable,
    ladder: Ladder,
    schedule: Schedule,
    rejected: AbstractSet[tuple[str, str]] = frozenset(),
) -> tuple[TaskRun, ...]:
    """Every task (with a ladder row) through the cascade, in table order."""
    return tuple(
        run_task(t, rows, ladder, schedule, rejected) for t, rows in _by_task(table, ladder).items()
    )


def totals(name: str, runs: Sequence[TaskRun]) -> Totals:
    """The :class:`Totals` of ``runs`` (one way of serving the tasks, named ``name``)."""
    return Totals(
        name,
        sum(r.solved for r in runs),
        sum(r.cost_usd for r in runs),
        len(runs),
        sum(len(r.legs) > 1 for r in runs),
        sum(leg.rejected for r in runs for leg in r.legs),
    )


def check_verifier(verifier: Verifier) -> None:
    """Raise :class:`~agentroute.errors.ConfigurationError` naming a rate outside [0, 1]."""
    for field, value in (("recall", verifier.recall), ("fpr", verifier.fpr)):
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise ConfigurationError(f"verifier {field}: must be in [0, 1], got {value!r}")


def check_draws(table: OutcomeTable, seed: int) -> tuple[float, ...]:
    """One uniform draw in [0, 1) per row of ``table``, in table order (module docstring)."""
    rng = random.Random(f"{VERIFIER_STREAM}/{seed}")
    return tuple(rng.random() for _ in table.rows)


def rejected_runs(table: OutcomeTable, verifier: Verifier) -> frozenset[tuple[str, str]]:
    """The (task, model) runs whose final answer ``verifier`` rejects: a row's draw below
    ``recall`` for a failed run, below ``fpr`` for a solved one."""
    check_verifier(verifier)
    return frozenset(
        (row.task_id, row.model)
        for row, u in zip(table.rows, check_draws(table, verifier.seed), strict=True)
        if u < (verifier.fpr if row.resolved else verifier.recall)
    )


def without_steps(schedule: Schedule) -> Schedule:
    """``schedule`` with no step escalation: every tier keeps a task until its run ends."""
    return dataclasses.replace(
        schedule,
        name="no step escalation",
        leave_at=tuple(None for _ in schedule.leave_at),
        climb_to=tuple(range(len(schedule.leave_at))),
        per_tier=False,
    )


def checked(
    table: OutcomeTable,
    ladder: Ladder,
    schedule: Schedule,
    verifier: Verifier,
    *,
    steps: bool = True,
    points: int = 100,
) -> Checked:
    """The policy's cascade and the k sweep under ``verifier`` (without ``steps``: the check
    alone, on a schedule that never leaves a tier on steps, and no sweep)."""
    rejected = rejected_runs(table, verifier)
    if steps:
        name = f"policy + {verifier.label}"
        runs = run_cascade(table, ladder, schedule, rejected)
        curve = sweep(table, ladder, schedule.start, points=points, rejected=rejected)
    else:
        name = f"{verifier.label}, no step escalation"
        runs = run_cascade(table, ladder, without_steps(schedule), rejected)
        curve = ()
    return Checked(verifier, steps, totals(name, runs), curve)


def single_models(table: OutcomeTable, ladder: Ladder) -> tuple[Totals, ...]:
    """Each ladder model alone, over the tasks it has rows for (ladder order)."""
    out = []
    by_task = _by_task(table, ladder)
    for model in ladder.all_models:
        rows = [rows[model] for rows in by_task.values() if model in rows]
        out.append(
            Totals(model, sum(r.resolved for r in rows), sum(r.cost_usd for r in rows), len(rows))
        )
    return tuple(out)


def strongest(singles: tuple[Totals, ...], ladder: Ladder) -> Totals:
    """The single model solving the most tasks; ties: the higher tier, then the dearer."""
    order = {m: i for i, m in enumerate(ladder.all_models)}
    return max(
        singles, key=lambda t: (t.solved, ladder.tier_index(t.name), t.cost_usd, order[t.name])
    )


def oracle(table: OutcomeTable, ladder: Ladder) -> Oracle:
    """The cheapest solving model per task (ties: cheaper, lower tier, config order)."""
    order = {m: i for i, m in enumerate(ladder.all_models)}
    solved = 0
    cost_top = cost_zero = 0.0
    picks: Counter[str] = Counter()
    by_task = _by_task(table, ladder)
    for rows in by_task.values():
        wins = [r for r in rows.values() if r.resolved]
        if wins:
            best = min(wins, key=lambda r: (r.cost_usd, ladder.tier_index(r.model), order[r.model]))
            solved += 1
            picks[best.model] += 1
            cost_top += best.cost_usd
            cost_zero += best.cost_usd
        else:
            cost_top += _rungs(rows, ladder)[-1][1].cost_usd
    named = tuple((m, picks[m]) for m in ladder.all_models if picks[m])
    return Oracle(solved, cost_top, cost_zero, len(by_task), named)


def coverage(table: OutcomeTable, ladder: Ladder) -> tuple[Coverage, ...]:
    """Ladder models without a row for some tasks: how many, and the first few."""
    by_task = _by_task(table, ladder)
    out = []
    for model in ladder.all_models:
        missing = [t for t, rows in by_task.items() if model not in rows]
        if missing:
            out.append(Coverage(model, len(missing), tuple(missing[:3])))
    return tuple(out)


def sweep(
    table: OutcomeTable,
    ladder: Ladder,
    start: int,
    *,
    points: int = 100,
    rejected: AbstractSet[tuple[str, str]] = frozenset(),
) -> tuple[Totals, ...]:
    """The cascade with every tier left after k calls on it, for k = 1 … the longest run.

    Every k when the longest run has at most ``points`` calls, else ``points`` values of k
    spread geometrically from 1 to the longest (so a table with very long runs stays fast).
    """
    longest = max(r.calls for r in table.rows if r.model in ladder.all_models)
    ks = list(range(1, longest + 1))
    if longest > points:
        ks = sorted({round(longest ** (i / (points - 1))) for i in range(points)})
    out = []
    for k in ks:
        schedule = fixed_schedule(len(ladder.tiers), start, k)
        out.append(totals(schedule.name, run_cascade(table, ladder, schedule, rejected)))
    return tuple(out)


def pareto(points: Sequence[Totals]) -> set[str]:
    """Names of the points no other point beats (cheaper or equal, and solving more)."""
    best = -1
    out = set()
    for t in sorted(points, key=lambda t: (t.cost_usd, -t.solved)):
        if t.solved > best:
            out.add(t.name)
            best = t.solved
    return out


def evaluate(
    config: RouterConfig,
    table: OutcomeTable,
    *,
    verifiers: Sequence[Verifier] = (),
    step_escalation: bool = True,
) -> Evaluation:
    """Map the ladder, derive the policy's escalation points, and score every contender.

    Each of ``verifiers`` adds one :class:`Checked` (in order): the cascade under that output
    check, with the policy's step escalation or, when ``step_escalation`` is false, without any.
    Raises :class:`~agentroute.errors.ConfigurationError` for a rate outside [0, 1].
    """
    for verifier in verifiers:
        check_verifier(verifier)
    ladder = map_ladder(config, table)
    longest = sum(
        max((r.calls for r in table.rows if r.model in ms), default=0) for ms in ladder.models
    )
    schedule = policy_schedule(config, horizon=max(2000, longest + 1))
    runs = run_cascade(table, ladder, schedule)
    singles = single_models(table, ladder)
    notes = [*ladder.notes, *schedule.notes]
    stranded = [r.task_id for r in runs if not r.legs]
    if stranded:
        notes.append(
            f"{len(stranded)} tasks have no row at or above the start tier "
            f"(counted unsolved at $0), e.g. {', '.join(stranded[:3])}"
        )
    skipping = [r for r in runs if r.skipped]
    if skipping:
        notes.append(
            f"{len(skipping)} tasks climbed past a tier with no row for them "
            f"(e.g. {skipping[0].task_id}: {', '.join(skipping[0].skipped)})"
        )
    dropped = len({r.task_id for r in table.rows} - {r.task_id for r in runs})
    if dropped:
        notes.append(f"{dropped} tasks have rows only for models in no tier (left out)")
    return Evaluation(
        ladder=ladder,
        schedule=schedule,
        tasks=tuple(r.task_id for r in runs),
        runs=runs,
        policy=totals("policy", runs),
        singles=singles,
        strongest=strongest(singles, ladder),
        oracle=oracle(table, ladder),
        sweep=sweep(table, ladder, schedule.start),
        coverage=coverage(table, ladder),
        notes=tuple(notes),
        checks=tuple(checked(table, ladder, schedule, v, steps=step_escalation) for v in verifiers),
    )
