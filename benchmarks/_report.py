"""Shared by the benchmark scripts: τ-bench runs and the command line, and the result file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
TAU_BENCH = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "tau-bench" / "gpt-4o-airline.json"
)


def tau_bench_main(doc: str) -> tuple[argparse.Namespace, list[dict[str, Any]]] | None:
    """Parse ``--quick``/``--data`` and load the τ-bench runs; ``None`` (said) when absent."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run; write no result file")
    parser.add_argument("--data", type=Path, default=TAU_BENCH)
    args = parser.parse_args()
    if not args.data.exists():
        print(f"skipped: τ-bench data not found at {args.data}")
        return None
    runs: list[dict[str, Any]] = json.loads(args.data.read_text())
    return args, runs


def publish(name: str, text: str, *, write: bool) -> None:
    """Print ``text``; unless it is a smoke run, also write it to ``results/{name}.md``."""
    print(text)
    if write:
        out = RESULTS / f"{name}.md"
        out.write_text(text, encoding="utf-8")
        print(f"written: {out}")
