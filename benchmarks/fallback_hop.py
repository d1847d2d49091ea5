"""One fallback hop: what a failed first deployment adds to a routed call (no network).

On a failure the router builds and classifies the error, records an ``Attempt``, counts the
failure towards a cooldown and tries the next deployment. What that costs, next to the call
that needs no hop and to LiteLLM's Router doing the same (issue 5), side by side on asyncio
and trio: ``Router.complete()`` over one model with deployments ``a-1`` and ``b-1`` behind a
:class:`~agentroute.testing.MockProvider` answering at once —

* ``no failure``: ``a-1`` answers (the baseline);
* ``one hop``: ``a-1`` raises a fresh ``ProviderUnavailable`` (503), ``b-1`` answers
  (``max_retries: 0``); minus the baseline, one fallback hop;
* ``one retry``: the first attempt fails, the same deployment answers the second
  (``max_retries: 1``; a ``FakeClock``: the backoff yields to the loop once, waits not at all).

``cooldown_s: 0``: failures are counted in the in-memory store but nothing is put aside, so
every call takes the hop; log events off (their check is in the cost). LiteLLM runs in its own
virtualenv (``benchmarks/.venv-litellm``, as in http_throughput.py), a worker subprocess whose
batches interleave with agentroute's asyncio rounds: group ``primary``
(``mock_response="litellm.InternalServerError"``, raised on its deployment call path) falls
back to ``backup`` (``mock_response="ok"``), ``num_retries=0``; ``no failure`` calls
``backup``. A LiteLLM batch ends by draining the logging its calls scheduled in the
background. No network: the price map from the package, proxies at a closed port, every
socket connect and DNS lookup refused and counted; the single-deployment cooldown is off.

Interleaved rounds after a warm-up (order rotating; an untimed ``gc.collect()`` before each
batch); median and minimum per-call time over rounds. Then, on asyncio, the collector's time
per call over long runs and a cProfile of hop against baseline (collector off).

    python benchmarks/fallback_hop.py            # full run, writes results/fallback_hop.md
    python benchmarks/fallback_hop.py --quick    # smoke run (CI): LiteLLM only if its venv exists

Only the standard library is imported at module level: the LiteLLM worker runs this file in
its virtualenv, which has no agentroute.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from _litellm import Worker, block_network, quiet_litellm, start_worker, timed_batch
from _report import publish

MESSAGES: list[dict[str, Any]] = [
    {"role": "system", "content": "You are a terse assistant."},
    {"role": "user", "content": "Say ok."},
]
BASE, HOP, RETRY = "no failure", "one hop", "one retry"
Variant = Callable[[], Awaitable[Any]]
Samples = dict[str, list[float]]


# The LiteLLM worker (runs in the LiteLLM virtualenv) -----------------------------------------


def litellm_worker(warmup: int) -> None:
    """Read batch sizes from stdin; print each round's per-call seconds of both calls as JSON."""
    import asyncio
    import importlib.metadata

    connects = block_network("fallback_hop.py")
    logs = quiet_litellm()
    import litellm

    model_list = [
        {"model_name": name, "litellm_params": {"model": f"openai/{name}", "mock_response": mock}}
        for name, mock in (("primary", "litellm.InternalServerError"), ("backup", "ok"))
    ]
    router = litellm.Router(model_list, fallbacks=[{"primary": ["backup"]}], num_retries=0)

    async def call(group: str) -> Any:
        return await router.acompletion(model=group, messages=MESSAGES, api_key="sk-bench")

    async def main() -> None:
        headers = (await call("primary"))._hidden_params.get("additional_headers") or {}
        fell_back = headers.get("x-litellm-attempted-fallbacks") == 1
        for _ in range(warmup):
            await call("primary")
            await call("backup")
        await asyncio.sleep(0.5)  # the warm-up's logging settles; long-lived tasks remain
        steady = asyncio.all_tasks()
        version = importlib.metadata.version("litellm")
        print(json.dumps({"version": version, "fell_back": fell_back}), flush=True)
        turn = 0
        while line := sys.stdin.readline():
            turn += 1
            order = ((BASE, "backup"), (HOP, "primary"))[:: 1 if turn % 2 else -1]
            seconds = {
                k: await timed_batch(functools.partial(call, g), int(line), steady, logs)
                for k, g in order
            }
            print(json.dumps(seconds), flush=True)
        print(json.dumps({"connects": connects}), flush=True)

    asyncio.run(main())


class LiteLLM(Worker):
    """The worker subprocess; :meth:`round` runs one batch of each LiteLLM call."""

    def __init__(self, python: Path, per_batch: int, warmup: int) -> None:
        # LiteLLM would cool its one-deployment group down after 1,000 failures a minute
        no_cooldown = {"SINGLE_DEPLOYMENT_TRAFFIC_FAILURE_THRESHOLD": str(10**9)}
        super().__init__(python, __file__, per_batch, warmup, no_cooldown)
        self.samples: dict[str, list[float]] = {BASE: [], HOP: []}
        self.version, self.fell_back = self.ready["version"], self.ready["fell_back"]

    def round(self) -> None:
        for name, seconds in self.ask().items():
            self.samples[name].append(seconds)


