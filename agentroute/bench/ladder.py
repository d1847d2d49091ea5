"""The config's tier ladder laid over an outcome table, and when a calm loop climbs it.

**Ladder.** Each tier keeps the models of the table it names, in config order; within a tier
the first of them with a row for a task serves that task (the router's preference order; the
others are only fallbacks for deployment faults, never an escalation step). Where the config
and the table disagree:

* a config model absent from the table, with another model of its tier present: a note (that
  tier is served by the others);
* a tier none of whose models is in the table: skipped, with a note — the cascade climbs past
  it — *unless* the table has models that no tier names: then the names probably disagree, and
  the missing config model is an :class:`~agentroute.bench.outcomes.OutcomeError` naming it
  and the first row (line, column ``model``) of each table model the config does not know;
* table models that no tier names: ignored, with a note (so a table with none of the config's
  models is the error above).

**Escalation points** come from the configured :class:`~agentroute.policy.score.ScorePolicy`
itself, driven as a calm loop: for each tier, holding that tier, the policy is given
``Signals(step=k)`` (every other signal zero: no tool errors, no repeats, no context) for
k = 1, 2, …; the first k at which it picks a higher tier is where a calm loop leaves that
tier, and the tier it picks is where it goes. The start is the policy's own first decision
(``Signals(step=1)``, no previous tier). With ``policy.weights.step`` ≤ 0 the policy never
escalates on steps: every escalation point is infinite (said in the notes). Steps are
session steps: the k-th model call of the task's whole run, whatever tier served the earlier
ones — as the router counts them.

**Per-model step scales** (``models.<name>.typical_steps``) make the policy's step signal
depend on the tiers a session has held (:class:`~agentroute.policy.signals.StepProgress`), so
the escalation points are found along the calm loop's own path: one session driven from its
start, step by step, each decision recorded as the router records it; a tier on that path is
left at the session step where the policy leaves it there (after the steps made below it at
their own scales). A tier the path climbs past is derived as before, holding it from step 1
(every step at its own scale): the cascade enters it only when a task has no row on the tier
the path climbs to. Without scales both ways give the same points.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

from agentroute._frozen import value_object
from agentroute._types import Signals
from agentroute.bench.outcomes import Outcome, OutcomeError, OutcomeTable
from agentroute.config import RouterConfig
from agentroute.policy.score import ScorePolicy
from agentroute.session import SessionState

__all__ = ["Ladder", "RowLeave", "Schedule", "fixed_schedule", "map_ladder", "policy_schedule"]

RowLeave: TypeAlias = Callable[[int, Outcome], tuple[int | None, int] | None]
"""A row's own escalation point on a tier (:attr:`Schedule.row_leave`)."""


@value_object
class Ladder:
    """Every config tier (cheap → strong) with the models of the table it names."""

    tiers: tuple[str, ...]
    models: tuple[tuple[str, ...], ...]
    notes: tuple[str, ...] = ()

    @property
    def all_models(self) -> tuple[str, ...]:
        """The ladder's models, cheap tier first, config order within a tier."""
        return tuple(m for ms in self.models for m in ms)

    def tier_index(self, model: str) -> int:
        return next(i for i, ms in enumerate(self.models) if model in ms)

    @property
    def top(self) -> int:
        """The index of the highest tier with a model in the table."""
        return max(i for i, ms in enumerate(self.models) if ms)


@value_object
class Schedule:
    """When a calm loop leaves each tier (``None``: never), and which tier it climbs to.

    ``leave_at[i]`` counts session steps (the call at that step is the first on a higher tier),
    or, with ``per_tier``, calls made on tier ``i`` itself before it is left.

    ``row_leave``: a row's own escalation point, asked first for every row the cascade runs
    below the task's top (``row_leave(tier index, row)``; ``None``: use ``leave_at`` and
    ``climb_to``; else ``(calls on the tier before it is left or None for never, the tier
    climbed to)``): a routing log's rows replayed from their logged scores
    (:class:`~agentroute.bench.logged_leave.LoggedLeave`).
    """

    name: str
    start: int
    leave_at: tuple[int | None, ...]
    climb_to: tuple[int, ...]
    per_tier: bool = False
    notes: tuple[str, ...] = ()
    row_leave: RowLeave | None = None


