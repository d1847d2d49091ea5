"""Routed-call overhead: what agentroute adds to one model call (DESIGN §13: ≤ 10 µs median).

Side by side in one run, on one event loop, with no network:

* ``bare provider``: ``await ScriptedProvider.send(call)`` — the test double alone;
* ``complete()``: the same provider behind ``Router.complete()`` (routing, session, affinity,
  fallback with its per-attempt timeout, usage and cost), log events off;
* ``complete(), no timeouts``: the same with ``attempt_timeout_s`` and ``deadline_s`` off, so
  no anyio cancel scope is entered: the difference is what the timeouts cost;
* ``wrap()``: an async function returning an OpenAI-shaped dict, bare and wrapped;
* ``complete(), log events on``: events emitted, structlog configured by the "app" to drop
  debug events (all variants run under that configuration).

A discarded warm-up pass runs first. The variants run interleaved, one batch each per round,
so machine noise lands on all alike; the per-call time of each batch is recorded and the
median and minimum over rounds reported.
Overhead = routed median − bare median. Tracing (spans) is not wired yet, so
"tracing off" is the only tracing mode measured here.

    python benchmarks/overhead.py            # full run, writes benchmarks/results/overhead.md
    python benchmarks/overhead.py --quick    # smoke run (CI), writes nothing
"""

from __future__ import annotations

import argparse
import logging
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import structlog
from _report import publish

from agentroute import ModelCall, Router, Target
from agentroute.testing import ScriptedProvider, openai_response, text_result

CONFIG: dict[str, Any] = {
    "providers": {"p": {"kind": "openai"}},
    "models": {
        "small": {
            "context_window": 128_000,
            "price": {"input": 0.15, "output": 0.6, "cache_read": 0.015},
            "deployments": [{"provider": "p", "name": "small-1"}],
        },
        "big": {
            "context_window": 200_000,
            "price": {"input": 3, "output": 15, "cache_read": 0.3},
            "deployments": [{"provider": "p", "name": "big-1"}],
        },
    },
    "tiers": {"simple": ["small"], "complex": ["big"]},
}

MESSAGES: list[dict[str, Any]] = [
    {"role": "system", "content": "You are a support agent. " * 200},
    {"role": "user", "content": "Change my flight, please."},
    *(
        m
        for i in range(5)
        for m in (
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": f"c{i}",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": "{}"},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": f"c{i}", "content": '{"ok": true}'},
        )
    ),
]

Variant = Callable[[], Awaitable[Any]]


async def measure(
    fns: dict[str, Variant], rounds: int, per_batch: int
) -> dict[str, tuple[float, float]]:
    """(median, min) per-call seconds of each variant over ``rounds`` interleaved batches.

    Each round runs one batch of every variant, so machine noise lands on all of them alike.
    """
    for fn in fns.values():  # warm-up
        for _ in range(per_batch):
            await fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(per_batch):
                await fn()
            samples[name].append((time.perf_counter() - start) / per_batch)
    return {name: (statistics.median(s), min(s)) for name, s in samples.items()}


def variants(log_events: bool) -> dict[str, Variant]:
    provider = ScriptedProvider(default=text_result("ok"))
    config = {**CONFIG, "telemetry": {"log_events": log_events}}
    router = Router(config, providers={"p": provider})
    target = Target("small", "simple", "p", "openai", "small-1", 128_000)
    bare_call = ModelCall(messages=MESSAGES, target=target)
    response = openai_response("ok", prompt_tokens=3000, completion_tokens=20, cached_tokens=2048)

    async def call_llm(messages: list[dict[str, Any]], *, model: str, **kw: Any) -> Any:
        return response

    wrapped = router.wrap(call_llm)

    async def bare_provider() -> Any:
        provider.calls.clear()
        return await provider.send(bare_call)

    async def routed_complete() -> Any:
        provider.calls.clear()
        return await router.complete(MESSAGES)

    untimed_config = {**config, "resilience": {"attempt_timeout_s": None, "deadline_s": None}}
    untimed = Router(untimed_config, providers={"p": provider})

    async def routed_untimed() -> Any:
        provider.calls.clear()
        return await untimed.complete(MESSAGES)

    async def bare_function() -> Any:
        return await call_llm(MESSAGES, model="small-1")

    async def routed_wrap() -> Any:
        return await wrapped(MESSAGES)

    return {
        "bare provider": bare_provider,
        "complete()": routed_complete,
        "complete(), no timeouts": routed_untimed,
        "bare function": bare_function,
        "wrap()": routed_wrap,
    }


async def run(rounds: int, per_batch: int) -> dict[str, tuple[float, float]]:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    try:
        fns = variants(log_events=False)
        fns["complete(), log events on"] = variants(log_events=True)["complete()"]
        return await measure(fns, rounds, per_batch)
    finally:
        structlog.reset_defaults()


def report(results: dict[str, dict[str, tuple[float, float]]], command: str) -> str:
    lines = [
        "# Routed-call overhead",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {platform.machine()}, Python {platform.python_version()}, "
        f"{platform.system()}; no network, tracing off.",
        "",
        "| backend | variant | median µs/call | min µs/call | median overhead vs bare µs |",
        "|---|---|---:|---:|---:|",
    ]
    for backend, r in results.items():
        for name, (median, low) in r.items():
            bare = r["bare function" if name.startswith("wrap") else "bare provider"][0]
            over = "" if name.startswith("bare") else f"{(median - bare) * 1e6:.1f}"
            lines.append(f"| {backend} | {name} | {median * 1e6:.1f} | {low * 1e6:.1f} | {over} |")
    lines += [
        "",
        "On this shared 2-core machine whole periods run up to ~60% slower (a noisy",
        "neighbour): the minimum over rounds is the steadier figure, and a median far above",
        "its minimum marks a noisy run. `wrap()` costs ~2 µs more than `complete()` because",
        "it reads usage from the response (an OpenAI-shaped dict here) and binds arguments.",
        "",
        "The per-attempt timeout and the call deadline are enforced with an anyio cancel scope",
        "(DESIGN §6); entering and leaving one costs the difference between `complete()` and",
        "`complete(), no timeouts` (an event-loop timer set and cancelled per attempt).",
        "",
        "Goal (DESIGN §13): ≤ 10 µs added per routed call with tracing off: not met. LiteLLM's",
        "Router, measured at ~5.9 ms per mocked call on the same kind of machine, is not run",
        "here yet: the side-by-side LiteLLM run belongs to the telemetry benchmark (issue 7);",
        "`benchmarks/fallback_hop.py` runs it side by side for the no-failure and one-hop calls.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run; write no result file")
    parser.add_argument("--rounds", type=int, default=31)
    parser.add_argument("--per-batch", type=int, default=2000)
    args = parser.parse_args()
    rounds, per_batch = (3, 200) if args.quick else (args.rounds, args.per_batch)
    backends = ("asyncio", "trio")
    if not args.quick:
        # The first run in a process was measured ~60% slower than later ones whichever
        # backend went first (warm-up), so one discarded pass per backend comes first.
        for backend in backends:
            anyio.run(run, 5, per_batch, backend=backend)
    results = {backend: anyio.run(run, rounds, per_batch, backend=backend) for backend in backends}
    command = "python " + " ".join(["benchmarks/overhead.py", *sys.argv[1:]])
    text = report(results, command)
    publish("overhead", text, write=not args.quick)


if __name__ == "__main__":
    main()
