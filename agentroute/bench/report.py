"""The cascade benchmark as tables a person reads: rich for the terminal, markdown for files.

Both renderings are built from the same rows (:func:`contender_rows`, :func:`frontier_rows`,
:func:`ladder_rows`), so the terminal and the committed result never disagree.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from pathlib import Path

from rich.console import Console
from rich.table import Table

from agentroute._cli_tables import add_row, cli_table, print_table
from agentroute.bench.cascade import Checked, Evaluation, Totals, pareto

__all__ = [
    "APPROXIMATION",
    "CHECK",
    "check_frontier_rows",
    "contender_rows",
    "frontier_rows",
    "headline",
    "ladder_rows",
    "markdown",
    "print_report",
    "save_results",
]

APPROXIMATION = (
    "Approximation (per task): start on the start tier's model; a run that ends within the "
    "calls its tier gets before the policy climbs is taken as recorded (solved, or failed at "
    "its cost: a confident wrong answer is invisible to the router); otherwise the calls so "
    "far are charged pro rata (cost × k / calls) and the next tier's model is used with its "
    "recorded run from its start (a restart approximation: the stronger model does not "
    "continue the weaker one's work); the highest tier with a row takes its run as recorded. "
    "A tier with no row for a task is climbed past. Only the step signal moves: no tool "
    "errors, repeats, context growth or step-downs."
)

CHECK = (
    "Output check (R=recall, F=false-positive rate): when a model's run ends within its "
    "tier's budget below the task's top tier, its final answer is rejected with probability R "
    "if the run failed and F if it solved the task (one seeded draw per table row, shared by "
    "every schedule); a rejected run is charged in full and the next tier's model runs its "
    "recorded run from its start, session steps counting on. The top tier's answer is never "
    "rejected; runs cut short by a step escalation are not checked."
)

CONTENDER_COLUMNS = ("contender", "tier", "solved", "tasks", "cost $", "vs strongest")
FRONTIER_COLUMNS = ("k", "solved", "cost $", "escalated", "frontier")
_NUMERIC = frozenset({"solved", "tasks", "cost $", "escalated", "k", "vs strongest"})
LADDER_COLUMNS = ("tier", "models in the table", "calm loop leaves at step", "climbs to")


def _ratio(cost: float, strongest: Totals) -> str:
    return f"{cost / strongest.cost_usd:.0%}" if strongest.cost_usd else "-"


def contender_rows(ev: Evaluation) -> list[tuple[str, ...]]:
    """Single models, the policy, and the oracle (two ways of charging unsolved tasks)."""
    s, p, o = ev.strongest, ev.policy, ev.oracle
    rows: list[tuple[str, str, int, int, float]] = []
    for t in ev.singles:
        name = f"{t.name} (strongest)" if t.name == s.name else t.name
        tier = ev.ladder.tiers[ev.ladder.tier_index(t.name)]
        rows.append((name, tier, t.solved, t.tasks, t.cost_usd))
    rows.append(("policy", "ladder", p.solved, p.tasks, p.cost_usd))
    for c in ev.checks:
        rows.append((c.policy.name, "ladder", c.policy.solved, c.policy.tasks, c.policy.cost_usd))
    for label, cost in (("top", o.cost_usd_top), ("$0", o.cost_usd_zero)):
        rows.append((f"oracle, unsolved at {label}", "ladder", o.solved, o.tasks, cost))
    return [
        (name, tier, str(solved), str(tasks), f"{cost:.4f}", _ratio(cost, s))
        for name, tier, solved, tasks, cost in rows
    ]


def headline(ev: Evaluation) -> list[str]:
    """The policy against the strongest single model and the oracle, one sentence each."""
    p, s, o = ev.policy, ev.strongest, ev.oracle
    saved = f"saves {1 - p.cost_usd / s.cost_usd:.0%}" if s.cost_usd else "no cost to compare"
    return [
        f"Policy: {p.solved}/{p.tasks} solved for ${p.cost_usd:.4f} ({p.escalated} tasks "
        f"escalated).",
        f"Against the strongest single model, {s.name} ({s.solved}/{s.tasks} for "
        f"${s.cost_usd:.4f}): {_ratio(p.cost_usd, s)} of its cost ({saved}), "
        f"{p.solved - s.solved:+d} tasks solved"
        + (f" ({p.solved / s.solved:.0%} of its solved)." if s.solved else "."),
        f"Oracle: {o.solved}/{o.tasks} solved for ${o.cost_usd_zero:.4f} "
        f"(${o.cost_usd_top:.4f} with unsolved tasks charged at the top model's cost).",
        *(_check_headline(c, s) for c in ev.checks),
    ]


def _check_headline(c: Checked, s: Totals) -> str:
    t = c.policy
    return (
        f"{t.name[0].upper()}{t.name[1:]}: {t.solved}/{t.tasks} solved for ${t.cost_usd:.4f} "
        f"({_ratio(t.cost_usd, s)} of the strongest's cost; {t.rejected} answers rejected, "
        f"{t.escalated} tasks escalated)."
    )


def ladder_rows(ev: Evaluation) -> list[tuple[str, ...]]:
    """Each tier from the start up: its models in the table and the policy's climb point."""
    sch, lad = ev.schedule, ev.ladder
    rows: list[tuple[str, ...]] = []
    for i in range(sch.start, len(lad.tiers)):
        leave = sch.leave_at[i]
        top = i == len(lad.tiers) - 1
        rows.append(
            (
                lad.tiers[i],
                ", ".join(lad.models[i]) or "(none: skipped)",
                "top" if top else "never" if leave is None else str(leave),
                "" if top or leave is None else lad.tiers[sch.climb_to[i]],
            )
        )
    return rows


