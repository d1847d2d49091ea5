"""Session affinity and prompt caching: cached input and cost, affinity against cache-blind
routing (issue 6).

**A. Simulator** (real HTTP through ``Router.complete``). One model ``m`` (gpt-4.1's list
prices: $2 input, $0.50 cached input, $8 output per million tokens) with three deployments on
three simulator instances ``d1``-``d3``, each with its own OpenAI-style prefix cache (128-token
blocks, 1,024-token minimum, 300 s TTL, as the providers' ``cache_ttl_s``) and 2% ``unavailable``
faults (503, seeded), so pins break now and then. 200 sessions × 20 steps, run in rounds: each
round every session makes its next call, sessions shuffled, so the caches of all sessions
compete on every deployment. A conversation starts with a system prompt and tool schemas shared
by all sessions (~1,250 tokens), then its own task, and grows by a tool result and the answer
each step (~330 tokens). Each round is 20 s of agent time on the router's ``FakeClock`` (pin
TTLs, cooldowns; backoff never sleeps); the whole run lasts far less than the caches' 300 s, so
no cache expires. ``max_retries: 0``: a fault moves on to the next deployment at once (the
worst case for a pin); a deployment is put aside after 20 failures in 60 s (the 2% background
rate alone stays below that). The same tier for every call; every policy runs on a fresh
simulator. Policies, all the same router, differing only in how a deployment is picked:

* ``affinity (order)``: the default, ``affinity: {sticky: true, strategy: order}``;
* ``affinity (weighted)``: ``{sticky: true, strategy: weighted}``, equal weights: new pins
  spread over the deployments;
* ``random``: ``{sticky: false, strategy: weighted}``, equal weights (a random shuffle per call);
* ``cheapest per call``: the three deployments list the same price, so a price-greedy router
  that ignores the cache faces a tie on every call; it is broken by rotation (round-robin, as a
  least-busy tie-break does): ``sticky: false`` and a middleware rotating the deployments;
* ``perfect pin``: ``sticky: false`` and a middleware putting the deployment chosen by a hash
  of the session id first on every call, from the first call on and whatever failed before
  (after a fault it comes back to its warm cache): the upper bound of the cached share.

**B. τ-bench replay with cache economics** (prices of ``examples/agentroute.yaml``): see
:func:`price_runs` for the caching model.

    python benchmarks/affinity.py            # writes benchmarks/results/affinity.md
    python benchmarks/affinity.py --quick    # smoke run (10 sessions × 5 steps, 5 runs)
"""

from __future__ import annotations

import argparse
import inspect
import itertools
import random
import sys
import time
import zlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from _report import TAU_BENCH, publish

from agentroute import AllAttemptsFailed, CallNext, ModelCall, ModelResult, Router, Usage
from agentroute.config import Price, RouterConfig
from agentroute.policy.tokens import EstimateCounter, message_text
from agentroute.pricing import cost_usd
from agentroute.replay import RecordedRun, load_runs
from agentroute.sim.server import run_simulator
from agentroute.testing import CallRecorder, FakeClock, MockProvider

CONFIG = Path(__file__).resolve().parents[1] / "examples" / "agentroute.yaml"
DEPLOYMENTS = ("d1", "d2", "d3")
PRICE = {"input": 2.0, "output": 8.0, "cache_read": 0.5}
FAULTS = 0.02
ROUND_S = 20.0
WORDS = ("fare", "seat", "change", "refund", "bag", "segment", "voucher", "cabin", "gate", "crew")
RULE = "verify the booking, the passenger and the fare class first."
SYSTEM = "You are an airline agent. " + " ".join(f"Rule {i}: {RULE}" for i in range(50))
TOOL = "look the record up by its id and report what it says. " * 5
TOOLS = [
    {"type": "function", "function": {"name": name, "description": f"{name}: {TOOL}"}}
    for name in ("get_reservation", "update_flight", "cancel_booking", "search_flights")
]


# A. Simulator -----------------------------------------------------------------------------


