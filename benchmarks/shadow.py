"""Shadow routing on the simulator's airline scenario: the agreement it reports per tier, and
its overhead on the user's calls (issue 18).

**The agent** is the demo's loop (``router.complete`` with the scenario's tools, run the tool
calls, until the model answers in text) on the simulator's airline scenario
(:mod:`agentroute.sim.scenario`), over real loopback HTTP. Two tiers: ``weak`` =
``small-model`` (skill 0) on an OpenAI-compatible instance, ``strong`` = ``big-model``
(skill 2) on an Anthropic one; a tool error in the recent steps or a long stay (the step
signal) escalates the next step. Each session is one rebooking task, *hard* (a
``basic_economy`` fare, half the tasks, drawn from a seed) or *easy* (``economy``). On an easy
task both models make the same moves. On a hard one the weak model looks up the fare rules
(``get_policy``, one topic a step: the scenario's ``wander``) instead of the change it cannot
make, until the policy's step signal escalates the session; the strong model asks for an
economy fare at once.

**A. Agreement separates the tiers.** ``shadow: {tier: strong, tiers: [weak, strong],
sample: 1.0}``: every step is also sent to the strong tier and compared (the default
comparator: tool names and canonical arguments, or text similarity). The strong tier
shadowed against itself is the noise floor (the simulator is deterministic, so it is 1.0
here; a real model's is lower). Agreement per served tier and per (tier, cause) from
``router.shadow_stats()`` and from ``agentroute report --json`` on the routing log the run
wrote.

**B. Overhead on the user's path.** The same loop, 4 sessions at a time, on
three routers that differ only in their ``shadow`` section: none; ``sample: 0.1`` with
``budget_usd_per_day: 0`` (each step goes through the shadow step and its sampling, a sample
is dropped at once: the user-path cost alone, no shadow call); ``sample: 0.1`` (the shadow
calls run). Rounds interleaved in one process (the order rotated each round), per-call
latency of the user's ``complete()`` calls. Twice: **B1** with the simulator in a process of
its own answering after a model latency (as a provider does: the shadow calls' server side is
elsewhere, what they cost the user's loop is their client side), which is what the goal is
judged on; **B2**, the worst case, with the simulator in this process answering at once (its
work for every shadow call competes with the user's calls for the loop and the CPU).

    python benchmarks/shadow.py            # writes benchmarks/results/shadow.md
    python benchmarks/shadow.py --quick    # smoke run, writes nothing
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from _report import publish

from agentroute import Router
from agentroute.shadow import ShadowStats
from agentroute.sim.airline_tasks import Task, airline_sim, draw_tasks, run_task
from agentroute.sim.server import run_simulator

WANDER = 20
"""``get_policy`` lookups the weak model makes on a hard task before the refused change."""
MAX_STEPS = 40
PARALLEL = 4
"""Sessions in flight at once."""
HARD_SHARE = 0.5
LATENCY_MS = 30.0
"""B1's model latency (each simulated answer): real models take hundreds of ms."""


def make_tasks(n: int, seed: int, prefix: str = "task") -> tuple[Task, ...]:
    ids = [f"{prefix}-{i:04d}" for i in range(n)]
    return draw_tasks(ids, salt=f"shadow-bench/{seed}", hard_share=HARD_SHARE)


def sim_data(latency_ms: float = 0.0) -> dict[str, Any]:
    return airline_sim(WANDER, latency_ms)