def frontier_rows(ev: Evaluation) -> list[tuple[str, ...]]:
    """The sweep: every non-top tier left after k calls on it, k = 1 … the longest run."""
    return _sweep_rows(ev.sweep)


def check_frontier_rows(c: Checked) -> list[tuple[str, ...]]:
    """One check's block: its sweep, or (without step escalation) its one point, k "none"."""
    if c.steps:
        return _sweep_rows(c.sweep)
    t = c.policy
    return [("none", str(t.solved), f"{t.cost_usd:.4f}", str(t.escalated), "")]


def _check_title(c: Checked) -> str:
    if c.steps:
        return f"frontier with the {c.verifier.label} (seed {c.verifier.seed})"
    return f"{c.verifier.label} (seed {c.verifier.seed}), no step escalation"


def _sweep_rows(sweep: Sequence[Totals]) -> list[tuple[str, ...]]:
    on = pareto(sweep)
    return [
        (
            t.name.removeprefix("k="),
            str(t.solved),
            f"{t.cost_usd:.4f}",
            str(t.escalated),
            "✓" if t.name in on else "",
        )
        for t in sweep
    ]


def _details(ev: Evaluation) -> list[str]:
    lines = [
        "Escalation points: ScorePolicy itself, holding each tier, given Signals(step=k) and "
        "nothing else, k = 1, 2, …: the first k where it picks a higher tier (session steps).",
        APPROXIMATION,
    ]
    lines += [CHECK] if ev.checks else []
    lines += list(ev.notes)
    for c in ev.coverage:
        lines.append(
            f"{c.model} has no row for {c.missing} of {len(ev.tasks)} tasks "
            f"(e.g. {', '.join(c.examples)})"
        )
    return lines


def _table(columns: Sequence[str], rows: list[tuple[str, ...]]) -> Table:
    """A terminal table: numbers and headers are never cut; names fold onto a second line
    only when longer than the room an 80-column terminal leaves them."""
    table = cli_table(columns, numeric=_NUMERIC)
    for row in rows:
        add_row(table, *row)
    return table


