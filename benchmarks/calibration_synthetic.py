"""Calibration on synthetic tables whose models' run lengths differ 4×: held-out results.

For ladders of 2, 3 and 4 tiers (one model each, priced 1 → 50 USD per million input
tokens: :data:`LADDER_PRICES`), a synthetic outcome table (:mod:`agentroute.bench.synthetic`,
300 tasks) is made and
each model's runs are stretched so that the cheapest runs 4× as many calls as the strongest
(factors spread geometrically in between; cost stretched alike). ``calibrate`` then fits the
step scales with 5-fold cross-validation, and the held-out figures of every contender are
tabled: solved as a share of the strongest single model's, cost as a multiple of its, each with
its lowest–highest fold.

    python benchmarks/calibration_synthetic.py          # writes results/calibration_synthetic.md
    python benchmarks/calibration_synthetic.py --quick  # smoke run (100 tasks), writes nothing
"""

from __future__ import annotations

import argparse
from typing import Any

from _report import publish

from agentroute.bench.calibrate import Calibration, calibrate
from agentroute.bench.outcomes import Outcome, OutcomeTable
from agentroute.bench.synthetic import SyntheticSpec, generate
from agentroute.config import RouterConfig

LADDER_PRICES = {2: (1.0, 50.0), 3: (1.0, 10.0, 50.0), 4: (1.0, 3.0, 10.0, 50.0)}
"""USD per million input tokens of each tier's model (output: 4×): cheapest to a frontier."""
TARGET, MAX_COST_RATIO, FOLDS, SEED = 0.96, 0.6, 5, 0


def ladder_config(tiers: int) -> RouterConfig:
    names = [f"m{i}" for i in range(tiers)]
    data: dict[str, Any] = {
        "providers": {"p": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1"}},
        "models": {
            name: {
                "context_window": 128_000,
                "price": {"input": price, "output": 4 * price},
                "deployments": [{"provider": "p", "name": name}],
            }
            for name, price in zip(names, LADDER_PRICES[tiers], strict=True)
        },
        "tiers": {f"t{i}": [name] for i, name in enumerate(names)},
    }
    return RouterConfig.from_mapping(data)


def stretched(config: RouterConfig, tasks: int, seed: int) -> OutcomeTable:
    """The synthetic table with model i's runs × 4^((n-1-i)/(n-1)) calls and cost."""
    models = [ms[0] for ms in config.tiers.values()]
    n = len(models)
    factor = {m: 4 ** ((n - 1 - i) / (n - 1)) for i, m in enumerate(models)}
    table = generate(config, SyntheticSpec(tasks=tasks, seed=seed))
    rows = tuple(
        Outcome(
            r.task_id,
            r.model,
            r.resolved,
            round(r.cost_usd * factor[r.model], 9),
            max(1, round(r.calls * factor[r.model])),
            r.line,
        )
        for r in table.rows
    )
    return OutcomeTable(rows, f"synthetic-4x({tasks}, seed {seed})")


def block(tiers: int, result: Calibration) -> list[str]:
    lines = [
        f"### {tiers} tiers",
        "",
        "| contender | solved (share of strongest) | fold range | cost × strongest | fold range |",
        "|---|---:|---:|---:|---:|",
    ]
    picks = [*result.ladder.all_models, "oracle", "default", "calibrated"]
    for pick in picks:
        share, cost = result.share(pick), result.cost(pick)
        name = {"default": "default policy", "calibrated": "**calibrated policy**"}.get(pick, pick)
        name += " (strongest)" if pick == result.strongest else ""
        lines.append(
            f"| {name} | {share.mean:.1%} | {share.low:.0%}–{share.high:.0%} | "
            f"{cost.mean:.2f} | {cost.low:.2f}–{cost.high:.2f} |"
        )
    fitted = ", ".join(f"{m}={v}" for m, v in result.typical_steps)
    verdict = result.refusal or "patch supported"
    lines += ["", f"Fitted `typical_steps` (all tasks): {fitted}. Verdict: {verdict}.", ""]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run; write no result file")
    args = parser.parse_args()
    tasks = 100 if args.quick else 300
    out = [
        "# Calibration on synthetic tables (run lengths differ 4×)",
        "",
        "Command: `python benchmarks/calibration_synthetic.py` "
        f"({tasks} tasks, seed {SEED}, {FOLDS} folds, target {TARGET:.0%}, "
        f"max cost ratio {MAX_COST_RATIO}). Held-out figures, mean over folds.",
        "",
    ]
    for tiers in (2, 3, 4):
        config = ladder_config(tiers)
        table = stretched(config, tasks, SEED)
        result = calibrate(
            config,
            table,
            target_solved=TARGET,
            max_cost_ratio=MAX_COST_RATIO,
            folds=FOLDS,
            seed=SEED,
        )
        out += block(tiers, result)
    publish("calibration_synthetic", "\n".join(out), write=not args.quick)


if __name__ == "__main__":
    main()
