"""``agentroute calibrate``: fit the policy's step scales (and, from a routing log, the logged
signals' weights) to recorded runs, cross-validated, and write a config patch only when the
held-out result supports it.

Prints the held-out table (every single model, the oracle, the configured policy and the
calibrated one: solved as a share of the strongest model's, cost as a multiple of its, each
with its fold range), the fitted ``typical_steps``, the fitted start tier when it moved
(``policy.start_tier``: only where the configured start costs more than the strongest model
alone, :mod:`agentroute.bench.calibrate`) and each fold's when the folds chose differently,
then either writes ``--write PATCH.yaml``
(only the changed keys; merge it with :func:`agentroute.config.patch.load_patched_config`) or
refuses: the reason printed, exit status 1, no file written. Bad input (a flag's value, the
table, the config) exits 2 naming the flag or the field. The table comes from exactly one of
``--outcomes`` (the reader of :mod:`agentroute.bench.outcomes`) and ``--log`` (routing logs,
repeatable, each a file, a glob or a ``.gz`` file; made into a table by
:func:`agentroute.bench.log_table.log_table`, whose facts and proxy are printed first;
``--skip-bad`` counts invalid log lines instead of stopping; ``--seed`` also seeds its
imputed rows). Both or neither is a usage error (exit 2), as is ``--skip-bad`` without
``--log``.

With ``--log`` the rows keep their steps' logged contributions, so the fit also moves the
weight of every signal the log carries (``policy.weights.<signal>``, written to the patch
when changed; a patch merges into the default weights, keeping the others:
:mod:`agentroute.config.patch`); the thresholds stay, as scaling the weights already moves
them (:mod:`agentroute.bench.calibrate`). It prints the signals fitted with how many logged
steps carried each, the fitted weights, and every signal not fitted with why (no share in
the log; weight 0 in the config, so none was logged). ``--outcomes`` output is as before.

A log's shadow comparisons (a step's ``shadow`` field, ``shadow`` lines) are evidence against
holding a tier: a served tier whose shadowed steps that held it (causes ``start``, ``score``,
``hold``, ``hysteresis_hold``: :data:`agentroute.bench.shadow_evidence.HOLDING_CAUSES`) have a
mean agreement below ``--min-agreement`` (default 0.8) over at least ``--min-shadow-steps``
(default 20) steps may not be held longer by the patch: its ``typical_steps`` not raised, the
weights of the signals that leave it not lowered (:mod:`agentroute.bench.calibrate`). The
command prints the shadowed steps and sessions per tier, their mean agreement, and the tiers
constrained (or that the log has no shadow data). Both flags need ``--log``.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING

import click

from agentroute.bench.log_options import log_args, log_options
from agentroute.errors import ConfigurationError

if TYPE_CHECKING:
    from rich.console import Console

    from agentroute.bench.calibrate import Calibration

__all__ = ["calibrate"]

MIN_AGREEMENT = 0.8
"""``--min-agreement``'s default."""
MIN_SHADOW_STEPS = 20
"""``--min-shadow-steps``'s default."""
COLUMNS = ("contender", "solved", "range", "cost ×", "range")
_NUMERIC = frozenset({"solved", "range", "cost ×"})


