"""Routing logs as an outcome table: the rows ``bench cascade`` and ``calibrate`` replay.

A routing log (docs/routing-log.md) routed each session once: it has no counterfactual runs,
only the one path the router took. :func:`log_table` turns it into the per-(task, model)
rows of :class:`~agentroute.bench.outcomes.OutcomeTable` through a stated proxy:

- **Task**: one session with a verdict (:func:`agentroute.bench.routing_report.verdict`:
  ``success``, else ``score >= 0.5``). Sessions without an outcome, or whose outcome has
  neither ``success`` nor ``score``, are skipped and counted. The task id is the session
  line's ``record_id`` (unique; session ids of implicit sessions recur). Lines are read,
  validated and joined as ``agentroute report`` does (:func:`~agentroute.bench.
  routing_report.iter_lines`): an ``outcome`` line joins the session line whose
  ``record_id`` is its ``session_record``, the latest ``recorded_at`` wins (a tie: the one
  read last); an outcome for an unknown session is never joined by ``session_id``.
- **Rows**: the session's steps grouped by ``model`` (steps whose model is null are ignored):
  ``calls`` = its steps, ``cost_usd`` = the sum of their ``cost_usd``. The model of the
  session's last such step ran to the end: its row's ``resolved`` is the verdict, a
  **complete** run. Every other model the session used was left before the session ended
  (escalated away, or stepped down from): ``resolved`` false and **censored**; the replay
  assumes such a run keeps failing if kept longer (:mod:`agentroute.bench.cascade`).
  Each row also keeps its steps' logged ``contributions`` (``Outcome.steps``: the steps on
  its model, then the step that left it for good, when the session went on), which
  ``calibrate`` replays under candidate weights (:mod:`agentroute.bench.logged_leave`).
- **Imputation**: for a ladder model (one a tier of the config names) a session never used,
  a row is made from that model's complete runs over the whole log: ``resolved`` drawn with
  its solved rate ``p`` from ``random.Random(f"{seed}:{task}:{model}")`` (a task's draw does
  not depend on the other sessions read), ``calls`` and ``cost_usd`` the medians (calls
  rounded, at least 1).
  Only models with at least :data:`MIN_COMPLETE` complete runs are imputed from; the others
  stay missing for the tasks that did not use them (the replay climbs past a missing tier)
  and are named in :attr:`LogTable.too_few` (a model absent from the log too, with 0 runs).

- **Shadow comparisons** (a step's ``shadow`` field, ``shadow`` lines) are gathered as
  ``agentroute report`` joins them (:class:`~agentroute.bench.shadow_evidence.LoggedShadows`)
  into :attr:`LogTable.shadow`, for ``calibrate`` to weigh (:func:`~agentroute.bench.
  shadow_evidence.hold_evidence`); they make no rows.

So single-model and oracle figures over such a table are estimates: a model's tasks are the
ones it served (censored runs count as failures at what they cost before they were left)
plus imputed ones. :meth:`LogTable.notes` says all of this in lines a command prints.
"""

from __future__ import annotations

import random
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence

from agentroute._frozen import value_object
from agentroute.bench.outcomes import Outcome, OutcomeTable
from agentroute.bench.routing_report import expand_inputs, iter_lines, verdict
from agentroute.bench.shadow_evidence import LoggedShadow, LoggedShadows
from agentroute.config import RouterConfig
from agentroute.errors import ConfigurationError
from agentroute.telemetry.routing_log_schema import (
    OutcomeLine,
    OutcomeRecord,
    SessionLine,
    ShadowLine,
)

__all__ = ["MIN_COMPLETE", "PROXY_NOTE", "LogTable", "log_table"]

MIN_COMPLETE = 5
"""A model is imputed from only when it has at least this many complete runs in the log."""

PROXY_NOTE = (
    "proxy: each logged session was routed once. A model a session left is a censored run "
    "(unsolved at what it cost until left; replayed as failing on if kept longer: a log "
    "never shows that staying longer would have helped). A ladder model a session never "
    "reached gets an imputed row (that model's solved rate, median calls and cost over its "
    "complete runs in the log, seeded), so single-model and oracle figures are estimates."
)


