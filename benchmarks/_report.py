"""Shared by the benchmark scripts: print a result, and write it under ``results/``."""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def publish(name: str, text: str, *, write: bool) -> None:
    """Print ``text``; unless it is a smoke run, also write it to ``results/{name}.md``."""
    print(text)
    if write:
        out = RESULTS / f"{name}.md"
        out.write_text(text, encoding="utf-8")
        print(f"written: {out}")