@contextlib.contextmanager
def sim_process(latency_ms: float) -> Iterator[str]:
    """The simulator in a process of its own (``agentroute sim serve``), as a provider is:
    its work is not on the router's event loop nor under its GIL; its URL."""
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "sim.yaml"
        config.write_text(json.dumps(sim_data(latency_ms)), encoding="utf-8")  # JSON is YAML
        proc = subprocess.Popen(
            [sys.executable, "-m", "agentroute", "sim", "serve", "--config", str(config)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()  # "agentroute sim: listening on URL"
            if "listening on" not in line:
                raise RuntimeError(f"the simulator did not start: {line!r}")
            yield line.rsplit(" ", 1)[-1].strip()
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def router_data(url: str, shadow: Mapping[str, Any] | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "providers": {
            "cheapsim": {"kind": "openai", "base_url": f"{url}/cheap/v1", "api_key": "sim"},
            "claudesim": {"kind": "anthropic", "base_url": f"{url}/claude", "api_key": "sim"},
        },
        "models": {
            "small-model": {
                "context_window": 128_000,
                "price": {"input": 0.15, "output": 0.6, "cache_read": 0.075},
                "deployments": [{"provider": "cheapsim", "name": "small-model"}],
            },
            "big-model": {
                "context_window": 200_000,
                "price": {"input": 3, "output": 15, "cache_read": 0.3, "cache_write": 3.75},
                "deployments": [{"provider": "claudesim", "name": "big-model"}],
            },
        },
        "tiers": {"weak": ["small-model"], "strong": ["big-model"]},
        "policy": {"start_tier": "weak", "thresholds": {"strong": 0.4}},
        "telemetry": {"log_events": False},
    }
    if shadow is not None:
        data["shadow"] = dict(shadow)
    return data


async def run_tasks(router: Router, tasks: Sequence[Task], latencies: list[float] | None) -> int:
    limit = anyio.Semaphore(PARALLEL)
    solved = 0

    async def one(task: Task) -> None:
        nonlocal solved
        async with limit:
            ok, _ = await run_task(router, task, max_steps=MAX_STEPS, latencies=latencies)
            solved += ok

    async with anyio.create_task_group() as tg:
        for task in tasks:
            tg.start_soon(one, task)
    return solved


# A. Agreement ------------------------------------------------------------------------------------

SHADOW_ALL = {
    "tier": "strong",
    "tiers": ["weak", "strong"],
    "sample": 1.0,
    "max_concurrency": 64,
    "budget_usd_per_day": 1000,
}


@dataclass(frozen=True, slots=True)
class Agreement:
    stats: ShadowStats
    solved: int
    sessions: int


async def agreement(n: int, log: Path) -> Agreement:
    """``n`` sessions, every step shadowed; the routing log written to ``log``."""
    tasks = make_tasks(n, seed=0)
    async with (
        run_simulator(sim_data()) as sim,
        Router(router_data(sim.url, SHADOW_ALL), routing_log=log) as router,
    ):
        solved = await run_tasks(router, tasks, None)
        await router.drain_shadow()
        stats = router.shadow_stats()
    assert stats is not None
    return Agreement(stats, solved, n)


def report_json(log: Path) -> dict[str, Any]:
    """``agentroute report --json`` on ``log``."""
    out = subprocess.run(
        [sys.executable, "-m", "agentroute", "report", "--json", "--quiet", str(log)],
        check=True,
        capture_output=True,
        text=True,
    )
    report: dict[str, Any] = json.loads(out.stdout)
    return report


def part_a(n: int) -> tuple[list[str], float]:
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "routing.jsonl"
        a = anyio.run(agreement, n, log)
        report = report_json(log)
    s = a.stats
    weak, strong = s.by_tier["weak"].mean, s.by_tier["strong"].mean
    lines = [
        f"{a.sessions} sessions ({sum(t.hard for t in make_tasks(a.sessions, 0))} hard), "
        f"{a.solved} solved; shadow calls: {s.sampled} sampled, {s.compared} compared, "
        f"{s.failed} failed, {s.dropped_concurrency + s.dropped_budget} dropped; "
        f"shadow cost ${s.cost_usd:.4f} (not in any session's cost).",
        "",
        "From `router.shadow_stats()`:",
        "",
        "| served tier | cause | compared | mean agreement |",
        "|---|---|---:|---:|",
    ]
    for tier in ("weak", "strong"):
        t = s.by_tier[tier]
        lines.append(f"| **{tier}** | (all) | {t.count} | **{t.mean:.3f}** |")
        causes = sorted(
            ((c, v) for (tt, c), v in s.by_cause.items() if tt == tier), key=lambda x: -x[1].count
        )
        lines += [f"| {tier} | {c} | {v.count} | {v.mean:.3f} |" for c, v in causes]
    rows = report.get("shadow", [])
    lines += [
        "",
        "From `agentroute report --json` on the routing log of the same run "
        f"({report.get('shadow_lines', 0)} late shadow lines):",
        "",
        "| served tier | cause | shadowed | failed | mean agreement | share < 0.5 |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        mean = "–" if r["mean_agreement"] is None else f"{r['mean_agreement']:.3f}"
        below = "–" if r["below_share"] is None else f"{r['below_share']:.0%}"
        lines.append(
            f"| {r['tier']} | {r['cause']} | {r['shadowed']} | {r['failed']} | {mean} | {below} |"
        )
    by_report = _report_means(rows)
    gap = strong - weak
    lines += [
        "",
        f"Agreement: weak tier **{weak:.3f}**, strong tier (noise floor) **{strong:.3f}**: "
        f"gap **{gap:.3f}** (report: weak {by_report.get('weak', float('nan')):.3f}, "
        f"strong {by_report.get('strong', float('nan')):.3f}).",
    ]
    worst = report.get("shadow_worst", [])
    if worst:
        w = worst[0]
        lines += [
            "",
            f"The step that disagreed most (report): session {w['session_id']} step {w['step']}, "
            f"served {w['served_tier']}, agreement {w['agreement']:.2f}: {w['reason']}.",
        ]
    return lines, gap


def _report_means(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """The report's per-(tier, cause) rows pooled per tier (comparisons weighted)."""
    sums: dict[str, list[float]] = {}
    for r in rows:
        if r["mean_agreement"] is None:
            continue
        n = r["shadowed"] - r["failed"]
        acc = sums.setdefault(r["tier"], [0.0, 0.0])
        acc[0] += n
        acc[1] += n * r["mean_agreement"]
    return {tier: total / n for tier, (n, total) in sums.items() if n}


# B. Overhead -------------------------------------------------------------------------------------

ARMS: dict[str, dict[str, Any] | None] = {
    "no shadow": None,
    "sample 0.1, budget 0 (step only)": {
        "tier": "strong",
        "sample": 0.1,
        "budget_usd_per_day": 0,
    },
    "sample 0.1 (shadow calls run)": {"tier": "strong", "sample": 0.1},
}


@dataclass(frozen=True, slots=True)
class Round:
    median: float
    p90: float
    calls: int


def _p90(xs: Sequence[float]) -> float:
    return statistics.quantiles(xs, n=10)[-1]


async def overhead(
    rounds: int, n: int, url: str | None
) -> tuple[dict[str, list[Round]], dict[str, int]]:
    """Interleaved rounds on the simulator at ``url`` (``None``: one in this process)."""
    if url is None:
        async with run_simulator(sim_data()) as sim:
            return await _rounds(rounds, n, sim.url)
    return await _rounds(rounds, n, url)


async def _rounds(rounds: int, n: int, url: str) -> tuple[dict[str, list[Round]], dict[str, int]]:
    out: dict[str, list[Round]] = {arm: [] for arm in ARMS}
    sampled = dict.fromkeys(ARMS, 0)
    names = list(ARMS)
    # a warm-up round (imports, connections, code paths), not counted
    for arm in names:
        async with Router(router_data(url, ARMS[arm])) as router:
            await run_tasks(router, make_tasks(PARALLEL, 99, "warm"), None)
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for arm in order:
            latencies: list[float] = []
            tasks = make_tasks(n, seed=0, prefix=f"r{r}")  # the same tasks every time
            async with Router(router_data(url, ARMS[arm])) as router:
                await run_tasks(router, tasks, latencies)
                await router.drain_shadow()
                stats = router.shadow_stats()
            sampled[arm] += stats.sampled if stats is not None else 0
            median = statistics.median(latencies)
            out[arm].append(Round(median, _p90(latencies), len(latencies)))
    return out, sampled


def part_b(rounds: int, n: int, latency_ms: float | None) -> tuple[list[str], float, float]:
    """``latency_ms``: the simulator in its own process with that model latency; ``None``: in
    this process, no latency (the worst case)."""
    if latency_ms is None:
        results, sampled = anyio.run(overhead, rounds, n, None)
    else:
        with sim_process(latency_ms) as url:
            results, sampled = anyio.run(overhead, rounds, n, url)
    base = results["no shadow"]
    base_median = statistics.median(r.median for r in base)
    base_p90 = statistics.median(r.p90 for r in base)
    spread = max(abs(r.median / base_median - 1) for r in base)
    spread_p90 = max(abs(r.p90 / base_p90 - 1) for r in base)
    lines = [
        f"{rounds} rounds × {n} sessions per router (~{sum(r.calls for r in base) // rounds} user "
        "calls per round), "
        f"{PARALLEL} sessions at a time; per round the median and p90 of the user's call "
        "latency (the same tasks in every round and router); below, the median over the "
        "rounds, and the paired ratio: per round the router's median over the no-shadow "
        "router's, the median of those.",
        "",
        "| router | user calls | median (ms) | p90 (ms) | median ratio | p90 ratio | "
        "paired median ratio | shadow calls |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    honest = 1.0
    for arm, rs in results.items():
        median = statistics.median(r.median for r in rs)
        p90 = statistics.median(r.p90 for r in rs)
        ratio = median / base_median
        paired = statistics.median(r.median / b.median for r, b in zip(rs, base, strict=True))
        if arm == "sample 0.1 (shadow calls run)":
            honest = ratio
        lines.append(
            f"| {arm} | {sum(r.calls for r in rs)} | {median * 1e3:.2f} | {p90 * 1e3:.2f} | "
            f"{ratio:.3f}× | {p90 / base_p90:.3f}× | {paired:.3f}× | {sampled[arm]} |"
        )
    step_only = statistics.median(r.median for r in results["sample 0.1, budget 0 (step only)"])
    lines += [
        "",
        f"No-shadow round-to-round spread (largest deviation of a round from the median over "
        f'rounds): median ±{spread:.1%}, p90 ±{spread_p90:.1%}: that is what "within noise" '
        "means here.",
        "",
        f"- shadow step only / no shadow, median: **{step_only / base_median:.3f}×**",
        f"- with the shadow calls' load / no shadow, median: **{honest:.3f}×**",
    ]
    return lines, honest, spread


def part_b_text(
    realistic: tuple[list[str], float, float], worst: tuple[list[str], float, float]
) -> list[str]:
    (b1, honest, spread), (b2, _, _) = realistic, worst
    verdict = "met" if abs(honest - 1) <= spread else "NOT met"
    return [
        f"### B1. The simulator in its own process, {LATENCY_MS:g} ms per model call",
        "",
        "As against a provider: the simulator serves from another process (`agentroute sim "
        f"serve`), each answer after {LATENCY_MS:g} ms (real models take hundreds), so what "
        "the shadow calls cost the user's loop is their client side: building the request, "
        "reading the answer, comparing.",
        "",
        *b1,
        "",
        "### B2. Worst case: the simulator in this process, no latency",
        "",
        "The shadow calls run on the same event loop as the user's calls and hit a simulator "
        "in the same process that answers at once: the simulator's work for every shadow call "
        "(its HTTP server, the scenario) competes with the user's calls for the loop, the GIL "
        "and the 2 CPU cores, and no model latency hides it. An upper bound, not what a "
        "deployment sees.",
        "",
        *b2,
        "",
        f"Goal: with `sample: 0.1` the user's calls within noise of no shadowing (B1: "
        f"{honest:.3f}× the no-shadow median, whose rounds spread ±{spread:.1%}): "
        f"**{verdict}**.",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run; write no result file")
    args = parser.parse_args()
    sessions, rounds, per_round = (16, 2, 8) if args.quick else (200, 9, 40)
    a_lines, gap = part_a(sessions)
    realistic = part_b(rounds, per_round, LATENCY_MS / 5 if args.quick else LATENCY_MS)
    worst = part_b(rounds, per_round, None)
    command = "python " + " ".join(["benchmarks/shadow.py", *sys.argv[1:]])
    verdict = "met" if gap >= 0.1 else "NOT met"
    text = "\n".join(
        [
            "# Shadow routing: agreement per tier, overhead on the user's path",
            "",
            f"Command: `{command}`",
            "",
            _doc("**The agent**", "**A."),
            "",
            "## A. Agreement separates the tiers",
            "",
            _doc("**A. Agreement separates the tiers.**", "**B."),
            "",
            *a_lines,
            "",
            f"Goal: the weak tier's agreement clearly below the strong tier's (gap ≥ 0.1): "
            f"**{verdict}**.",
            "",
            "## B. Overhead on the user's path",
            "",
            _doc("**B. Overhead on the user's path.**", "python benchmarks"),
            "",
            *part_b_text(realistic, worst),
        ]
    )
    publish("shadow", text + "\n", write=not args.quick)


def _doc(start: str, end: str) -> str:
    """The module docstring's text between two markers (the first kept), as markdown."""
    text = inspect.cleandoc(__doc__ or "")
    body = text[text.index(start) : text.index(end)].strip()
    return body.replace("``", "`")


if __name__ == "__main__":
    main()