class RoundRobin:
    """A cache-blind tie-break among equally priced deployments: the next one each call."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, call: ModelCall, call_next: CallNext, /) -> ModelResult:
        i = self.calls % len(call.targets)
        self.calls += 1
        return await call_next(call.with_route(call.decision, call.targets[i:] + call.targets[:i]))


class HashPin:
    """The perfect pin: the deployment picked by a hash of the session id, always first."""

    async def __call__(self, call: ModelCall, call_next: CallNext, /) -> ModelResult:
        assert call.session is not None
        i = zlib.crc32(call.session.key.encode()) % len(call.targets)
        return await call_next(call.with_route(call.decision, call.targets[i:] + call.targets[:i]))


POLICIES: dict[str, tuple[dict[str, Any], type[RoundRobin] | type[HashPin] | None]] = {
    "affinity (order)": ({"sticky": True, "strategy": "order"}, None),
    "affinity (weighted)": ({"sticky": True, "strategy": "weighted"}, None),
    "random": ({"sticky": False, "strategy": "weighted"}, None),
    "cheapest per call": ({"sticky": False, "strategy": "order"}, RoundRobin),
    "perfect pin": ({"sticky": False, "strategy": "order"}, HashPin),
}


@dataclass
class Tally:
    failed_calls: int = 0
    faults: int = 0
    breaks_failure: int = 0
    breaks_cooling: int = 0
    usage: Usage = field(default_factory=Usage)
    cost: float = 0.0
    served: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def cached_share(self) -> float:
        return self.usage.cache_read_tokens / max(1, self.usage.input_tokens)


def sim_config() -> dict[str, Any]:
    cache = {"ttl_s": 300, "min_tokens": 1024, "block_tokens": 128}
    faults = {"rates": {"unavailable": FAULTS}}
    return {
        "instances": {
            d: {"kind": "openai", "cache": cache, "faults": {**faults, "seed": i}}
            for i, d in enumerate(DEPLOYMENTS)
        }
    }


def router_config(urls: Mapping[str, str], affinity: dict[str, Any]) -> dict[str, Any]:
    return {
        "providers": {
            d: {"kind": "openai", "base_url": urls[d], "api_key": "k", "cache_ttl_s": 300}
            for d in DEPLOYMENTS
        },
        "models": {
            "m": {
                "context_window": 128_000,
                "price": PRICE,
                "deployments": [{"provider": d, "name": "m"} for d in DEPLOYMENTS],
            }
        },
        "tiers": {"only": ["m"]},
        "affinity": affinity,
        "resilience": {"max_retries": 0, "allowed_fails": 20, "escalate_on_exhaustion": False},
        "telemetry": {"log_events": False},
    }


def turn(rng: random.Random, label: str) -> str:
    return f"[{label}] " + " ".join(rng.choice(WORDS) for _ in range(110))


async def run_policy(name: str, sessions: int, steps: int) -> Tally:
    """Every session's conversation through one policy, on a fresh simulator."""
    affinity, middleware = POLICIES[name]
    tally = Tally()
    clock = FakeClock(seed=1)
    order = random.Random(2)
    async with run_simulator(sim_config()) as sim:
        urls = {d: sim.base_url(d) for d in DEPLOYMENTS}
        seen = CallRecorder()  # each call's progress record: what affinity did for it
        extra = [seen, middleware()] if middleware is not None else [seen]
        async with Router(router_config(urls, affinity), middleware=extra, clock=clock) as router:
            handles = [router.session(id=f"session-{i}") for i in range(sessions)]
            texts = [random.Random(i) for i in range(sessions)]
            history: list[list[dict[str, Any]]] = [
                [{"role": "system", "content": SYSTEM}] for _ in range(sessions)
            ]
            started = time.perf_counter()
            for step in range(steps):
                ids = list(range(sessions))
                order.shuffle(ids)
                for i in ids:
                    label = f"session {i} task" if step == 0 else f"session {i} tool result {step}"
                    history[i].append({"role": "user", "content": turn(texts[i], label)})
                    await one_call(router, handles[i], history[i], tally, seen)
                clock.advance(ROUND_S)
            tally.seconds = time.perf_counter() - started
        tally.faults = sum(sum(sim.stats(d).faults.values()) for d in DEPLOYMENTS)
    return tally


async def one_call(
    router: Router, session: Any, messages: list[dict[str, Any]], t: Tally, seen: CallRecorder
) -> None:
    seen.calls.clear()  # only this call's record is needed
    seen.results.clear()
    async with session:
        try:
            result = await router.complete(messages, tools=TOOLS)
        except AllAttemptsFailed:
            t.failed_calls += 1
            messages.append({"role": "assistant", "content": "(no answer)"})
            return
    assert result.target is not None
    t.served[result.target.provider] += 1
    t.usage = t.usage + result.usage
    t.cost += result.cost_usd
    progress = seen.calls[-1].progress
    pin = progress.pin if progress is not None else None
    if pin is not None and pin.kind == "break":
        if pin.reason.endswith("cooling down"):
            t.breaks_cooling += 1
        else:
            t.breaks_failure += 1
    messages.append({"role": "assistant", "content": result.text or ""})


