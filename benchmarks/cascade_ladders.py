"""The default policy on ladders whose models' run lengths differ 4×: cost and solved share.

For each ladder under ``benchmarks/ladders/`` (2, 3 and 4 tiers; the models and prices of
``examples/agentroute.yaml``; no policy section, so the policy is the shipped default with no
calibration) and each run-length pattern — all models alike, the cheapest model's runs 4× as
long as the strongest's (a geometric scale 4 → 1 across the ladder), and the reverse (1 → 4) —
a synthetic outcome table is made (``agentroute.bench.synthetic``: 500 tasks, seed 0, runs up
to 160 calls) and replayed (``agentroute.bench.cascade``): every single model, the default
policy's step escalation, the oracle, and an output check (recall 0.8, false-positive rate 0.1,
seed 0) with and without the step escalation. Costs are relative to the strongest single
model. Nothing here is tuned: it measures where today's default stands.

    python benchmarks/cascade_ladders.py            # writes results/cascade_ladders.md
    python benchmarks/cascade_ladders.py --quick    # smoke run (60 tasks), writes nothing

Each block names the ``agentroute bench cascade`` commands that give the same numbers.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from _report import publish

from agentroute import load_config
from agentroute.bench.cascade import Evaluation, Totals, Verifier, evaluate
from agentroute.bench.report import CHECK, contender_rows
from agentroute.bench.synthetic import SyntheticSpec, describe, generate
from agentroute.config import RouterConfig

ROOT = Path(__file__).resolve().parents[1]
LADDERS = ("two-close", "two-wide", "three", "four")
PATTERNS = ("alike", "cheap 4× longer", "strong 4× longer")
CHECK_SETTING = Verifier(0.8, 0.1, seed=0)
MAX_CALLS = 160
NAME = "cascade_ladders"


def scales(models: list[str], pattern: str) -> tuple[tuple[str, float], ...]:
    """Each model's calls scale: 1, or geometric from 4 (cheapest) to 1 (strongest), or back."""
    if pattern == "alike":
        return ()
    n = len(models)
    out = []
    for i, m in enumerate(models):
        up = i / (n - 1)  # 0 for the cheapest, 1 for the strongest
        power = 1 - up if pattern.startswith("cheap") else up
        out.append((m, round(4**power, 2)))
    return tuple(out)


def run(config: RouterConfig, spec: SyntheticSpec) -> tuple[Evaluation, Evaluation, list[str]]:
    table = generate(config, spec)
    with_steps = evaluate(config, table, verifiers=[CHECK_SETTING])
    alone = evaluate(config, table, verifiers=[CHECK_SETTING], step_escalation=False)
    return with_steps, alone, describe(config, spec)


def commands(ladder: str, spec: SyntheticSpec) -> list[str]:
    args = ["agentroute", "bench", "cascade", "--synthetic", "--tasks", str(spec.tasks)]
    args += ["--seed", str(spec.seed)]
    for model, factor in spec.calls_scale:
        args += ["--calls-scale", f"{model}={factor:g}"]
    args += ["--max-calls", str(spec.max_calls)]
    check = ["--verifier-recall", f"{CHECK_SETTING.recall:g}"]
    check += ["--verifier-fpr", f"{CHECK_SETTING.fpr:g}"]
    config = ["--config", f"benchmarks/ladders/{ladder}.yaml"]
    return [
        shlex.join(args + check + config),
        shlex.join(args + check + ["--no-step-escalation"] + config),
    ]


def ratio(t: Totals | float, strongest: Totals) -> str:
    cost = t if isinstance(t, float) else t.cost_usd
    return f"{cost / strongest.cost_usd:.2f}×"


