"""Routing quality on a synthetic outcome table: cost saved vs tasks solved.

Generates the synthetic table (``agentroute.bench.synthetic``: 500 tasks, seed 0) for the
models of ``examples/agentroute.yaml``, replays the configured policy's step escalation over
it, and compares the cost and tasks solved with each single model and the oracle, plus the
sweep of a fixed escalation point k (``agentroute.bench.cascade``). The same as

    agentroute bench cascade --synthetic --tasks 500 --seed 0 --config examples/agentroute.yaml

    python benchmarks/cascade.py            # writes results/cascade_synthetic.{md,png}
    python benchmarks/cascade.py --quick    # smoke run (50 tasks), writes nothing

The plot needs matplotlib (``pip install 'agentroute[bench]'``; in the dev extra).
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from _report import RESULTS, publish

from agentroute import load_config
from agentroute.bench.cascade import evaluate
from agentroute.bench.plot import MISSING_MATPLOTLIB, plot_available, plot_frontier
from agentroute.bench.report import markdown
from agentroute.bench.synthetic import SyntheticSpec, describe, generate

CONFIG = Path(__file__).resolve().parents[1] / "examples" / "agentroute.yaml"
NAME = "cascade_synthetic"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run; write no result file")
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    tasks = 50 if args.quick else args.tasks
    config = load_config(CONFIG)
    spec = SyntheticSpec(tasks=tasks, seed=args.seed)
    ev = evaluate(config, generate(config, spec))
    source = f"synthetic, {tasks} tasks, seed {args.seed}, models of examples/agentroute.yaml"
    same = (
        f"agentroute bench cascade --synthetic --tasks {tasks} --seed {args.seed} "
        "--config examples/agentroute.yaml"
    )
    command = "python benchmarks/cascade.py"
    command += f" --tasks {tasks}" if tasks != 500 else ""
    command += f" --seed {args.seed}" if args.seed else ""
    plot = f"{NAME}.png" if plot_available() else None
    text = markdown(
        ev, command=command, source=source, plot=plot, same_as=same, about=describe(config, spec)
    )
    if plot is None:
        print(MISSING_MATPLOTLIB)
    elif args.quick:
        plot_frontier(ev, io.BytesIO(), title=f"cost vs tasks solved: {source}")
    else:
        plot_frontier(ev, RESULTS / plot, title=f"cost vs tasks solved: {source}")
        print(f"written: {RESULTS / plot}")
    publish(NAME, text, write=not args.quick)


if __name__ == "__main__":
    main()
