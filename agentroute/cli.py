"""The ``agentroute`` command line (click for parsing, rich for tables).

Commands: ``demo`` (the main job on embedded defaults), ``sim serve`` (the provider
simulator), ``replay FILE`` (the policy over recorded runs), ``config check FILE``, ``bench
cascade`` and ``calibrate`` (step scales fitted to an outcome table,
:mod:`agentroute.bench.calibrate_cli`). Being an
application, the CLI may configure structlog (the library never does): by default only errors
are printed, ``-v`` shows every routing event.
"""

from __future__ import annotations

import functools
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import click
import structlog
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from agentroute._cli_tables import add_row, cli_table, print_table
from agentroute.bench.calibrate_cli import calibrate
from agentroute.bench.cli import bench
from agentroute.bench.routing_report_cli import report
from agentroute.config import RouterConfig
from agentroute.config._files import load_config
from agentroute.errors import ConfigurationError
from agentroute.sim.cli import sim

if TYPE_CHECKING:
    from agentroute.demo import DemoReport
    from agentroute.shadow.ledger import ShadowStats
    from agentroute.telemetry.setup import Tracing

__all__ = ["main"]


def _configure_logging(verbose: bool) -> None:
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.DEBUG if verbose else logging.ERROR
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
    )


@click.group()
@click.version_option(package_name="agentroute")
def main() -> None:
    """Route every model call of an AI agent's tool-calling loop."""


def _traces_summary(tracing: Tracing | None, otlp: str | None) -> list[str]:
    """What the demo prints after its table about its spans: the tree, where they went, or how
    to see them."""
    from agentroute.telemetry.setup import format_span_tree, otlp_traces_url

    if tracing is None:
        return [
            "\nspans: install the OpenTelemetry SDK to see them (pip install 'agentroute\\[otel]')"
        ]
    if tracing.memory is not None:
        lines = ["\nspans (set --otlp URL or OTEL_EXPORTER_OTLP_ENDPOINT to export them):"]
        return lines + format_span_tree(tracing.memory.get_finished_spans())
    assert otlp
    assert tracing.tally is not None
    url, tally = otlp_traces_url(otlp), tracing.tally
    if tally.failed:
        return [
            f"\n[red]spans: {tally.failed} of {tally.sent + tally.failed} not exported to {url}"
            " (the exporter's errors are above)[/red]"
        ]
    return [f"\nspans: {tally.sent} exported over OTLP/HTTP to {url}"]