@value_object
class LogTable:
    """An outcome table made from routing logs, with the facts a command prints about it."""

    table: OutcomeTable
    files: tuple[str, ...]
    sessions: int
    """Session lines read (a repeated ``record_id`` counted once)."""
    no_verdict: int
    """Sessions skipped: no outcome, or an outcome with neither ``success`` nor ``score``."""
    no_model: int
    """Sessions with a verdict but no step naming a model (no rows: skipped)."""
    bad_lines: int
    """Invalid lines skipped (only with ``skip_bad``)."""
    complete: int
    """Rows of a session's last model (their ``resolved`` is the verdict)."""
    censored: int
    imputed: tuple[tuple[str, int], ...]
    """Imputed rows per model, in ladder order (models with none left out)."""
    too_few: tuple[tuple[str, int], ...]
    """Ladder models (tier order) with fewer than :data:`MIN_COMPLETE` complete runs:
    (model, runs)."""
    seed: int = 0
    shadow: tuple[LoggedShadow, ...] = ()
    """The shadowed steps of the logs read (every session, with a verdict or not)."""

    @property
    def tasks(self) -> int:
        return len(self.table.tasks)

    @property
    def rows(self) -> int:
        return len(self.table.rows)

    def notes(self) -> tuple[str, ...]:
        """The facts and the proxy, one sentence per line, for a command to print."""
        skipped = f"{self.no_verdict} without a verdict skipped (no outcome, or neither "
        skipped += "success nor score)"
        if self.no_model:
            skipped += f", {self.no_model} with no step naming a model"
        bad = f"; {self.bad_lines} bad lines skipped" if self.bad_lines else ""
        imputed = sum(n for _, n in self.imputed)
        lines = [
            f"routing log: {self.sessions} sessions read from {len(self.files)} files, "
            f"{skipped}{bad}",
            f"{self.tasks} tasks, {self.rows} rows: {self.complete} complete runs, "
            f"{self.censored} censored, {imputed} imputed (seed {self.seed})",
        ]
        if self.imputed:
            lines.append("imputed rows: " + ", ".join(f"{m} {n}" for m, n in self.imputed))
        if self.too_few:
            lines.append(
                f"not imputed (fewer than {MIN_COMPLETE} complete runs in the log): "
                + ", ".join(f"{m} ({n})" for m, n in self.too_few)
                + "; the replay climbs past them where a task has no row"
            )
        lines.append(PROXY_NOTE)
        return tuple(lines)


def log_table(
    files: Sequence[str], config: RouterConfig, *, seed: int = 0, skip_bad: bool = False
) -> LogTable:
    """Read routing logs and make the outcome table (rules in the module docstring).

    ``files``: paths, globs, ``.gz`` files or ``-`` (stdin), as ``agentroute report`` takes
    them. Raises :class:`~agentroute.errors.ConfigurationError` for a missing file, a bad line
    (``file:line: field: problem``; with ``skip_bad`` counted instead), a newer schema, or a
    log without any session with a verdict.
    """
    names = expand_inputs(files)
    sessions: dict[str, SessionLine] = {}
    outcomes: dict[str, OutcomeRecord | None] = {}
    pending: list[OutcomeLine] = []
    shadow = LoggedShadows()
    bad = 0

    def count_bad() -> None:
        nonlocal bad
        bad += 1

    for line in iter_lines(names, skip_bad=skip_bad, on_bad=count_bad):
        if isinstance(line, OutcomeLine):
            if line.session_known and line.session_record is not None:
                pending.append(line)
        elif isinstance(line, ShadowLine):
            shadow.add_line(line)
        elif line.record_id not in sessions:
            sessions[line.record_id] = line
            outcomes[line.record_id] = line.outcome
            shadow.add_session(line)
    for o in pending:  # in reading order: a tie of recorded_at goes to the later one
        if o.session_record in outcomes:
            held = outcomes[o.session_record]
            if held is None or o.outcome.recorded_at >= held.recorded_at:
                outcomes[o.session_record] = o.outcome
    shown = tuple("<stdin>" if n == "-" else n for n in names)

    rows: list[Outcome] = []
    no_verdict = no_model = 0
    for record, session in sessions.items():
        solved = verdict(outcomes[record])
        if solved is None:
            no_verdict += 1
            continue
        made = _session_rows(record, session, solved)
        if not made:
            no_model += 1
        rows += made
    if not rows:
        raise ConfigurationError(
            f"LOG: no session with a verdict among the {len(sessions)} sessions read "
            f"({no_verdict} without an outcome that has success or score"
            + (f", {no_model} without a step naming a model" if no_model else "")
            + "): record outcomes with success= or score= to calibrate or replay from a log"
        )
    observed = OutcomeTable(tuple(rows), source=", ".join(shown) or "routing log")
    ladder = dict.fromkeys(m for tier in config.tier_names for m in config.tiers[tier])
    _check_names(observed, config)
    imputed, counts, too_few = _impute(observed, tuple(ladder), seed)
    return LogTable(
        table=OutcomeTable((*observed.rows, *imputed), observed.source),
        files=shown,
        sessions=len(sessions),
        no_verdict=no_verdict,
        no_model=no_model,
        bad_lines=bad,
        complete=sum(not r.censored for r in observed.rows),
        censored=sum(r.censored for r in observed.rows),
        imputed=counts,
        too_few=too_few,
        seed=seed,
        shadow=tuple(shadow.samples),
    )