# agentroute ----------------------------------------------------------------------------------


def config(max_retries: int) -> dict[str, Any]:
    model = {"context_window": 128_000, "price": {"input": 0.15, "output": 0.6}}
    model["deployments"] = [{"provider": "p", "name": "a-1"}, {"provider": "p", "name": "b-1"}]
    return {
        "providers": {"p": {"kind": "openai"}},
        "models": {"m": model},
        "tiers": {"simple": ["m"]},
        "resilience": {"max_retries": max_retries, "cooldown_s": 0},
        "telemetry": {"log_events": False},
    }


def variants() -> dict[str, tuple[Variant, list[str]]]:
    """The three routed calls, each with the attempts it should make."""
    from agentroute import Router
    from agentroute.errors import ProviderUnavailable
    from agentroute.testing import FakeClock, MockProvider, text_result

    answer = text_result("ok")
    fails_on: dict[str, tuple[int, Callable[[Any], bool], list[str]]] = {
        BASE: (0, lambda call: False, ["a-1 ok"]),
        HOP: (0, lambda call: call.target.deployment == "a-1", ["a-1 error", "b-1 ok"]),
        RETRY: (1, lambda call: call.attempt == 1, ["a-1 error", "a-1 ok"]),
    }
    fns: dict[str, tuple[Variant, list[str]]] = {}
    for name, (max_retries, fails, expected) in fails_on.items():

        def handler(call: Any, fails: Callable[[Any], bool] = fails) -> Any:
            return ProviderUnavailable("unavailable", status_code=503) if fails(call) else answer

        provider, clock = MockProvider(handler), FakeClock()
        router = Router(config(max_retries), providers={"p": provider}, clock=clock)

        async def fn(router: Any = router, provider: Any = provider, clock: Any = clock) -> Any:
            provider.calls.clear()
            clock.sleeps.clear()
            return await router.complete(MESSAGES)

        fns[name] = fn, expected
    return fns


async def measure(rounds: int, per_batch: int, litellm: LiteLLM | None) -> Samples:
    """Per-call seconds of each variant per round; LiteLLM's batches run within the rounds."""
    fns: dict[str, Variant] = {}
    for name, (fn, expected) in variants().items():
        got = [f"{a.target.deployment} {a.outcome}" for a in (await fn()).attempts]
        if got != expected:
            raise RuntimeError(f"{name}: attempts {got}, expected {expected}")
        for _ in range(per_batch):  # warm-up
            await fn()
        fns[name] = fn
    names = list(fns)
    samples: Samples = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            gc.collect()
            start = time.perf_counter()
            for _ in range(per_batch):
                await fns[name]()
            samples[name].append((time.perf_counter() - start) / per_batch)
        if litellm is not None:
            litellm.round()  # blocks this loop while the worker runs: nothing else is running
    return samples


