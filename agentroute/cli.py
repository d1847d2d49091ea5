"""The ``agentroute`` command line (click for parsing, rich for tables).

Commands: ``demo`` (the main job on embedded defaults), ``sim serve`` (the provider
simulator), ``replay FILE`` (the policy over recorded runs) and ``config check FILE``. Being an
application, the CLI may configure structlog (the library never does): by default only errors
are printed, ``-v`` shows every routing event.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import click
import structlog
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agentroute._config_files import load_config
from agentroute.bench.cli import bench
from agentroute.config import RouterConfig
from agentroute.errors import ConfigurationError
from agentroute.sim.cli import sim

if TYPE_CHECKING:
    from agentroute.telemetry.setup import Tracing


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
def demo(max_steps: int, verbose: bool, otlp: str | None) -> None:
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
        report = anyio.run(run_demo, max_steps, tracing.provider if tracing else None)
    finally:
        if tracing is not None:
            tracing.provider.force_flush()
            tracing.provider.shutdown()
    traces = _traces_summary(tracing, otlp)
    console = Console()
    table = Table(
        title="agentroute demo: support agent, session demo-ticket-42",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=(0, 1),
        collapse_padding=True,
    )
    # Sized to fit an 80-column terminal: numbers never wrap, names fold only when narrower.
    for col, justify, min_width in [
        ("#", "right", 2),
        ("tier", "left", 7),
        ("model", "left", 5),
        ("deployment", "left", 9),
        ("cause", "left", 10),
        ("score", "right", 5),
        ("in", "right", 5),
        ("cached", "right", 6),
        ("out", "right", 3),
        ("cost $", "right", 7),
        ("pin", "left", 3),
    ]:
        table.add_column(
            col,
            justify=justify,  # type: ignore[arg-type]
            no_wrap=justify == "right",
            overflow="fold",
            min_width=min_width,
        )
    for r in report.rows:
        table.add_row(
            str(r.step),
            r.tier,
            r.model,
            r.deployment,
            r.cause,
            f"{r.score:.2f}",
            f"{r.usage.input_tokens:,}",
            f"{r.usage.cache_read_tokens:,}",
            f"{r.usage.output_tokens:,}",
            f"{r.cost_usd:.5f}",
            r.pin,
        )
    console.print(table)
    console.print(
        "\npin: the session's deployment for that model (new, hit: its prompt cache is warm, "
        "break)\neach step: attempts (provider:outcome), then what the agent did"
    )
    for r in report.rows:
        why = f"; {r.cause}: {r.reason}" if r.reason else ""
        if r.switch:
            why += f" ({r.switch})"
        if r.pin == "break":
            why += f"; pin broken: {r.pin_reason}"
        console.print(f" {r.step:>2}  {r.attempts}{why}\n     agent: {r.action}", highlight=False)
    u = report.usage
    cached_share = u.cache_read_tokens / u.input_tokens if u.input_tokens else 0.0
    saving = (
        1 - report.total_cost_usd / report.top_model_cost_usd if report.top_model_cost_usd else 0.0
    )
    console.print(
        f"steps: {len(report.rows)}   solved: {'yes' if report.solved else 'no'}   "
        f"tokens in/out: {u.input_tokens:,}/{u.output_tokens:,} "
        f"({cached_share:.0%} of input from cache)\n"
        f"cost: ${report.total_cost_usd:.5f}   the same tokens on {report.top_model} at every "
        f"step: ${report.top_model_cost_usd:.5f}   saved: {saving:.0%}"
    )
    for line in traces:
        console.print(line, highlight=False, soft_wrap=True)
    if not report.solved or (tracing and tracing.tally and tracing.tally.failed):
        raise SystemExit(1)


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
        console.print(f"[red]✗[/red] {exc}", highlight=False, soft_wrap=True)
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
    table = Table(title=f"policy replay: {s.runs} runs, {s.calls} calls", box=box.SIMPLE_HEAD)
    for col in ("tier", "calls", "share"):
        table.add_column(col, justify="left" if col == "tier" else "right")
    for tier, n in s.tier_calls.items():
        table.add_row(tier, str(n), f"{n / s.calls:.1%}" if s.calls else "-")
    console.print(table)
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
    providers = Table(title="providers")
    for col in ("name", "kind", "base_url", "api key", "cache TTL s"):
        providers.add_column(col)
    missing: list[str] = []
    for name, p in cfg.providers.items():
        key = "—"
        if p.api_key is not None:
            key = p.api_key.display
            if not p.api_key.is_available():
                key += " (not set here)"
                missing.append(f"providers.{name}.api_key: {p.api_key.env}")
        providers.add_row(name, p.kind, p.base_url or "(default)", key, f"{p.cache_ttl_s:g}")
    console.print(providers)
    ladder = Table(title="tiers (cheap → strong)")
    for col in (
        "tier",
        "starts at score",
        "model",
        "window",
        "$/M in",
        "$/M out",
        "$/M cached",
        "deployments",
    ):
        ladder.add_column(col)
    thresholds = cfg.thresholds
    for tier, models in cfg.tiers.items():
        for i, name in enumerate(models):
            m = cfg.models[name]
            ladder.add_row(
                tier if i == 0 else "",
                ("start" if tier == cfg.start_tier else f"{thresholds.get(tier, 0):g}")
                if i == 0
                else "",
                name,
                f"{m.context_window:,}",
                f"{m.price.input:g}",
                f"{m.price.output:g}",
                f"{m.price.cache_read_or_input:g}",
                ", ".join(f"{d.provider}/{d.name}" for d in m.deployments),
            )
    console.print(ladder)
    unused = sorted(set(cfg.models) - {m for ms in cfg.tiers.values() for m in ms})
    if unused:
        console.print(f"note: models in no tier: {', '.join(unused)}")
    for line in missing:
        console.print(
            f"[yellow]warning[/yellow]: environment variable not set: {line}", soft_wrap=True
        )


main.add_command(sim)
main.add_command(bench)

if __name__ == "__main__":  # pragma: no cover
    main()