@click.command()
@click.option(
    "--outcomes",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Table of runs (task_id, model, resolved, cost_usd, calls; .csv or .jsonl).",
)
@log_options
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Router config whose policy is calibrated.",
)
@click.option(
    "--target-solved",
    type=click.FloatRange(0, 1, min_open=True),
    required=True,
    help="Share of the strongest single model's solved tasks to reach, e.g. 0.96.",
)
@click.option(
    "--max-cost-ratio",
    type=click.FloatRange(0, min_open=True),
    default=None,
    help="Refuse above this held-out cost, as a multiple of the strongest model's.",
)
@click.option(
    "--folds", type=click.IntRange(min=2), default=5, show_default=True, help="k of k-fold."
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the fold split (and of a log's imputed rows).",
)
@click.option(
    "--min-agreement",
    type=click.FloatRange(0, 1),
    default=None,
    help="With --log: shadow agreement below this at a tier forbids holding it longer "
    "[default: 0.8].",
)
@click.option(
    "--min-shadow-steps",
    type=click.IntRange(min=1),
    default=None,
    help="With --log: shadowed steps a tier needs before its agreement counts [default: 20].",
)
@click.option(
    "--write",
    "write",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Where to write the config patch (YAML).",
)
def calibrate(
    outcomes: Path | None,
    logs: tuple[str, ...],
    skip_bad: bool,
    config_file: Path,
    target_solved: float,
    max_cost_ratio: float | None,
    folds: int,
    seed: int,
    min_agreement: float | None,
    min_shadow_steps: int | None,
    write: Path,
) -> None:
    """Fit the escalation points to recorded runs; write a patch the held-out supports."""
    from rich.console import Console
    from rich.markup import escape

    from agentroute.bench.calibrate import calibrate as fit
    from agentroute.bench.log_table import log_table
    from agentroute.bench.outcomes import load_outcomes
    from agentroute.bench.shadow_evidence import hold_evidence
    from agentroute.config._files import load_config

    if (outcomes is None) == (not logs):
        raise click.UsageError("give exactly one of --outcomes FILE and --log FILE")
    if skip_bad and not logs:
        raise click.UsageError("--skip-bad needs --log")
    for flag, value in (
        ("--min-agreement", min_agreement),
        ("--min-shadow-steps", min_shadow_steps),
    ):
        if value is not None and not logs:
            raise click.UsageError(f"{flag} needs --log")
    held: tuple[str, ...] = ()
    console = Console()
    notes: tuple[str, ...] = ()
    try:
        config = load_config(config_file)
        if outcomes is not None:
            table = load_outcomes(outcomes)
        else:
            from_log = log_table(logs, config, seed=seed, skip_bad=skip_bad)
            evidence = hold_evidence(
                from_log.shadow,
                min_agreement=MIN_AGREEMENT if min_agreement is None else min_agreement,
                min_steps=MIN_SHADOW_STEPS if min_shadow_steps is None else min_shadow_steps,
                order=config.tier_names,
            )
            table, notes = from_log.table, from_log.notes() + evidence.lines()
            held = evidence.constrained
        if folds > len(table.tasks):
            raise click.BadParameter(
                f"{folds} folds for {len(table.tasks)} tasks", param_hint="'--folds'"
            )
        result = fit(
            config,
            table,
            target_solved=target_solved,
            max_cost_ratio=max_cost_ratio,
            folds=folds,
            seed=seed,
            held=held,
        )
    except ConfigurationError as exc:
        console.print(f"[red]✗[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise SystemExit(2) from None
    for note in notes:
        console.print(note, highlight=False, markup=False)
    print_calibration(console, result, folds)
    if result.refusal is not None:
        console.print(f"✗ no patch written: {result.refusal}", highlight=False, markup=False)
        raise SystemExit(1)
    if not result.changed and not result.changed_weights and result.changed_start is None:
        console.print("✓ the config already holds the fitted values: no patch written")
        return
    source = ["--outcomes", str(outcomes)] if outcomes is not None else []
    source += log_args(logs, skip_bad)
    if min_agreement is not None:
        source += ["--min-agreement", f"{min_agreement:g}"]
    if min_shadow_steps is not None:
        source += ["--min-shadow-steps", str(min_shadow_steps)]
    command = _command(source, config_file, target_solved, max_cost_ratio, folds, seed, write)
    proxy = "from routing logs: censored runs assumed to keep failing, imputed rows" if logs else ""
    write_patch(result, write, command, proxy)
    console.print(f"✓ patch written: {write}", highlight=False, markup=False)


def print_calibration(console: Console, result: Calibration, folds: int) -> None:
    """The held-out table and the fitted values (readable at 80 columns)."""
    from agentroute._cli_tables import add_row, cli_table, print_table
    from agentroute.bench.calibrate import Spread

    def pct(s: Spread) -> tuple[str, str]:
        return f"{s.mean:.1%}", f"{s.low:.0%}–{s.high:.0%}"

    def times(s: Spread) -> tuple[str, str]:
        return f"{s.mean:.2f}", f"{s.low:.2f}–{s.high:.2f}"

    table = cli_table(COLUMNS, numeric=_NUMERIC)
    picks = [*result.ladder.all_models, "oracle", "default", "calibrated"]
    for pick in picks:
        name = f"{pick} (strongest)" if pick == result.strongest else pick
        name = "default policy" if pick == "default" else name
        name = "calibrated policy" if pick == "calibrated" else name
        add_row(table, name, *pct(result.share(pick)), *times(result.cost(pick)))
    print_table(
        console,
        f"Held-out over {folds} folds (split by task): solved as a share of "
        f"{result.strongest}'s, cost as a multiple of its; range: lowest–highest fold",
        table,
    )
    fitted = ", ".join(f"{m}={v}" for m, v in result.typical_steps)
    console.print(f"fitted typical_steps (all tasks): {fitted}", highlight=False, markup=False)
    for line in start_lines(result):
        console.print(line, highlight=False, markup=False)
    for line in signal_lines(result):
        console.print(line, highlight=False, markup=False)
    for note in result.notes:
        console.print(f"note: {note}", highlight=False, markup=False)


def start_lines(result: Calibration) -> list[str]:
    """The start tier the fit chose, when it moved, and each fold's when the folds differ
    (nothing when the configured start stayed everywhere)."""
    lines = []
    if result.changed_start is not None:
        lines.append(
            f"fitted start tier (all tasks): {result.changed_start} (policy.start_tier; the "
            "configured start costs more than the strongest model alone)"
        )
    per_fold = [f.start_tier for f in result.folds]
    if len(set(per_fold)) > 1:
        lines.append(f"start tier per fold: {', '.join(per_fold)}")
    return lines


def signal_lines(result: Calibration) -> list[str]:
    """What the fit did with each signal (nothing for a table without logged steps)."""
    lines = []
    if result.logged:
        carried = ", ".join(f"{name} {n:,}" for name, n in result.logged)
        lines.append(f"signals fitted (logged steps carrying each): {carried}")
    if result.weights:
        was = dict(result.changed_weights)
        weights = ", ".join(
            f"{name}={w:g}" + (" (changed)" if name in was else "") for name, w in result.weights
        )
        lines.append(f"fitted weights (all tasks): {weights}")
    if result.held:
        limits = ", ".join(result.held_signals) or "none logged"
        lines.append(
            f"held by shadow agreement: {', '.join(result.held)} (typical_steps at most as "
            f"configured; weights at least as configured: {limits})"
        )
    if result.not_fitted:
        why: dict[str, list[str]] = {}
        for name, reason in result.not_fitted:
            why.setdefault(reason, []).append(name)
        lines += [f"not fitted ({reason}): {', '.join(names)}" for reason, names in why.items()]
    return lines


def write_patch(result: Calibration, path: Path, command: str, proxy: str = "") -> None:
    """Write the patch: a comment saying how it was made and what it holds, then the keys
    (``proxy``: a line on what the held-out figures rest on, when not recorded runs)."""
    import yaml

    from agentroute.bench.calibrate import patch_data

    header = [
        f"# {command}",
        f"# held-out: solved {result.solved_share.mean:.1%} of {result.strongest}'s "
        f"(target {result.target_solved:.1%}), cost {result.cost_ratio.mean:.2f}× its",
        *([f"# {proxy}"] if proxy else []),
        "# merge: agentroute.config.patch.load_patched_config(BASE, THIS_FILE)",
    ]
    body = yaml.safe_dump(patch_data(result), sort_keys=False)
    path.write_text("\n".join(header) + "\n" + body, encoding="utf-8")


def _command(
    source: list[str],
    config_file: Path,
    target: float,
    max_cost_ratio: float | None,
    folds: int,
    seed: int,
    write: Path,
) -> str:
    args = ["agentroute", "calibrate", *source, "--config", str(config_file)]
    args += ["--target-solved", f"{target:g}"]
    if max_cost_ratio is not None:
        args += ["--max-cost-ratio", f"{max_cost_ratio:g}"]
    args += ["--folds", str(folds), "--seed", str(seed), "--write", str(write)]
    return shlex.join(args)