def _check_names(observed: OutcomeTable, config: RouterConfig) -> None:
    """Refuse a log whose models the config does not name where a tier has none of them (the
    ladder's rule, :func:`~agentroute.bench.ladder.map_ladder`, said without table lines)."""
    present = set(observed.models)
    named = {m for ms in config.tiers.values() for m in ms}
    foreign = [m for m in observed.models if m not in named]
    empty = [t for t in config.tier_names if not present & set(config.tiers[t])]
    if foreign and empty:
        raise ConfigurationError(
            f"LOG: the steps' models {', '.join(map(repr, foreign))} are in no tier of the "
            f"config, and tier {empty[0]} ({', '.join(config.tiers[empty[0]])}) has no step "
            "in the log: is this the config the log was written with?"
        )


def _session_rows(task: str, session: SessionLine, solved: bool) -> list[Outcome]:
    """One row per model the session's steps name; the last step's model is the complete
    run, every other one censored. Each row keeps its steps' logged contributions, then those
    of the step that left it for good (the first step after its last one)."""
    calls: Counter[str] = Counter()
    cost: defaultdict[str, float] = defaultdict(float)
    shares: defaultdict[str, list[tuple[tuple[str, float], ...]]] = defaultdict(list)
    leaving: dict[str, tuple[tuple[str, float], ...]] = {}
    last = None
    for step in session.steps:
        if step.model is None:
            continue
        logged = tuple(step.contributions.items())
        if last is not None and last != step.model:
            leaving[last] = logged  # a later return to ``last`` replaces it
        leaving.pop(step.model, None)
        calls[step.model] += 1
        cost[step.model] += step.cost_usd
        shares[step.model].append(logged)
        last = step.model
    return [
        Outcome(
            task,
            model,
            solved if model == last else False,
            cost[model],
            n,
            censored=model != last,
            steps=(*shares[model], *([leaving[model]] if model in leaving else [])),
        )
        for model, n in calls.items()
    ]


def _impute(
    observed: OutcomeTable, models: Sequence[str], seed: int
) -> tuple[list[Outcome], tuple[tuple[str, int], ...], tuple[tuple[str, int], ...]]:
    """Rows for each (task, ladder model) pair the log lacks, from the model's complete runs
    (module docstring); the counts made per model and the models too thin to impute from."""
    have = {(r.task_id, r.model) for r in observed.rows}
    complete: defaultdict[str, list[Outcome]] = defaultdict(list)
    for r in observed.rows:
        if not r.censored:
            complete[r.model].append(r)
    made: list[Outcome] = []
    counts: list[tuple[str, int]] = []
    too_few: list[tuple[str, int]] = []
    for model in models:
        runs = complete[model]
        if len(runs) < MIN_COMPLETE:
            too_few.append((model, len(runs)))
            continue
        p = sum(r.resolved for r in runs) / len(runs)
        calls = max(1, round(statistics.median(r.calls for r in runs)))
        cost = statistics.median(r.cost_usd for r in runs)
        n = 0
        for task in observed.tasks:
            if (task, model) in have:
                continue
            draw = random.Random(f"{seed}:{task}:{model}").random()
            made.append(Outcome(task, model, draw < p, cost, calls, imputed=True))
            n += 1
        if n:
            counts.append((model, n))
    return made, tuple(counts), tuple(too_few)
