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

**Missing rows.** A tier with no row for a task (its models were not run on it) is climbed
past: the next tier up that has a row serves the task (within a tier, the first model in
config order that has a row). The last tier with a row counts as the top for that task.
Tasks are those with a row for at least one ladder model; each model missing for some of them
is reported (count and examples). Single models are scored over the tasks they have rows for.

**Oracle.** Per task, the cheapest model whose run solved it (ties: cheaper, then the lower
tier, then config order). Tasks no model solved are charged two ways, both reported: at the
top model's cost (the highest tier with a row for the task), and at zero.

**Strongest single model**: the one solving the most tasks; ties go to the higher tier, then
the more expensive. Everything here is pure: value objects in, value objects out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from agentroute._frozen import value_object
from agentroute.bench.ladder import Ladder, Schedule, fixed_schedule, map_ladder, policy_schedule
from agentroute.bench.outcomes import Outcome, OutcomeTable
from agentroute.config import RouterConfig

__all__ = [
    "Coverage",
    "Evaluation",
    "Leg",
    "Oracle",
    "TaskRun",
    "Totals",
    "coverage",
    "evaluate",
    "oracle",
    "pareto",
    "run_cascade",
    "run_task",
    "single_models",
    "strongest",
    "sweep",
]


@value_object
class Leg:
    """One model's part in a task's cascade: ``whole`` when its run was taken to its end."""

    tier: str
    model: str
    calls: int
    cost_usd: float
    whole: bool


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


def run_task(task_id: str, rows: Rows, ladder: Ladder, schedule: Schedule) -> TaskRun:
    """One task through the cascade (module docstring, steps 1-4)."""
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
        budget = None if last or leave is None else leave if schedule.per_tier else leave - 1 - done
        if budget is None or row.calls <= budget:
            legs.append(Leg(name, row.model, row.calls, row.cost_usd, True))
            return TaskRun(task_id, row.resolved, cost + row.cost_usd, tuple(legs), tuple(skipped))
        if budget > 0:
            part = row.cost_usd * budget / row.calls
            legs.append(Leg(name, row.model, budget, part, False))
            cost += part
            done += budget
        tier = max(schedule.climb_to[level], level + 1)


def _by_task(table: OutcomeTable, ladder: Ladder) -> dict[str, dict[str, Outcome]]:
    """Each task's rows by model, for ladder models only; tasks in order of first sight."""
    on_ladder = set(ladder.all_models)
    out: dict[str, dict[str, Outcome]] = {}
    for row in table.rows:
        if row.model in on_ladder:
            out.setdefault(row.task_id, {})[row.model] = row
    return out


def run_cascade(table: OutcomeTable, ladder: Ladder, schedule: Schedule) -> tuple[TaskRun, ...]:
    """Every task (with a ladder row) through the cascade, in table order."""
    return tuple(run_task(t, rows, ladder, schedule) for t, rows in _by_task(table, ladder).items())


def _totals(name: str, runs: tuple[TaskRun, ...]) -> Totals:
    return Totals(
        name,
        sum(r.solved for r in runs),
        sum(r.cost_usd for r in runs),
        len(runs),
        sum(len(r.legs) > 1 for r in runs),
    )


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
    table: OutcomeTable, ladder: Ladder, start: int, *, points: int = 100
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
        out.append(_totals(schedule.name, run_cascade(table, ladder, schedule)))
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


def evaluate(config: RouterConfig, table: OutcomeTable) -> Evaluation:
    """Map the ladder, derive the policy's escalation points, and score every contender."""
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
        policy=_totals("policy", runs),
        singles=singles,
        strongest=strongest(singles, ladder),
        oracle=oracle(table, ladder),
        sweep=sweep(table, ladder, schedule.start),
        coverage=coverage(table, ladder),
        notes=tuple(notes),
    )