def part_a(sessions: int, steps: int) -> tuple[list[str], float]:
    results = {name: anyio.run(run_policy, name, sessions, steps) for name in POLICIES}
    best = results["perfect pin"]
    lines = [
        "| policy | cached share of input | % of perfect pin | cost USD | cost vs perfect pin "
        "| calls on d1/d2/d3 | pin breaks (failure / cooling) | faults | failed calls |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for name, t in results.items():
        load = "/".join(str(t.served[d]) for d in DEPLOYMENTS)
        lines.append(
            f"| {name} | {t.cached_share:.1%} | {t.cached_share / best.cached_share:.1%} | "
            f"{t.cost:.4f} | {t.cost / best.cost:.2f}× | {load} | "
            f"{t.breaks_failure} / {t.breaks_cooling} | {t.faults} | {t.failed_calls} |"
        )
    ratio = results["affinity (order)"].cached_share / best.cached_share
    tokens = best.usage.input_tokens
    seconds = sum(t.seconds for t in results.values())
    rand = results["random"]
    lines += [
        "",
        f"{sessions} sessions × {steps} steps = {sessions * steps} calls per policy, "
        f"{tokens:,} input tokens per policy (perfect pin); {seconds:.0f} s for all policies. "
        f"Cache-blind routing still reads {rand.cached_share:.0%} of its input from cache: the "
        "shared system prompt and tools are warm everywhere, and a deployment that served the "
        "session a step or two before holds all but the latest turns. What it loses is those "
        f"turns, on almost every call: {rand.cost / best.cost - 1:.0%} more cost than the pin.",
    ]
    return lines, ratio


# B. τ-bench replay with cache economics ---------------------------------------------------

Call = tuple[str, int, int]
"""(model, prompt tokens, output tokens) of one recorded call, as routed by the policy."""


async def route_runs(config: RouterConfig, runs: Sequence[RecordedRun]) -> list[list[Call]]:
    """Each run's calls as the policy routes them (the replay's setup: the recorded answers,
    a 2,100-token tool stub per call, as ``agentroute replay``)."""
    counter = EstimateCounter()
    answer: dict[str, Any] = {}

    def respond(call: ModelCall) -> ModelResult:
        return ModelResult(text="", usage=Usage(0, counter.count(message_text(answer)) + 4))

    provider = MockProvider(respond)
    quiet = config.telemetry.model_copy(update={"log_events": False})
    router = Router(
        config.model_copy(update={"telemetry": quiet}),
        providers=dict.fromkeys(config.providers, provider),
    )
    stub = [{"type": "function", "function": {"name": "recorded_tools", "description": "x" * 8340}}]
    out = []
    for run in runs:
        calls: list[Call] = []
        async with router.session(id=run.id):
            for i, m in enumerate(run.messages):
                if m.get("role") != "assistant":
                    continue
                answer = m
                result = await router.complete(list(run.messages[:i]), tools=stub)
                decision, target = result.decision, result.target
                assert decision is not None
                assert decision.signals is not None
                assert target is not None
                tokens = decision.signals.context_tokens
                calls.append((target.model, tokens, result.usage.output_tokens))
        out.append(calls)
    return out


def price_runs(
    runs: Sequence[Sequence[Call]],
    prices: Mapping[str, Price],
    mode: str,
    *,
    model: str | None = None,
    seed: int = 0,
    switches_free: bool = False,
) -> tuple[float, int, int]:
    """(cost USD, cached input tokens, input tokens) of ``runs`` under a caching model.

    Every call's whole prompt is cacheable (a breakpoint on the last message, or automatic
    prefix caching). A deployment holds, per session and model, the prompt of the last call
    the session sent it (all within the cache TTL: the recorded steps are seconds apart), and
    a call reads that prefix at the ``cache_read`` price and writes the rest of its prompt at
    the ``cache_write`` price (the input price where none is listed). ``mode``: ``none`` (no
    cache: all input at the input price); ``affinity`` (each model's calls stay on one
    deployment, so a call reads the previous same-model call's prompt); ``random`` (each call
    on one of 3 interchangeable deployments of its model at random: warm with the previous
    call with probability 1/3, else whatever older prefix that deployment holds). A tier
    switch lands on another model, whose cache for the session is cold on first use
    (``switches_free``: as if the cache followed the session across models — the price of the
    switches by difference). ``model`` sends every call to that model instead of the routed
    one.
    """
    rng = random.Random(seed)
    total, read_tokens, input_tokens = 0.0, 0, 0
    for calls in runs:
        held: dict[tuple[str, int], int] = {}
        for routed, prompt, output in calls:
            name = model or routed
            where = 0 if mode == "affinity" else rng.randrange(3)
            key = ("any" if switches_free else name, where)
            read = 0 if mode == "none" else min(held.get(key, 0), prompt)
            write = 0 if mode == "none" else prompt - read
            held[key] = prompt
            usage = Usage(prompt, output, cache_read_tokens=read, cache_write_tokens=write)
            total += cost_usd(usage, prices[name])
            read_tokens += read
            input_tokens += prompt
    return total, read_tokens, input_tokens


def part_b(data: Path, limit: int | None, repeats: int) -> list[str]:
    if not data.exists():
        print(f"part B skipped: τ-bench data not found at {data}")
        return [f"Part B skipped: τ-bench data not found at `{data}`."]
    from agentroute import load_config

    config = load_config(CONFIG)
    runs = load_runs(data)[:limit]
    routed = anyio.run(route_runs, config, runs)
    prices = {name: m.price for name, m in config.models.items()}
    top = config.tiers[config.tier_names[-1]][0]
    switches = sum(sum(a[0] != b[0] for a, b in itertools.pairwise(c)) for c in routed)

    def cell(mode: str, model: str | None = None, free: bool = False) -> tuple[float, float]:
        seeds = range(repeats) if mode == "random" else range(1)
        got = [
            price_runs(routed, prices, mode, model=model, seed=s, switches_free=free) for s in seeds
        ]
        cost = sum(g[0] for g in got) / len(got)
        return cost, sum(g[1] for g in got) / max(1, sum(g[2] for g in got))

    rows = [("routed by the policy", None), (f"always the top tier ({top})", top)]
    lines = [
        "| calls go to | no prompt cache | cache, random of 3 deployments | cache with affinity "
        "| saving of affinity vs random |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, model in rows:
        none, rand, aff = (cell(m, model) for m in ("none", "random", "affinity"))
        lines.append(
            f"| {label} | ${none[0]:.2f} | ${rand[0]:.2f} ({rand[1]:.0%} cached) | "
            f"${aff[0]:.2f} ({aff[1]:.0%} cached) | {1 - aff[0] / rand[0]:.0%} |"
        )
    free = cell("affinity", free=True)[0]
    with_switches = cell("affinity")[0]
    calls = sum(len(c) for c in routed)
    lines += [
        "",
        f"{len(runs)} runs, {calls} calls, {switches} tier switches (model changes). With "
        f"affinity the switches cost ${with_switches - free:.2f} of the routed "
        f"${with_switches:.2f} (${free:.2f} if the cache followed the session across models). "
        f"Random: mean of {repeats} seeded draws.",
    ]
    return lines


# Report -----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run; write no result file")
    parser.add_argument("--data", type=Path, default=TAU_BENCH)
    args = parser.parse_args()
    sessions, steps = (10, 5) if args.quick else (200, 20)
    a_lines, ratio = part_a(sessions, steps)
    b_lines = part_b(args.data, 5 if args.quick else None, 2 if args.quick else 20)
    command = "python " + " ".join(["benchmarks/affinity.py", *sys.argv[1:]])
    verdict = "met" if ratio >= 0.9 else "NOT met"
    text = "\n".join(
        [
            "# Session affinity and prompt caching",
            "",
            f"Command: `{command}`",
            "",
            "## A. Simulator: 3 deployments of one model, real HTTP",
            "",
            _doc("**A. Simulator** (real HTTP through ``Router.complete``).", "**B."),
            "",
            *a_lines,
            "",
            f"Goal: affinity reaches ≥ 90% of the perfect pin's cached share: **{ratio:.1%}, "
            f"{verdict}**.",
            "",
            "## B. τ-bench runs replayed with cache economics",
            "",
            "Prices of `examples/agentroute.yaml`; tier decisions of the default policy (as "
            "`agentroute replay`). " + _doc("caching model.", "END", f"{price_runs.__doc__}END"),
            "",
            *b_lines,
        ]
    )
    publish("affinity", text + "\n", write=not args.quick)


def _doc(start: str, end: str, doc: str | None = __doc__) -> str:
    """A docstring's text between two markers, as markdown."""
    text = inspect.cleandoc(doc or "")
    return text[text.index(start) + len(start) : text.index(end)].strip().replace("``", "`")


if __name__ == "__main__":
    main()
