"""Can any uncalibrated default keep a cascade at or below the strongest model's cost?

A grid, not one table: each ladder under ``benchmarks/ladders/`` (2, 3 and 4 tiers; the
models and prices of ``examples/agentroute.yaml``, no policy section), three run-length
patterns (alike, the cheapest model's runs 4× as long, the strongest's 4× as long: the
patterns of ``cascade_ladders.py``), five strength spreads and three seeds: 180 synthetic
tables (:mod:`agentroute.bench.synthetic`, 300 tasks each, runs up to 160 calls), replayed by
:mod:`agentroute.bench.cascade` under these step schedules:

* **default**: the shipped policy's escalation points (``policy_schedule``);
* **earlier**: the default's points halved (a step weight twice as large);
* **spend cap f**: the default's points, but a tier below the top is left once its calls
  reach ``f × expected_steps / (n − 1) / r`` (``r``: its price over the top tier's, the larger
  of the input and output ratios), so a calm loop's spend below the top is at most ``f`` top
  runs of ``expected_steps`` steps, whatever the ladder; climbs one tier;
* **spend cap f, to the top**: the same budget in session steps, then straight to the top;
* **best fixed k** (a lower bound, not a policy: it looks at the table): for each table, the
  cheapest cascade that leaves every tier below the top after k calls on it, k = 1 … 160,
  climbing one tier or straight to the top.

Each cell: the worst cost over the 15 tables of a (ladder, pattern), relative to the **top
tier's** model alone (the strongest by construction; ``bench cascade`` names the model solving
the most tasks instead, which on a narrow spread can be a cheaper one), with the count of
tables above 1.0×. Nothing here is tuned; it measures.

    python benchmarks/default_grid.py            # writes results/default_grid.md
    python benchmarks/default_grid.py --quick    # smoke run (60 tasks, 1 seed), writes nothing
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path

from _report import publish
from cascade_ladders import LADDERS, PATTERNS, scales

from agentroute import load_config
from agentroute.bench.cascade import run_cascade, single_models
from agentroute.bench.ladder import Ladder, Schedule, map_ladder, policy_schedule
from agentroute.bench.outcomes import OutcomeTable
from agentroute.bench.synthetic import SyntheticSpec, generate
from agentroute.config import RouterConfig

ROOT = Path(__file__).resolve().parents[1]
SPREADS = ((0.3, 0.85), (0.5, 0.85), (0.1, 0.9), (0.4, 0.95), (0.3, 0.6))
SEEDS = (0, 1, 2)
KS = (*range(1, 30), 40, 60, 100, 160)
NAME = "default_grid"

Candidate = Callable[[RouterConfig], Schedule]


def price_ratio(config: RouterConfig, model: str, top: str) -> float:
    """A model's price over the top model's: the larger of the input and output ratios."""
    a, b = config.models[model].price, config.models[top].price
    return max(a.input / b.input, a.output / b.output)


def default(config: RouterConfig) -> Schedule:
    return policy_schedule(config)


def earlier(config: RouterConfig) -> Schedule:
    s = policy_schedule(config)
    leave = tuple(None if k is None else max(2, (k + 1) // 2) for k in s.leave_at)
    return Schedule("earlier", s.start, leave, s.climb_to)


def spend_cap(f: float, *, to_top: bool) -> Candidate:
    def make(config: RouterConfig) -> Schedule:
        s = policy_schedule(config)
        models = [ms[0] for ms in config.tiers.values()]
        n, steps = len(models), config.policy.expected_steps
        if to_top:
            r = max(price_ratio(config, m, models[-1]) for m in models[:-1])
            cap = [1 + math.floor(f * steps / r)] * (n - 1)
            climb = tuple(n - 1 for _ in range(n))
        else:
            cap, at = [], 1
            for m in models[:-1]:
                at += math.floor(f * steps / (n - 1) / price_ratio(config, m, models[-1]))
                cap.append(at)
            climb = s.climb_to
        leave = tuple(
            min(cap[i], k) if k is not None else cap[i] for i, k in enumerate(s.leave_at[:-1])
        )
        return Schedule("cap", s.start, (*leave, None), climb)

    return make


CANDIDATES: dict[str, Candidate] = {
    "default": default,
    "earlier (points halved)": earlier,
    "spend cap f=0.05": spend_cap(0.05, to_top=False),
    "spend cap f=0.1": spend_cap(0.1, to_top=False),
    "spend cap f=0.05, to the top": spend_cap(0.05, to_top=True),
}


def cost(table: OutcomeTable, ladder: Ladder, schedule: Schedule) -> tuple[float, int]:
    runs = run_cascade(table, ladder, schedule)
    return sum(r.cost_usd for r in runs), sum(r.solved for r in runs)


def best_fixed_k(table: OutcomeTable, ladder: Ladder) -> float:
    n = len(ladder.tiers)
    best = math.inf
    for k in KS:
        for climb in (tuple(min(i + 1, n - 1) for i in range(n)), tuple(n - 1 for _ in range(n))):
            leave = tuple(k if i < n - 1 else None for i in range(n))
            best = min(best, cost(table, ladder, Schedule("k", 0, leave, climb, True))[0])
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run; write no result file")
    args = parser.parse_args()
    tasks, seeds = (60, SEEDS[:1]) if args.quick else (300, SEEDS)
    names = [*CANDIDATES, "best fixed k (lower bound)"]
    lines = [
        "# Can an uncalibrated default stay at or below the strongest model's cost?",
        "",
        "Command: `python benchmarks/default_grid.py`",
        "",
        f"{len(LADDERS) * len(PATTERNS) * len(SPREADS) * len(seeds)} synthetic tables: "
        f"ladders {', '.join(LADDERS)}; run lengths {', '.join(PATTERNS)}; strength spreads "
        f"{', '.join(f'{a:g}–{b:g}' for a, b in SPREADS)}; seeds {', '.join(map(str, seeds))};"
        f" {tasks} tasks each, runs up to 160 calls. Candidates: the script's docstring.",
        "",
        "Each cell: the worst cost over the tables of the row, relative to the top tier's model "
        "alone, and (in brackets) how many of them cost more than it. Last row: the mean "
        "solved share relative to the top model over all tables.",
        "",
        "| ladder | run lengths | " + " | ".join(names) + " |",
        "|---|---|" + "---:|" * len(names),
    ]
    solved: dict[str, list[float]] = {n: [] for n in names[:-1]}
    above: dict[str, int] = dict.fromkeys(names, 0)
    for name in LADDERS:
        config = load_config(ROOT / "benchmarks" / "ladders" / f"{name}.yaml")
        models = [ms[0] for ms in config.tiers.values()]
        schedules = {c: make(config) for c, make in CANDIDATES.items()}
        for pattern in PATTERNS:
            ratios: dict[str, list[float]] = {n: [] for n in names}
            for lo, hi in SPREADS:
                for seed in seeds:
                    spec = SyntheticSpec(
                        tasks=tasks,
                        seed=seed,
                        weakest=lo,
                        strongest=hi,
                        calls_scale=scales(models, pattern),
                        max_calls=160,
                    )
                    table = generate(config, spec)
                    ladder = map_ladder(config, table)
                    top = next(t for t in single_models(table, ladder) if t.name == models[-1])
                    for c, schedule in schedules.items():
                        usd, won = cost(table, ladder, schedule)
                        ratios[c].append(usd / top.cost_usd)
                        solved[c].append(won / max(1, top.solved))
                    ratios[names[-1]].append(best_fixed_k(table, ladder) / top.cost_usd)
            cells = [f"{max(v):.2f}× ({sum(x > 1 for x in v)})" for v in ratios.values()]
            for c, v in ratios.items():
                above[c] += sum(x > 1 for x in v)
            lines.append(f"| {name} | {pattern} | " + " | ".join(cells) + " |")
    means = [f"{sum(v) / len(v):.0%}" for v in solved.values()]
    lines.append("| *all* | *mean solved vs top* | " + " | ".join(means) + " | — |")
    total = len(LADDERS) * len(PATTERNS) * len(SPREADS) * len(seeds)
    lines += [
        "",
        "## What it shows",
        "",
        "Tables costing more than the top model alone, of "
        f"{total}: " + "; ".join(f"{c} {n}" for c, n in above.items()) + ".",
        "",
        "The last column is the cheapest schedule that gives every tier below the top the "
        "same k calls (k ≥ 1) — on a 2-tier ladder that is every step schedule that starts on "
        "the cheap tier. Where it is above 1.0× (two-close, cheap 4× longer), no escalation "
        "point, spend cap or climb rule keeps that table at or below the top model's cost; "
        "only starting on the top tier (or "
        "knowing the models' run lengths: `models.<name>.typical_steps`, `agentroute "
        "calibrate`) can. A per-call price ratio does not tell a 5×-cheaper model whose runs "
        "are as long (where escalating late pays) from one whose runs are 4× longer (where "
        "only never starting on it does); a cap that bounds the worst case moves cost onto "
        "the tables where the default was well below 1.0×.",
    ]
    publish(NAME, "\n".join(lines) + "\n", write=not args.quick)


if __name__ == "__main__":
    main()