@main.command()
@click.option(
    "--max-steps", default=20, show_default=True, help="Stop the agent loop after N steps."
)
@click.option("-v", "--verbose", is_flag=True, help="Print every routing event (structlog).")
@click.option(
    "--otlp",
    metavar="URL",
    envvar="OTEL_EXPORTER_OTLP_ENDPOINT",
    help="Export the spans over OTLP/HTTP to URL (<URL>/v1/traces) instead of printing a "
    "span tree [env: OTEL_EXPORTER_OTLP_ENDPOINT].",
)
@click.option(
    "--shadow",
    metavar="SAMPLE",
    type=click.FloatRange(0.0, 1.0, min_open=True),
    help="Shadow routing: also send this share of the steps served below the top tier to it, "
    "and show how far its answers agree (see agentroute report).",
)
@click.option(
    "--routing-log",
    metavar="PATH",
    type=click.Path(dir_okay=False),
    help="Append the session's routing log (one JSON line) to PATH, for agentroute report.",
)
def demo(
    max_steps: int, verbose: bool, otlp: str | None, shadow: float | None, routing_log: str | None
) -> None:
    """Run a support agent on simulated providers and show each step's routing."""
    from agentroute.demo import run_demo
    from agentroute.telemetry.setup import tracer_provider_for

    _configure_logging(verbose)
    try:
        tracing = tracer_provider_for(otlp or None)
    except ConfigurationError as exc:
        if otlp:  # exporting was asked for: say why it cannot be done
            Console().print(f"[red]✗[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise SystemExit(1) from None
        tracing = None  # no SDK installed: the demo runs without a span tree
    try:
        report = anyio.run(
            functools.partial(
                run_demo,
                max_steps,
                tracing.provider if tracing else None,
                shadow=shadow,
                routing_log=routing_log,
            )
        )
    finally:
        if tracing is not None:
            tracing.provider.force_flush()
            tracing.provider.shutdown()
    traces = _traces_summary(tracing, otlp)
    console = Console()
    _print_steps(console, report)
    u = report.usage
    cached_share = u.cache_read_tokens / u.input_tokens if u.input_tokens else 0.0
    saving = (
        1 - report.total_cost_usd / report.top_model_cost_usd if report.top_model_cost_usd else 0.0
    )
    console.print(
        f"\nsteps: {len(report.rows)}   solved: {'yes' if report.solved else 'no'}   "
        f"tokens in/out: {u.input_tokens:,}/{u.output_tokens:,} "
        f"({cached_share:.0%} of input from cache)\n"
        f"cost: ${report.total_cost_usd:.5f}   the same tokens on {report.top_model} at every "
        f"step: ${report.top_model_cost_usd:.5f}   saved: {saving:.0%}"
    )
    if report.shadow is not None:
        _print_shadow(console, report.shadow)
    for line in traces:
        console.print(line, highlight=False, soft_wrap=True)
    if not report.solved or (tracing and tracing.tally and tracing.tally.failed):
        raise SystemExit(1)


def _print_shadow(console: Console, stats: ShadowStats) -> None:
    """The demo's shadow line: compared steps, agreement by served tier, the shadow spend."""
    tiers = ", ".join(
        f"{tier} {agreement.mean:.2f} ({agreement.count})"
        for tier, agreement in stats.by_tier.items()
    )
    console.print(
        f"shadow: {stats.compared} steps compared with the top tier (agreement by served "
        f"tier: {tiers or 'none'}); {stats.failed} failed; shadow cost ${stats.cost_usd:.5f}, "
        "not in the session's cost",
        highlight=False,
        soft_wrap=True,
    )


DEMO_COLUMNS = ("#", "tier", "model", "provider", "score", "in", "cached", "out", "cost $", "pin")
"""The demo table's columns: one line per step in 80 columns. Why each step went where it did
(the decision's cause and reason, the attempts, the switch's price) is printed under the table,
a few lines per step, where it has the whole width."""


def _print_steps(console: Console, report: DemoReport) -> None:
    """The demo's table (one row per step), then each step's cause, attempts and action."""
    table = cli_table(DEMO_COLUMNS, numeric={"#", "score", "in", "cached", "out", "cost $"})
    for r in report.rows:
        add_row(
            table,
            str(r.step),
            r.tier,
            r.model,
            r.provider,
            f"{r.score:.2f}",
            f"{r.usage.input_tokens:,}",
            f"{r.usage.cache_read_tokens:,}",
            f"{r.usage.output_tokens:,}",
            f"{r.cost_usd:.5f}",
            r.pin,
        )
    print_table(console, "agentroute demo: support agent, session demo-ticket-42", table)
    console.print(
        "\npin: the session's deployment of that model (new, hit: cache warm, break)\n"
        "each step: cause · attempts (provider:outcome), then what the agent did",
        highlight=False,
    )
    # A grid: a long line wraps at a word under its own column, the step number stays alone.
    steps = Table.grid(padding=(0, 2, 0, 0))
    steps.add_column(justify="right", min_width=3, no_wrap=True)
    steps.add_column()
    for r in report.rows:
        why = f"{r.cause}: {r.reason}" if r.reason else r.cause
        lines = [f"{why} · {r.attempts}"]
        if r.switch:
            lines.append(f"switch: {r.switch}")
        if r.pin == "break":
            lines.append(f"pin broken: {r.pin_reason}")
        lines.append(f"agent: {r.action}")
        steps.add_row(Text(str(r.step)), Text("\n".join(lines)))
    console.print(steps)


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path),
    default=Path("examples/agentroute.yaml"),
    show_default=True,
    help="The router config whose policy is replayed.",
)
@click.option(
    "--tools-tokens",
    default=2100,
    show_default=True,
    help="Tokens assumed per call for tool schemas missing from the recording.",
)
@click.option("--output", type=click.Path(path_type=Path), help="Write the markdown report here.")
@click.option("--limit", type=int, help="Replay only the first N runs.")
def replay(
    file: Path, config_file: Path, tools_tokens: int, output: Path | None, limit: int | None
) -> None:
    """Route the recorded runs in FILE (τ-bench JSON or JSONL) and report the decisions."""
    from rich.progress import Progress

    from agentroute.replay import (
        load_runs,
        replay_runs,
        report_markdown,
        summarize,
        summary_lines,
    )

    console = Console()
    try:
        cfg = load_config(config_file)
        runs = load_runs(file)[:limit]
    except ConfigurationError as exc:
        console.print(f"[red]✗[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise SystemExit(1) from None
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("replaying", total=len(runs))
        replays = anyio.run(
            lambda: replay_runs(
                cfg,
                runs,
                tools_tokens=tools_tokens,
                progress=lambda n: bar.update(task, completed=n),
            )
        )
    command = "agentroute replay " + " ".join(sys.argv[2:])
    text = report_markdown(
        cfg, replays, command=command, source=str(file), tools_tokens=tools_tokens
    )
    s = summarize(cfg, replays)
    table = cli_table(("tier", "calls", "share"), numeric={"calls", "share"})
    for tier, n in s.tier_calls.items():
        add_row(table, tier, f"{n:,}", f"{n / s.calls:.1%}" if s.calls else "-")
    print_table(console, f"policy replay: {s.runs:,} runs, {s.calls:,} calls", table)
    for line in summary_lines(cfg, s):
        console.print(line, highlight=False, soft_wrap=True)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        console.print(f"written: {output}")


@main.group()
def config() -> None:
    """Work with config files."""


@config.command("check")
@click.argument("file", type=click.Path(path_type=Path))
def config_check(file: Path) -> None:
    """Validate FILE (YAML or TOML) and print a summary, or every problem found."""
    console = Console()
    try:
        cfg = load_config(file)
    except ConfigurationError as exc:  # the message as it is: a path may hold "[...]"
        console.print(f"[red]✗[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise SystemExit(1) from None
    _print_summary(console, cfg, file)


def _print_summary(console: Console, cfg: RouterConfig, file: Path) -> None:
    console.print(f"[green]✓[/green] {escape(str(file))}: valid", highlight=False)
    # base_url and api key share a cell, one line each: a URL gets most of an 80-column line.
    providers = cli_table(
        ("name", "kind", "cache TTL s", "base_url, api key"), numeric={"cache TTL s"}
    )
    missing: list[str] = []
    for name, p in cfg.providers.items():
        key = "(no api key)"
        if p.api_key is not None:
            key = p.api_key.display
            if not p.api_key.is_available():
                key += " (not set)"
                missing.append(f"providers.{name}.api_key: {p.api_key.env}")
        endpoint = f"{p.base_url or '(default base_url)'}\n{key}"
        add_row(providers, name, p.kind, f"{p.cache_ttl_s:g}", endpoint)
    print_table(console, "providers", providers)
    console.print()
    prices = ("$/M in", "$/M out", "$/M cached")
    ladder = cli_table(
        ("tier", "from score", "model", "window", *prices),
        numeric={"from score", "window", *prices},
    )
    thresholds = cfg.thresholds
    for tier, models in cfg.tiers.items():
        for i, name in enumerate(models):
            m = cfg.models[name]
            starts = "start" if tier == cfg.start_tier else f"{thresholds.get(tier, 0):g}"
            add_row(
                ladder,
                tier if i == 0 else "",
                starts if i == 0 else "",
                name,
                f"{m.context_window:,}",
                f"{m.price.input:g}",
                f"{m.price.output:g}",
                f"{m.price.cache_read_or_input:g}",
            )
    print_table(console, "tiers (cheap → strong)", ladder)
    console.print()
    deployments = cli_table(("model", "provider", "name", "weight"), numeric={"weight"})
    for name, m in cfg.models.items():
        for i, d in enumerate(m.deployments):
            add_row(deployments, name if i == 0 else "", d.provider, d.name, f"{d.weight:g}")
    print_table(console, "deployments (in order of preference)", deployments)
    unused = sorted(set(cfg.models) - {m for ms in cfg.tiers.values() for m in ms})
    if unused:
        console.print(f"note: models in no tier: {', '.join(unused)}")
    for line in missing:
        console.print(
            f"[yellow]warning[/yellow]: environment variable not set: {line}", soft_wrap=True
        )


main.add_command(sim)
main.add_command(bench)
main.add_command(calibrate)
main.add_command(report)

if __name__ == "__main__":  # pragma: no cover
    main()
