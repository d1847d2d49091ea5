"""The routing report's PNG: cost per tier per day, and solved rate against cost per session by
highest tier reached. matplotlib (the ``bench`` extra) is imported inside :func:`plot_report`
only, drawn on a bare ``Figure`` with the Agg canvas, as :mod:`agentroute.bench.plot` does."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import BinaryIO

from agentroute.bench.routing_report import RoutingReport

__all__ = ["plot_report"]


def plot_report(report: RoutingReport, target: str | Path | BinaryIO) -> None:
    """Two panels side by side. Raises ``ImportError`` without matplotlib (check
    :func:`agentroute.bench.plot.plot_available` first); matplotlib's own deprecation warnings
    are silenced for the drawing only."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        _draw(report, target)


def _draw(report: RoutingReport, target: str | Path | BinaryIO) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.5), dpi=110)
    FigureCanvasAgg(fig)
    per_day, frontier = fig.subplots(1, 2, gridspec_kw={"width_ratios": (3, 2)})

    days = sorted({d.day for d in report.days})
    x = list(range(len(days)))
    bottom = [0.0] * len(days)
    for i, row in enumerate(report.tiers):
        cost = {d.day: d.cost_usd for d in report.days if d.tier == row.tier}
        heights = [cost.get(day, 0.0) for day in days]
        per_day.bar(x, heights, bottom=bottom, label=row.tier, color=f"C{i % 10}")
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    every = max(1, len(days) // 10)  # about ten date labels: more would overlap
    per_day.set_xticks(x[::every], days[::every], rotation=30, ha="right", fontsize=7)
    per_day.set_ylabel("cost, USD")
    per_day.set_title("cost per tier per day (UTC)", fontsize=10)
    per_day.grid(True, axis="y", alpha=0.3)
    if report.tiers:
        per_day.legend(fontsize=8)

    for i, row in enumerate(report.tiers):
        if not row.judged:
            continue
        mean_cost = row.cost_usd_highest / row.sessions_highest
        frontier.scatter([mean_cost], [row.solved / row.judged], color=f"C{i % 10}", s=40)
        frontier.annotate(
            f"{row.tier} ({row.judged:,})",
            (mean_cost, row.solved / row.judged),
            fontsize=8,
            xytext=(4, 4),
            textcoords="offset points",
        )
    frontier.set_xlabel("mean cost per session, USD")
    frontier.set_ylabel("solved (sessions with a verdict)")
    frontier.set_ylim(0, 1.05)
    frontier.set_title("solved vs cost, by highest tier reached", fontsize=10)
    frontier.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(target, format="png", metadata={"Software": None})
