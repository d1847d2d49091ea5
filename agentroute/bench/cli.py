"""``agentroute bench cascade``: cost saved vs tasks solved, from an outcome table.

The table is read from ``--outcomes`` (CSV or JSONL, see :mod:`agentroute.bench.outcomes`),
made from routing logs with ``--log`` (repeatable: a file, a glob or a ``.gz`` file;
:func:`agentroute.bench.log_table.log_table`, its facts and proxy printed and kept in the
markdown; ``--skip-bad`` counts invalid lines; ``--seed`` seeds its imputed rows), or made
up with ``--synthetic`` (:mod:`agentroute.bench.synthetic`; ``--tasks``, ``--seed``,
``--calls-scale MODEL=FACTOR`` (repeatable: that model's runs are FACTOR× as long) and
``--max-calls``). ``--write-outcomes`` with ``--log`` is a usage error: the five-column
formats cannot keep which rows are censored or imputed, so the written table would replay
differently.

An output check (:class:`~agentroute.bench.cascade.Verifier`) is modelled with
``--verifier-recall R --verifier-fpr F`` (each in [0, 1]; seeded by ``--seed``): repeat the pair
for several settings, paired by position, one frontier block and one contender row each.
``--no-step-escalation`` replays those checks with no step escalation at all (only the check
climbs); the policy's own row stays as configured, for comparison.
Without ``--config`` the router config is ``examples/agentroute.yaml`` when the current
directory has one (as ``agentroute replay`` assumes), else the demo's embedded config. A bad
table or config is printed, one line per problem, and the command exits 2 (a usage error);
other than exactly one of ``--outcomes``, ``--log`` and ``--synthetic`` is a usage error naming
the three, as are ``--skip-bad`` without ``--log``, a rate
outside [0, 1] (the message names the flag), unpaired ``--verifier-recall``/``--verifier-fpr``,
``--no-step-escalation`` without a check, a synthetic-only option without ``--synthetic`` and
``--seed`` with neither ``--synthetic``, ``--log`` nor a check.

Everything but click is imported when the command runs, so ``agentroute``'s start-up stays
fast; matplotlib (for ``--plot``) only when a plot is drawn.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from agentroute.bench.log_options import log_args, log_options
from agentroute.errors import ConfigurationError

if TYPE_CHECKING:
    from agentroute.bench.cascade import Verifier
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
@log_options
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Router config whose tiers and policy are evaluated "
    "[default: examples/agentroute.yaml if present, else the demo's config].",
)
@click.option("--synthetic", is_flag=True, help="Generate the table for the config's models.")
@click.option("--tasks", type=int, default=200, show_default=True, help="Synthetic tasks.")
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the synthetic table, of a log's imputed rows and of the output check's draws.",
)
@click.option(
    "--calls-scale",
    "calls_scale",
    multiple=True,
    metavar="MODEL=FACTOR",
    callback=lambda ctx, param, value: _scales(value),
    help="Synthetic: that model's runs are FACTOR× as long (repeatable).",
)
@click.option(
    "--max-calls",
    type=click.IntRange(min=1),
    default=40,
    show_default=True,
    help="Synthetic: the longest run, in calls.",
)
@click.option(
    "--verifier-recall",
    "recalls",
    multiple=True,
    type=click.FloatRange(0.0, 1.0),
    metavar="R",
    help="Output check: the share of failed answers it rejects (repeat with --verifier-fpr "
    "for several settings).",
)
@click.option(
    "--verifier-fpr",
    "fprs",
    multiple=True,
    type=click.FloatRange(0.0, 1.0),
    metavar="F",
    help="Output check: the share of good answers it rejects.",
)
@click.option(
    "--no-step-escalation",
    "no_steps",
    is_flag=True,
    help="Replay the output checks without any step escalation (only the check climbs).",
)
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
    logs: tuple[str, ...],
    skip_bad: bool,
    config_file: Path | None,
    synthetic: bool,
    tasks: int,
    seed: int,
    calls_scale: tuple[tuple[str, float], ...],
    max_calls: int,
    recalls: tuple[float, ...],
    fprs: tuple[float, ...],
    no_steps: bool,
    write_outcomes: Path | None,
    plot: Path | None,
    output: Path | None,
) -> None:
    """Cost and tasks solved: single models, the policy's step escalation (with output checks,
    when given), the oracle."""
    from rich.console import Console
    from rich.markup import escape

    from agentroute.bench.cascade import Verifier, evaluate
    from agentroute.bench.log_table import log_table
    from agentroute.bench.outcomes import load_outcomes
    from agentroute.bench.outcomes import write_outcomes as write_table
    from agentroute.bench.report import print_report, save_results
    from agentroute.bench.synthetic import SyntheticSpec, describe, generate

    if synthetic + (outcomes is not None) + bool(logs) != 1:
        raise click.UsageError(
            "give exactly one of --outcomes FILE and --synthetic (or, instead of both, --log FILE)"
        )
    if skip_bad and not logs:
        raise click.UsageError("--skip-bad needs --log")
    if logs and write_outcomes is not None:
        raise click.UsageError(
            "--write-outcomes with --log: the table's formats cannot keep which rows are "
            "censored or imputed, so the written table would replay differently"
        )
    if len(recalls) != len(fprs):
        raise click.UsageError(
            "give --verifier-recall and --verifier-fpr the same number of times (one output "
            f"check per pair, by position): got {len(recalls)} and {len(fprs)}"
        )
    if no_steps and not recalls:
        raise click.UsageError(
            "--no-step-escalation needs an output check (--verifier-recall R --verifier-fpr F)"
        )
    explicit = [
        name
        for name in ("tasks", "seed", "calls_scale", "max_calls")
        if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT
    ]
    explicit = [n for n in explicit if not (n == "seed" and (recalls or logs))]
    if explicit and not synthetic:
        flag = "--" + explicit[0].replace("_", "-")
        raise click.UsageError(
            f"{flag} needs --synthetic"
            + (
                " or an output check (--verifier-recall/--verifier-fpr) or --log"
                if flag == "--seed"
                else ""
            )
        )
    verifiers = [Verifier(r, f, seed) for r, f in zip(recalls, fprs, strict=True)]
    console = Console()
    try:
        cfg, config_label, config_used = _config(config_file)
        if outcomes is not None:
            table = load_outcomes(outcomes)
            source, about = str(outcomes), []
        elif logs:
            from_log = log_table(logs, cfg, seed=seed, skip_bad=skip_bad)
            table, about = from_log.table, list(from_log.notes())
            source = f"routing log {', '.join(from_log.files)}"
        else:
            spec = SyntheticSpec(
                tasks=tasks, seed=seed, max_calls=max_calls, calls_scale=calls_scale
            )
            table, about = generate(cfg, spec), describe(cfg, spec)
            source = f"synthetic, {tasks} tasks, seed {seed}, models of {config_label}"
        if write_outcomes is not None:
            write_table(table, write_outcomes)
        evaluation = evaluate(cfg, table, verifiers=verifiers, step_escalation=not no_steps)
    except ConfigurationError as exc:
        console.print(f"[red]✗[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise SystemExit(2) from None
    console.print(f"config: {config_label}", highlight=False, markup=False)
    if write_outcomes is not None:
        console.print(f"written: {write_outcomes}", highlight=False, markup=False)
    print_report(console, evaluation, source, about)
    options = _options(synthetic, seed, calls_scale, max_calls, verifiers, no_steps, logs)
    command = _command(
        outcomes,
        config_used,
        synthetic,
        tasks,
        seed,
        write_outcomes,
        plot,
        output,
        [*log_args(logs, skip_bad), *options],
    )
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


def _scales(values: tuple[str, ...]) -> tuple[tuple[str, float], ...]:
    """``MODEL=FACTOR`` pairs of ``--calls-scale``; a malformed one is a usage error naming it."""
    out = []
    for value in values:
        model, sep, factor = value.rpartition("=")
        try:
            number = float(factor) if sep and model else float("nan")
        except ValueError:
            number = float("nan")
        if not number > 0 or number == float("inf"):
            raise click.BadParameter(
                f"expected MODEL=FACTOR with a factor > 0, got {value!r}",
                param_hint="'--calls-scale'",
            )
        out.append((model, number))
    return tuple(out)


def _options(
    synthetic: bool,
    seed: int,
    calls_scale: tuple[tuple[str, float], ...],
    max_calls: int,
    verifiers: list[Verifier],
    no_steps: bool,
    logs: Sequence[str] = (),
) -> list[str]:
    """The options added by the output check, the synthetic run-length knobs and a log's
    imputation seed, in order."""
    args: list[str] = []
    if synthetic:
        for model, factor in calls_scale:
            args += ["--calls-scale", f"{model}={factor:g}"]
        args += ["--max-calls", str(max_calls)] if max_calls != 40 else []
    elif verifiers or logs:
        args += ["--seed", str(seed)]
    for v in verifiers:
        args += ["--verifier-recall", f"{v.recall:g}", "--verifier-fpr", f"{v.fpr:g}"]
    args += ["--no-step-escalation"] if no_steps else []
    return args


def _command(
    outcomes: Path | None,
    config_file: Path | None,
    synthetic: bool,
    tasks: int,
    seed: int,
    write_outcomes: Path | None,
    plot: Path | None,
    output: Path | None,
    options: Sequence[str] = (),
) -> str:
    """The command line that reproduces this run (options in a fixed order; ``options``, from
    :func:`_options`, right after the table's, so a run without them reads as before)."""
    args = ["agentroute", "bench", "cascade"]
    args += ["--synthetic", "--tasks", str(tasks), "--seed", str(seed)] if synthetic else []
    args += ["--outcomes", str(outcomes)] if outcomes is not None else []
    args += options
    for flag, value in (
        ("--config", config_file),
        ("--write-outcomes", write_outcomes),
        ("--plot", plot),
        ("--output", output),
    ):
        if value is not None:
            args += [flag, str(value)]
    return shlex.join(args)