def share(solved: int, tasks: int) -> str:
    return f"{solved / tasks:.0%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run; write no result file")
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    tasks = 60 if args.quick else args.tasks
    summary: list[str] = []
    blocks: list[str] = []
    over: list[str] = []
    for ladder in LADDERS:
        config = load_config(ROOT / "benchmarks" / "ladders" / f"{ladder}.yaml")
        models = [m for ms in config.tiers.values() for m in ms]
        for pattern in PATTERNS:
            spec = SyntheticSpec(
                tasks=tasks,
                seed=args.seed,
                max_calls=MAX_CALLS,
                calls_scale=scales(models, pattern),
            )
            ev, alone, about = run(config, spec)
            s, p, o = ev.strongest, ev.policy, ev.oracle
            c, a = ev.checks[0].policy, alone.checks[0].policy
            n = len(ev.tasks)
            flag = " **>1**" if p.cost_usd > s.cost_usd else ""
            if flag:
                over.append(
                    f"{ladder} ({len(models)} tiers), {pattern}: the default costs "
                    f"{ratio(p, s)} {s.name}'s cost and solves {share(p.solved, n)} "
                    f"(vs {share(s.solved, n)})"
                )
            summary.append(
                "| "
                + " | ".join(
                    [
                        f"{ladder} ({' → '.join(models)})",
                        pattern,
                        f"{s.name} {share(s.solved, n)}",
                        f"{share(p.solved, n)} / {ratio(p, s)}{flag}",
                        f"{share(c.solved, n)} / {ratio(c, s)}",
                        f"{share(a.solved, n)} / {ratio(a, s)}",
                        f"{share(o.solved, n)} / {ratio(o.cost_usd_zero, s)}",
                    ]
                )
                + " |"
            )
            rows = contender_rows(ev)
            alone_row = next(r for r in contender_rows(alone) if r[0] == a.name)
            rows.insert(len(rows) - 2, alone_row)
            leaves = ", ".join(
                f"{ev.ladder.tiers[i]} at step {k}"
                for i, k in enumerate(ev.schedule.leave_at)
                if k is not None
            )
            blocks += [
                f"### {ladder}: {' → '.join(models)}; run lengths {pattern}",
                "",
                *(f"- `{cmd}`" for cmd in commands(ladder, spec)),
                f"- {about[-1] if spec.calls_scale else 'Calls scale: every model ×1.'} "
                f"The default policy leaves {leaves}.",
                "",
                "| contender | tier | solved | tasks | cost $ | vs strongest |",
                "|---|---|---:|---:|---:|---:|",
                *("| " + " | ".join(r) + " |" for r in rows),
                "",
            ]
    first = load_config(ROOT / "benchmarks" / "ladders" / "four.yaml")
    base = describe(first, SyntheticSpec(tasks=tasks, seed=args.seed, max_calls=MAX_CALLS))
    command = "python benchmarks/cascade_ladders.py"
    command += f" --tasks {tasks}" if tasks != 500 else ""
    command += f" --seed {args.seed}" if args.seed else ""
    text = "\n".join(
        [
            "# The default policy on ladders whose models' run lengths differ",
            "",
            f"Command: `{command}`",
            "",
            "Synthetic outcome tables (`agentroute.bench.synthetic`), one per ladder and "
            "run-length pattern, replayed by `agentroute.bench.cascade`. The ladders are "
            "`benchmarks/ladders/*.yaml`: the models and prices of `examples/agentroute.yaml`, "
            "no policy section (the default policy, no calibration; its step signal counts "
            "session steps the same way whatever the model). Run lengths: *alike* (every "
            "model ×1), *cheap 4× longer* (calls scale 4 on the cheapest model down to 1 on "
            "the strongest, geometric), *strong 4× longer* (the reverse).",
            "",
            f"- {base[0]}",
            "- Model strengths spread evenly from 0.30 (the cheapest) to 0.85 (the strongest) "
            "on every ladder; USD per call: 4,000 input + 250 output tokens at the configured "
            "prices, no cache.",
            f"- {base[2]}",
            f"- Output check: R={CHECK_SETTING.recall:g}, F={CHECK_SETTING.fpr:g}, seed "
            f"{CHECK_SETTING.seed}. {CHECK}",
            "",
            "## Summary",
            "",
            "Each cell: solved share / cost relative to the strongest single model (oracle: "
            "unsolved tasks at $0). **>1**: the default policy costs more than the strongest "
            "model alone.",
            "",
            "| ladder | run lengths | strongest solves | default policy | policy + check | "
            "check, no step escalation | oracle |",
            "|---|---|---|---:|---:|---:|---:|",
            *summary,
            "",
            "## Where the default costs more than the strongest model",
            "",
            *(f"- {line}" for line in over or ["nowhere on these tables"]),
            "",
            "## Per ladder and pattern",
            "",
            *blocks,
        ]
    )
    publish(NAME, text, write=not args.quick)


if __name__ == "__main__":
    main()
