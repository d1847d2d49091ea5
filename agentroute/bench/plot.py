"""The cost/solved plot (PNG), drawn with matplotlib — an optional extra, imported here only.

matplotlib is not a dependency of agentroute: ``pip install 'agentroute[bench]'`` adds it.
It is imported inside :func:`plot_frontier`, never when agentroute or its CLI starts, and
drawn on a bare ``Figure`` with the Agg canvas, so no pyplot state or GUI backend is touched.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path
from typing import BinaryIO

from agentroute.bench.cascade import Evaluation, pareto

__all__ = ["MISSING_MATPLOTLIB", "plot_available", "plot_frontier"]

MISSING_MATPLOTLIB = "plot skipped: matplotlib is not installed (pip install 'agentroute[bench]')"


def plot_available() -> bool:
    """Whether matplotlib can be imported (without importing it)."""
    return importlib.util.find_spec("matplotlib") is not None


def plot_frontier(ev: Evaluation, target: str | Path | BinaryIO, *, title: str) -> None:
    """Solved tasks against cost: the k sweep, each single model, the policy (and the policy
    under each output check), the oracle.

    Raises ``ImportError`` when matplotlib is missing (check :func:`plot_available` first).
    Deprecation warnings raised inside matplotlib and its dependencies (pyparsing, Pillow)
    while drawing are not the caller's to act on, and are silenced for the drawing only.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        _draw(ev, target, title)


def _draw(ev: Evaluation, target: str | Path | BinaryIO, title: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    sweep = ev.sweep  # in k order: the curve a growing patience traces
    on = pareto(ev.sweep)
    ax.plot(
        [t.cost_usd for t in sweep],
        [t.solved for t in sweep],
        color="0.6",
        marker=".",
        linewidth=1,
        label="every tier left after k calls (k sweep)",
    )
    front = [t for t in sweep if t.name in on]
    ax.plot(
        [t.cost_usd for t in front],
        [t.solved for t in front],
        color="tab:blue",
        marker="o",
        markersize=4,
        linestyle="none",
        label="frontier of the sweep",
    )
    every = max(1, len(front) // 8)  # label about eight of them: more would overlap
    for t in front[::every]:
        ax.annotate(
            t.name,
            (t.cost_usd, t.solved),
            fontsize=7,
            xytext=(3, -9),
            textcoords="offset points",
            color="tab:blue",
        )
    for t in ev.singles:
        ax.plot(t.cost_usd, t.solved, marker="s", color="tab:green", linestyle="none")
        ax.annotate(
            t.name,
            (t.cost_usd, t.solved),
            fontsize=8,
            xytext=(4, 4),
            textcoords="offset points",
            color="tab:green",
        )
    p, o = ev.policy, ev.oracle
    ax.plot(
        p.cost_usd,
        p.solved,
        marker="*",
        markersize=14,
        color="tab:red",
        linestyle="none",
        label="policy (configured step escalation)",
    )
    ax.plot(
        [o.cost_usd_zero, o.cost_usd_top],
        [o.solved, o.solved],
        marker="D",
        color="black",
        linestyle=":",
        label=r"oracle (unsolved at \$0 … at top model)",
    )
    for i, c in enumerate(ev.checks):  # each output-check setting: its policy point
        ax.plot(
            c.policy.cost_usd,
            c.policy.solved,
            marker="P",
            markersize=10,
            color=f"C{(i + 4) % 10}",
            linestyle="none",
            label=c.policy.name,
        )
    checks = [c.policy for c in ev.checks]
    costs = [t.cost_usd for t in (*ev.sweep, *ev.singles, p, *checks)] + [o.cost_usd_zero]
    if min(costs) > 0 and max(costs) / min(costs) > 20:  # log needs every point positive
        ax.set_xscale("log")
    ax.set_xlabel("cost, USD (all tasks)")
    ax.set_ylabel(f"tasks solved (of {len(ev.tasks)})")
    ax.set_title(title.replace("$", r"\$"), fontsize=10)  # "$…$" would be math
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(target, format="png", metadata={"Software": None})
