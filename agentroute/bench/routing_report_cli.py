"""``agentroute report LOG…``: the weekly look at routing logs (docs/routing-log.md).

Reads every LOG (paths, globs, ``-`` for stdin, ``.gz``) with
:func:`agentroute.bench.routing_report.read_routing_logs` and prints, in tables readable at 80
columns: calls, cost, sessions and solved rate per tier; the escalation causes (count, share,
solved rate of the sessions they escalated); tier switches per session; then the outcome
lines (sessions without one, escalated-and-failed sessions with a few ids, outcomes that could
not be joined); then the shadow agreement per served tier and cause, and the steps that
disagreed most ("no shadowed steps" when the logs hold none). ``--json`` prints the same
figures as one JSON object instead (for scripts);
``--plot PNG`` draws cost per tier per day and solved vs cost (the ``bench`` extra). A progress
bar (on stderr) follows the bytes read when stderr is a terminal, unless ``--quiet``. Bad
input exits 2 with ``file:line: field: problem``; ``--skip-bad`` counts bad lines instead.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.markup import escape

from agentroute._cli_tables import add_row, cli_table, print_table
from agentroute.errors import ConfigurationError

if TYPE_CHECKING:  # the reader (pydantic models) is imported when the command runs
    from agentroute.bench.routing_report import RoutingReport

__all__ = ["print_report", "report"]


@click.command()
@click.argument("logs", nargs=-1, required=True, metavar="LOG...")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
@click.option(
    "--plot",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write a PNG: cost per tier per day, solved vs cost (needs agentroute[bench]).",
)
@click.option(
    "--skip-bad", is_flag=True, help="Count invalid lines and go on (default: stop at the first)."
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def report(
    logs: tuple[str, ...], as_json: bool, plot: Path | None, skip_bad: bool, quiet: bool
) -> None:
    """Summarise routing logs: per-tier calls and cost, escalation causes, switches per
    session, solved rates. LOG: a file, a glob, a .gz file, or - for stdin."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    from agentroute.bench.routing_report import expand_inputs, read_routing_logs, total_bytes

    console = Console()
    errors = Console(stderr=True)
    try:
        files = expand_inputs(logs)
        total = total_bytes(files)
        show = not quiet and errors.is_terminal
        columns = ("reading", BarColumn(), DownloadColumn(), TimeRemainingColumn())
        with Progress(*columns, console=errors, transient=True, disable=not show) as bar:
            task = bar.add_task("reading", total=total)
            result = read_routing_logs(
                files, skip_bad=skip_bad, progress=lambda n: bar.update(task, completed=n)
            )
    except ConfigurationError as exc:
        errors.print(f"[red]✗[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise SystemExit(2) from None
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        print_report(console, result)
    if plot is not None:
        _plot(errors if as_json else console, result, plot)


def _plot(console: Console, result: RoutingReport, path: Path) -> None:
    from agentroute.bench.plot import MISSING_MATPLOTLIB, plot_available

    if not plot_available():
        console.print(MISSING_MATPLOTLIB, highlight=False, markup=False)
        return
    from agentroute.bench.routing_report_plot import plot_report

    path.parent.mkdir(parents=True, exist_ok=True)
    plot_report(result, path)
    console.print(f"plot written: {path}", highlight=False, markup=False)


def _pct(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "-"


def _day(t: float | None) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d") if t is not None else "-"


def print_report(console: Console, r: RoutingReport) -> None:
    """The tables and the outcome lines (every line fits 80 columns for usual names)."""

    def say(text: str) -> None:
        console.print(text, highlight=False, markup=False)

    span = f"{_day(r.first_time)} … {_day(r.last_time)} UTC" if r.calls else "no calls"
    say(f"{r.sessions:,} sessions, {r.calls:,} calls, ${r.cost_usd:,.2f}, {span}")
    files = f"{len(r.files)} file" + ("s" if len(r.files) != 1 else "")
    say(f"read: {files}, {r.lines:,} lines")
    if r.bad_lines:
        say(f"skipped: {r.bad_lines:,} invalid lines (--skip-bad)")
    if r.duplicate_sessions:
        say(f"ignored: {r.duplicate_sessions:,} repeated session lines (same record_id)")
    say("")

    tiers = cli_table(
        ("tier", "calls", "cost $", "cost %", "reached", "highest", "$/sess.", "solved"),
        numeric={"calls", "cost $", "cost %", "reached", "highest", "$/sess.", "solved"},
    )
    for t in r.tiers:
        add_row(
            tiers,
            t.tier,
            f"{t.calls:,}",
            f"{t.cost_usd:,.2f}",
            _pct_f(t.cost_usd, r.cost_usd),
            f"{t.sessions_reached:,}",
            f"{t.sessions_highest:,}",
            f"{t.cost_usd_highest / t.sessions_highest:.4f}" if t.sessions_highest else "-",
            _pct(t.solved, t.judged),
        )
    print_table(
        console,
        "Per tier (cheap → strong, as the log shows it). reached: sessions that used it; "
        "highest: sessions that ended there, their mean cost and solved rate",
        tiers,
    )
    say("")

    causes = cli_table(
        ("escalation cause", "count", "share", "sessions", "solved"),
        numeric={"count", "share", "sessions", "solved"},
    )
    for c in r.causes:
        count = f"{c.escalations:,}" if c.escalations else "-"
        share = f"{c.share:.1%}" if c.escalations else "-"
        add_row(causes, c.cause, count, share, f"{c.sessions:,}", _pct(c.solved, c.judged))
    print_table(
        console,
        f"Escalations: {r.escalations:,} (step-downs: {r.step_downs:,}); sessions: those a "
        "cause escalated, and how they went",
        causes,
    )
    say("")

    switches = cli_table(("switches", "sessions", "share"), numeric={"sessions", "share"})
    for label, n in r.switches:
        add_row(switches, label, f"{n:,}", _pct(n, r.sessions))
    print_table(console, "Tier switches per session", switches)
    say("")

    say(
        f"Outcomes: {r.with_outcome:,} of {r.sessions:,} sessions have one; "
        f"{r.without_outcome:,} have none (left out of every solved rate)"
        + (f"; {r.no_verdict:,} carry neither success nor score" if r.no_verdict else "")
    )
    say(f"Solved: {_pct(r.solved, r.judged)} of {r.judged:,} sessions with a verdict")
    failed = f"Escalated and still failed: {r.escalated_failed:,} sessions"
    if r.escalated_failed_ids:
        failed += ", e.g. " + ", ".join(r.escalated_failed_ids)
    say(failed)
    say(
        f"Outcome lines: {r.outcome_lines:,}; not joined: {r.unknown_session_outcomes:,} for "
        f"sessions unknown to their router, {r.orphan_outcomes:,} for sessions not in these logs"
    )
    say("")
    print_shadow(console, r)


def print_shadow(console: Console, r: RoutingReport) -> None:
    """The shadow agreement per served tier and cause, then the steps that disagreed most."""
    if not r.shadow:
        console.print("Shadow agreement: no shadowed steps", highlight=False, markup=False)
        return
    total = sum(row.shadowed for row in r.shadow)
    rows = cli_table(
        ("served tier", "cause", "shadowed", "agreement", "< 0.5", "failed", "shadow $"),
        numeric={"shadowed", "agreement", "< 0.5", "failed", "shadow $"},
    )
    for row in r.shadow:
        add_row(
            rows,
            row.tier,
            row.cause,
            f"{row.shadowed:,}",
            f"{row.mean_agreement:.2f}" if row.mean_agreement is not None else "-",
            f"{row.below_share:.0%}" if row.below_share is not None else "-",
            f"{row.failed:,}",
            f"{row.cost_usd:,.4f}",
        )
    lines = f"{r.shadow_lines:,} from shadow lines"
    if r.shadow_unjoined:
        lines += f", {r.shadow_unjoined:,} of them for sessions not in these logs"
    print_table(
        console,
        f"Shadow agreement: {total:,} shadowed steps ({lines}). agreement: mean, 1 = the "
        "reference tier answered the same; < 0.5: share below 0.5; failed: no comparison",
        rows,
    )
    if not r.shadow_worst:
        return
    console.print("")
    worst = cli_table(
        ("session", "step", "served → reference", "agreement", "reason"),
        numeric={"step", "agreement"},
    )
    for s in r.shadow_worst:
        add_row(
            worst,
            s.session_id,
            str(s.step),
            f"{s.served_tier} → {s.reference_tier}",
            f"{s.agreement:.2f}",
            s.reason,
        )
    print_table(console, "Steps that disagreed most", worst)


def _pct_f(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole else "-"