def map_ladder(config: RouterConfig, table: OutcomeTable) -> Ladder:
    """Lay ``config``'s tiers over ``table``'s models (rules in the module docstring)."""
    if not table.rows:
        raise OutcomeError("no rows", source=table.source)
    present = set(table.models)
    named = {m for ms in config.tiers.values() for m in ms}
    foreign = [m for m in table.models if m not in named]
    tiers = config.tier_names
    models: list[tuple[str, ...]] = []
    notes: list[str] = []
    for tier in tiers:
        mine = tuple(m for m in config.tiers[tier] if m in present)
        absent = [m for m in config.tiers[tier] if m not in present]
        if absent and not mine and foreign:
            unknown = ", ".join(f"{m!r} (line {table.first_line(m)})" for m in foreign)
            raise OutcomeError(
                f"unknown model in the config: {', '.join(map(repr, absent))} (tier {tier}) has "
                f"no row, and the table's models {unknown} are in no tier: fix the names",
                source=table.source,
                line=table.first_line(foreign[0]),
                column="model",
            )
        if absent and mine:
            notes.append(
                f"tier {tier}: {', '.join(absent)} not in the table; served by {', '.join(mine)}"
            )
        elif absent:
            notes.append(f"tier {tier} skipped: none of its models ({', '.join(absent)}) is in it")
        models.append(mine)
    if foreign:
        notes.append(f"ignored: models in no tier of the config: {', '.join(foreign)}")
    return Ladder(tiers, tuple(models), tuple(notes))


def policy_schedule(config: RouterConfig, *, horizon: int = 2000) -> Schedule:
    """Escalation points of ``config``'s ScorePolicy on a calm loop (see the module docstring).

    Steps are tried up to ``horizon``; a tier not left by then is never left (pass at least the
    longest session the table allows: escalation beyond it cannot change any result).
    """
    policy = ScorePolicy(config)
    tiers = config.tier_names
    index = {t: i for i, t in enumerate(tiers)}
    start = index[policy(Signals(step=1), SessionState("bench")).tier]
    leave_at: list[int | None] = [None] * len(tiers)
    climb_to = list(range(len(tiers)))
    weight = config.policy.weights.get("step", 0.0)
    notes: list[str] = []
    if weight <= 0:
        notes.append(
            f"policy.weights.step is {weight:g}: the policy never escalates on steps alone, so "
            "every escalation point is infinite (a task runs on its start model as recorded)"
        )
    else:
        visited = _calm_path(policy, tiers, start, horizon, leave_at, climb_to)
        for level in range(start, len(tiers) - 1):
            if level in visited:
                continue
            for step in range(1, horizon + 1):
                state = SessionState.restored("bench", step=step, tier=tiers[level])
                chosen = index[policy(Signals(step=step), state).tier]
                if chosen > level:
                    leave_at[level], climb_to[level] = step, chosen
                    break
        never = [tiers[i] for i in range(start, len(tiers) - 1) if leave_at[i] is None]
        if never:
            notes.append(
                f"a calm loop never leaves {', '.join(never)} within {horizon:,} steps "
                "(treated as never)"
            )
    return Schedule("policy", start, tuple(leave_at), tuple(climb_to), False, tuple(notes))


def _calm_path(
    policy: ScorePolicy,
    tiers: tuple[str, ...],
    start: int,
    horizon: int,
    leave_at: list[int | None],
    climb_to: list[int],
) -> set[int]:
    """Drive one session through the calm loop from its start, recording each decision as the
    router does, and fill in where it leaves each tier it visits; returns those tiers."""
    index = {t: i for i, t in enumerate(tiers)}
    session = SessionState("bench-path")
    level, visited = start, {start}
    for step in range(1, horizon + 1):
        decision = policy(Signals(step=step), session)
        session.record(decision)
        chosen = index[decision.tier]
        if step > 1 and chosen > level:
            leave_at[level], climb_to[level] = step, chosen
            level = chosen
            visited.add(level)
        if level == len(tiers) - 1:
            break
    return visited


def fixed_schedule(tiers: int, start: int, calls: int) -> Schedule:
    """Every tier below the top is left after ``calls`` calls on it, for the next tier up."""
    leave_at = tuple(calls if i < tiers - 1 else None for i in range(tiers))
    climb = tuple(min(i + 1, tiers - 1) for i in range(tiers))
    return Schedule(f"k={calls}", start, leave_at, climb, per_tier=True)