async def profile(calls: int) -> dict[str, Any]:
    """On asyncio: the cyclic collector's work per call over ``calls`` calls of each variant,
    and the functions whose own time (cProfile, collector off) grew most from baseline to hop."""
    import cProfile
    import pstats

    fns = {name: fn for name, (fn, _) in variants().items()}
    own: dict[str, dict[Any, float]] = {}
    collector: dict[str, tuple[float, float, int]] = {}
    spent = [0.0, 0.0, 0.0]  # seconds in the collector, objects it freed; start of a run

    def timer(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            spent[2] = time.perf_counter()
        else:
            spent[0] += time.perf_counter() - spent[2]
            spent[1] += info["collected"]

    for name, fn in fns.items():
        gc.collect()
        spent[:2], full = [0.0, 0.0], gc.get_stats()[2]["collections"]
        gc.callbacks.append(timer)
        for _ in range(calls):
            await fn()
        gc.callbacks.remove(timer)
        full = gc.get_stats()[2]["collections"] - full
        collector[name] = (spent[0] * 1e6 / calls, spent[1] / calls, full)
        if name == RETRY:
            continue
        prof = cProfile.Profile()
        gc.disable()
        prof.enable()
        for _ in range(calls):
            await fn()
        prof.disable()
        gc.enable()
        stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
        own[name] = {k: row[2] / calls for k, row in stats.items()}
    grown = sorted(((t - own[BASE].get(k, 0.0), k) for k, t in own[HOP].items()), reverse=True)
    top = [(t * 1e6, "/".join(Path(k[0]).parts[-2:]) + f":{k[1]} {k[2]}") for t, k in grown[:6]]
    return {"top": top, "gc": collector, "calls": calls}


# The report ----------------------------------------------------------------------------------


def report(
    runs: dict[str, Samples], args: Any, litellm: LiteLLM | None, why: str, prof: Any
) -> str:
    command = "python " + " ".join(["benchmarks/fallback_hop.py", *sys.argv[1:]])
    version = f"; LiteLLM {litellm.version}" if litellm else ""
    lines = [
        "# One fallback hop",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {platform.machine()}, Python {platform.python_version()}, "
        f"{platform.system()}{version}; no network, tracing and log events off. {args.rounds} "
        f"interleaved rounds of {args.per_batch:,} calls per agentroute variant and "
        f"{args.litellm_batch} per LiteLLM call.",
        "",
        "| who | backend | call | median µs/call | min µs/call | added vs no failure µs "
        "(median / min) | median ÷ no failure |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    hop: dict[str, tuple[float, float]] = {}
    for run, samples in runs.items():
        b_med, b_min = statistics.median(samples[BASE]) * 1e6, min(samples[BASE]) * 1e6
        for name, s in samples.items():
            med, low = statistics.median(s) * 1e6, min(s) * 1e6
            added = f"{med - b_med:.1f} / {low - b_min:.1f} | {med / b_med:.2f}"
            lines.append(
                f"| {run.replace(' ', ' | ')} | {name} | {med:.1f} | {low:.1f} | "
                + ("| |" if name == BASE else f"{added} |")
            )
            if name == HOP:
                hop[run] = (low - b_min, (low - b_min) / b_min)
    (ours, share), (trio, trio_share) = hop["agentroute asyncio"], hop["agentroute trio"]
    lines += [
        "",
        "Summary, from the minima (steadier than the medians on this machine):",
        "",
        f"- agentroute: one hop adds {ours:.1f} µs on asyncio ({share:.2f} × its no-failure "
        f"call), {trio:.1f} µs on trio ({trio_share:.2f} ×).",
    ]
    if litellm is not None and not litellm.fell_back:
        lines.append(
            "- LiteLLM: its Router answered the failing group without reporting a fallback "
            "(no `x-litellm-attempted-fallbacks: 1`), so only its no-failure call is reported."
        )
    elif litellm is not None:
        theirs, their_share = hop["LiteLLM asyncio"]
        lines.append(
            f"- LiteLLM: one fallback adds {theirs / 1000:.2f} ms ({their_share:.2f} × its "
            f"no-failure call) = {theirs / ours:,.0f} × agentroute's hop on asyncio. Network "
            f"attempts in its worker: {len(litellm.connects)}{litellm.connects[:3] or ''}."
        )
    else:
        lines.append(f"- LiteLLM not run: {why}")
    if prof:
        lines += [
            "",
            f"## Where agentroute's hop goes (asyncio, {prof['calls']:,} calls in a row)",
            "",
            "The cyclic garbage collector: the error kept in `Attempt.error` holds its traceback,",
            "which holds the frames it passed through (fallback step, provider wrapper,",
            "provider) and their locals — the call, the attempts, the result, which holds the",
            "error again. So a call with a failed attempt ends as a reference cycle that only",
            "the collector frees; the timed rounds above collect before each batch, so they",
            "carry only part of this. The hop's garbage costs more than the retry's, as much of",
            "it, where it reaches the oldest generation (full collections, which scan the heap).",
            "",
            "| call | µs/call in the collector | objects freed per call | full collections |",
            "|---|---:|---:|---:|",
            *(f"| {k} | {us:.1f} | {n:.1f} | {f} |" for k, (us, n, f) in prof["gc"].items()),
            "",
            "cProfile, collector off: the functions whose own time per call grew most from",
            "the no-failure call to the hop (cProfile inflates small functions: read the order).",
            "",
            "| µs/call | function |",
            "|---:|---|",
            *(f"| {us:.1f} | `{fn}` |" for us, fn in prof["top"]),
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run; write no result file")
    parser.add_argument("--rounds", type=int, default=31)
    parser.add_argument("--per-batch", type=int, default=2000)
    parser.add_argument("--litellm-batch", type=int, default=20)
    parser.add_argument("--no-litellm", action="store_true", help="leave LiteLLM out")
    parser.add_argument("--litellm-worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.litellm_worker is not None:
        return litellm_worker(args.litellm_worker)
    import logging

    import anyio
    import structlog

    if args.quick:
        args.rounds, args.per_batch, args.litellm_batch = 3, 200, 2
    litellm, why = start_worker(args, LiteLLM)
    if litellm is None:
        print(f"LiteLLM skipped: {why}")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    runs: dict[str, Samples] = {}
    for backend, worker in (("asyncio", litellm), ("trio", None)):
        run = (measure, args.rounds, args.per_batch, worker)
        runs[f"agentroute {backend}"] = anyio.run(*run, backend=backend)
    if litellm is not None:
        litellm.close()
        keep = (BASE, HOP) if litellm.fell_back else (BASE,)
        runs["LiteLLM asyncio"] = {name: litellm.samples[name] for name in keep}
    prof = None if args.quick else anyio.run(profile, 20_000, backend="asyncio")
    publish("fallback_hop", report(runs, args, litellm, why, prof), write=not args.quick)


if __name__ == "__main__":
    main()
