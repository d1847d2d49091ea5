"""``agentroute bench cascade``: cost saved vs tasks solved, from an outcome table.

The table is read from ``--outcomes`` (CSV or JSONL, see :mod:`agentroute.bench.outcomes`) or
made up with ``--synthetic`` (:mod:`agentroute.bench.synthetic`; ``--tasks``, ``--seed``).
Without ``--config`` the router config is ``examples/agentroute.yaml`` when the current
directory has one (as ``agentroute replay`` assumes), else the demo's embedded config. A bad
table or config is printed, one line per problem, and the command exits 2 (a usage error);
``--outcomes`` together with ``--synthetic`` (or neither) is a usage error too.

Everything but click is imported when the command runs, so ``agentroute``'s start-up stays
fast; matplotlib (for ``--plot``) only when a plot is drawn.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING

import click

from agentroute.errors import ConfigurationError

if TYPE_CHECKING:
    from agentroute.config import RouterConfig

__all__ = ["bench"]

DEFAULT_CONFIG = Path("examples/agentroute.yaml")


@click.group()
def bench() -> None:
    """Benchmarks of routing quality."""


@bench.command()
@click.option(
    "--outcomes",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Table of runs, one row per (task, model): task_id, model, resolved, cost_usd, calls "
    "(.csv or .jsonl).",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Router config whose tiers and policy are evaluated "
    "[default: examples/agentroute.yaml if present, else the demo's config].",
)
@click.option("--synthetic", is_flag=True, help="Generate the table for the config's models.")
@click.option("--tasks", type=int, default=200, show_default=True, help="Synthetic tasks.")
@click.option("--seed", type=int, default=0, show_default=True, help="Synthetic seed.")
@click.option(
    "--write-outcomes",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write the table used (.csv or .jsonl).",
)
@click.option(
    "--plot", type=click.Path(path_type=Path, dir_okay=False), help="Write the PNG plot here."
)
@click.option(
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the markdown result here.",
)
@click.pass_context
def cascade(
    ctx: click.Context,
    outcomes: Path | None,
    config_file: Path | None,
    synthetic: bool,
    tasks: int,
    seed: int,
    write_outcomes: Path | None,
    plot: Path | None,
    output: Path | None,
) -> None:
    """Cost and tasks solved: single models, the policy's step escalation, the oracle."""
    from rich.console import Console
    from rich.markup import escape

    from agentroute.bench.cascade import evaluate
    from agentroute.bench.outcomes import load_outcomes
    from agentroute.bench.outcomes import write_outcomes as write_table
    from agentroute.bench.report import print_report, save_results
    from agentroute.bench.synthetic import SyntheticSpec, describe, generate

    if synthetic == (outcomes is not None):
        raise click.UsageError("give exactly one of --outcomes FILE and --synthetic")
    explicit = [
        name
        for name in ("tasks", "seed")
        if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT
    ]
    if explicit and not synthetic:
        raise click.UsageError(f"--{explicit[0]} needs --synthetic")
    console = Console()
    try:
        cfg, config_label, config_used = _config(config_file)
        if outcomes is not None:
            table = load_outcomes(outcomes)
            source, about = str(outcomes), []
        else:
            spec = SyntheticSpec(tasks=tasks, seed=seed)
            table, about = generate(cfg, spec), describe(cfg, spec)
            source = f"synthetic, {tasks} tasks, seed {seed}, models of {config_label}"
        if write_outcomes is not None:
            write_table(table, write_outcomes)
        evaluation = evaluate(cfg, table)
    except ConfigurationError as exc:
        console.print(f"[red]✗[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise SystemExit(2) from None
    console.print(f"config: {config_label}", highlight=False, markup=False)
    if write_outcomes is not None:
        console.print(f"written: {write_outcomes}", highlight=False, markup=False)
    print_report(console, evaluation, source, about)
    command = _command(outcomes, config_used, synthetic, tasks, seed, write_outcomes, plot, output)
    save_results(
        console, evaluation, source=source, command=command, plot=plot, output=output, about=about
    )


def _config(config_file: Path | None) -> tuple[RouterConfig, str, Path | None]:
    """The config given, else examples/agentroute.yaml here, else the demo's embedded one.

    Returns the config, how to name it, and its file (``None``: the embedded one).
    """
    from agentroute.config._files import load_config
    from agentroute.demo import demo_config

    if config_file is not None:
        return load_config(config_file), str(config_file), config_file
    if DEFAULT_CONFIG.is_file():
        return load_config(DEFAULT_CONFIG), str(DEFAULT_CONFIG), DEFAULT_CONFIG
    return demo_config(), "the demo's embedded config", None


def _command(
    outcomes: Path | None,
    config_file: Path | None,
    synthetic: bool,
    tasks: int,
    seed: int,
    write_outcomes: Path | None,
    plot: Path | None,
    output: Path | None,
) -> str:
    """The command line that reproduces this run (options in a fixed order)."""
    args = ["agentroute", "bench", "cascade"]
    args += ["--synthetic", "--tasks", str(tasks), "--seed", str(seed)] if synthetic else []
    args += ["--outcomes", str(outcomes)] if outcomes is not None else []
    for flag, value in (
        ("--config", config_file),
        ("--write-outcomes", write_outcomes),
        ("--plot", plot),
        ("--output", output),
    ):
        if value is not None:
            args += [flag, str(value)]
    return shlex.join(args)