def print_report(console: Console, ev: Evaluation, source: str, about: Sequence[str] = ()) -> None:
    """The whole result on the terminal, the headline last (where the eye lands)."""
    frontier = "frontier: each tier left after k calls on it"
    print_table(console, "tier ladder (policy)", _table(LADDER_COLUMNS, ladder_rows(ev)))
    console.print()
    print_table(console, frontier, _table(FRONTIER_COLUMNS, frontier_rows(ev)))
    console.print()
    for c in ev.checks:
        print_table(console, _check_title(c), _table(FRONTIER_COLUMNS, check_frontier_rows(c)))
        console.print()
    for line in [*about, *_details(ev)]:
        console.print(f"note: {line}", highlight=False, soft_wrap=True, markup=False)
    console.print()
    contenders = _table(CONTENDER_COLUMNS, contender_rows(ev))
    print_table(console, f"cost vs solved: {source}", contenders)
    for line in headline(ev):
        console.print(line, highlight=False, soft_wrap=True, markup=False)


def _md_table(
    columns: Sequence[str], rows: list[tuple[str, ...]], right: AbstractSet[str]
) -> list[str]:
    head = "| " + " | ".join(columns) + " |"
    rule = "|" + "|".join("---:" if c in right else "---" for c in columns) + "|"
    return [head, rule, *("| " + " | ".join(r) + " |" for r in rows)]


def markdown(
    ev: Evaluation,
    *,
    command: str,
    source: str,
    plot: str | None = None,
    same_as: str | None = None,
    about: Sequence[str] = (),
) -> str:
    """The result as a markdown page stating the exact command (and an equivalent one)."""
    right = _NUMERIC
    lines = [
        "# Routing quality: cost saved vs tasks solved",
        "",
        f"Command: `{command}`" + (f" (the same as `{same_as}`)" if same_as else ""),
        "",
        f"Outcomes: {source} — {len(ev.tasks)} tasks.",
        "",
        *(f"- {line}" for line in about),
        *([""] if about else []),
        *_md_table(CONTENDER_COLUMNS, contender_rows(ev), right),
        "",
        *(f"- {line}" for line in headline(ev)),
        "",
        "## Tier ladder",
        "",
        *_md_table(LADDER_COLUMNS, ladder_rows(ev), right),
        "",
        "## Frontier",
        "",
        "The cascade with every non-top tier left after k calls on it (✓: no other k is "
        "cheaper and solves as many).",
        "",
        *_md_table(FRONTIER_COLUMNS, frontier_rows(ev), right),
        "",
    ]
    for c in ev.checks:
        title = _check_title(c)
        lines += [f"### {title[0].upper()}{title[1:]}", ""]
        lines += [*_md_table(FRONTIER_COLUMNS, check_frontier_rows(c), right), ""]
    if plot is not None:
        lines += [f"![cost vs solved]({plot})", ""]
    lines += ["## How it is computed", "", *(f"- {line}" for line in _details(ev)), ""]
    return "\n".join(lines)


def save_results(
    console: Console,
    ev: Evaluation,
    *,
    source: str,
    command: str,
    plot: Path | None,
    output: Path | None,
    about: Sequence[str] = (),
) -> None:
    """Write the PNG plot and the markdown page (each when asked), saying what was written.

    Without matplotlib the plot is skipped with a message naming the extra to install; the
    markdown then has no image.
    """
    from agentroute.bench.plot import MISSING_MATPLOTLIB, plot_available, plot_frontier

    plotted = False
    if plot is not None:
        if plot_available():
            plot.parent.mkdir(parents=True, exist_ok=True)
            plot_frontier(ev, plot, title=f"cost vs tasks solved: {source}")
            console.print(f"written: {plot}", highlight=False, markup=False)
            plotted = True
        else:
            console.print(MISSING_MATPLOTLIB, highlight=False, soft_wrap=True, markup=False)
    if output is not None:
        link = Path(os.path.relpath(plot, output.parent)).as_posix() if plot and plotted else None
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(
            markdown(ev, command=command, source=source, plot=link, about=about), "utf-8"
        )
        console.print(f"written: {output}", highlight=False, markup=False)
