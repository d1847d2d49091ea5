"""Issue 5 (b): a soak run — 1,000 routed calls over three simulated deployments, 20% faults.

One model, three deployments on three simulator instances (two OpenAI-shaped, one
Anthropic-shaped), each injecting a seeded 20% mix of transient faults: 429 (small
Retry-After), 500, 503, overload, a dropped connection, a body cut short, a request held until
the attempt times out. Every 50th call also carries a word all instances refuse (content
policy, no fallback), so some calls fail for certain. 50 calls run at a time; the FakeClock
makes backoff free. Each call's user message carries its own marker, which the simulator's
echo scenario quotes back, so an answer given to the wrong call would be seen.

Checked: every call ends exactly once, in a result quoting its own marker or in
AllAttemptsFailed; no call makes more than ``max_attempts`` attempts; the simulator saw exactly
the requests the attempts say and answered in full exactly the successful ones; and traced
memory after the run is back near its level after a warm-up round. Memory, not time, is
asserted.

The two tests at the end pin down what an idle implicit session keeps (found by this soak).
"""

from __future__ import annotations

import contextlib
import gc
import tracemalloc
from collections import Counter
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from agentroute import AllAttemptsFailed, ModelCall, ModelResult, Router
from agentroute.sim.server import Simulator, run_simulator
from agentroute.testing import FakeClock, text_result

pytestmark = pytest.mark.anyio

CALLS = 1_000
WARM_UP = 100
CONCURRENCY = 50
MAX_ATTEMPTS = 3
REFUSE_EVERY = 50
TRIGGER = "embargoed"
MEMORY_GROWTH_LIMIT = 2 * 1024 * 1024
RATES = {
    "rate_limit": 0.05,
    "server_error": 0.04,
    "unavailable": 0.03,
    "overloaded": 0.03,
    "drop": 0.02,
    "drop_mid_response": 0.02,
    "timeout": 0.01,
}
INSTANCES = {"oa1": "openai", "oa2": "openai", "an1": "anthropic"}
SYSTEM = "You are a soak-test agent. Repeat what the user says."


def sim_config() -> dict[str, Any]:
    faults = {"rates": RATES, "retry_after_s": 0.2, "content_policy_triggers": [TRIGGER]}
    return {
        "instances": {
            name: {"kind": kind, "faults": {**faults, "seed": seed}}
            for seed, (name, kind) in enumerate(INSTANCES.items(), start=1)
        }
    }


def router_config(sim: Simulator, **overrides: Any) -> dict[str, Any]:
    return {
        "providers": {
            name: {"kind": kind, "base_url": sim.base_url(name), "api_key": "k"}
            for name, kind in INSTANCES.items()
        },
        "models": {
            "m": {
                "context_window": 100_000,
                "price": {"input": 1, "output": 2},
                "deployments": [{"provider": name, "name": "m"} for name in INSTANCES],
            }
        },
        "tiers": {"only": ["m"]},
        "telemetry": {"log_events": False},
        "resilience": {
            "attempt_timeout_s": 2.0,  # how long a held request (fault ``timeout``) costs
            "max_retries": 1,
            "max_attempts": MAX_ATTEMPTS,  # below the 6 that 3 deployments × 2 tries allow
        },
        **overrides,
    }


Outcome = tuple[bool, int, int]
"""(answered, attempts, attempts that timed out) of one call."""


async def run_calls(router: Router, prefix: str, count: int) -> list[Outcome | None]:
    """``count`` calls, ``CONCURRENCY`` at a time; the outcome of call ``i`` in slot ``i``."""
    outcomes: list[Outcome | None] = [None] * count
    limiter = anyio.CapacityLimiter(CONCURRENCY)

    async def one(i: int) -> None:
        refused = i % REFUSE_EVERY == REFUSE_EVERY - 1
        said = f"{prefix} call {i:04d} marker {prefix}-{i:04d}-x" + (
            f" {TRIGGER}" if refused else ""
        )
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": said}]
        async with limiter:
            try:
                result = await router.complete(messages)
            except AllAttemptsFailed as exc:
                attempts = exc.attempts
                assert all(a.outcome == "error" for a in attempts)
                assert [type(e) for e in exc.exceptions] == [type(a.error) for a in attempts]
                answered = False
            else:
                assert not refused, f"call {i} was answered despite its trigger word"
                assert result.text == f"You said: {said}", "an answer meant for another call"
                attempts = result.attempts
                assert [a.outcome for a in attempts] == ["error"] * (len(attempts) - 1) + ["ok"]
                answered = True
        assert [a.number for a in attempts] == list(range(1, len(attempts) + 1))
        assert outcomes[i] is None, f"call {i} ended twice"
        timeouts = sum(a.error_type == "ProviderTimeout" for a in attempts)
        outcomes[i] = (answered, len(attempts), timeouts)

    async with anyio.create_task_group() as tg:
        for i in range(count):
            tg.start_soon(one, i)
    return outcomes


def drain(sim: Simulator) -> Counter[str]:
    """What the simulator's request records say since the last drain, which empties them (the
    records are the test double's memory, not the router's)."""
    seen: Counter[str] = Counter()
    for name in INSTANCES:
        records = sim.instances[name].records
        for r in records:
            seen["requests"] += 1
            seen["full"] += r.status == 200 and r.fault is None
            seen["cut"] += r.fault == "drop_mid_response"
            seen["held"] += r.status == 0 and r.fault == "timeout"
            seen["faults"] += r.fault is not None and r.fault != "content_policy"
        records.clear()
    return seen


@pytest.mark.soak
async def test_soak_1000_calls_with_20_percent_faults() -> None:
    # Implicit sessions (one per call here) are kept, up to max_implicit: the warm-up fills the
    # table, so the run replaces sessions instead of adding them.
    state = {"sessions": {"max_implicit": WARM_UP}}
    tracemalloc.start()
    try:
        async with run_simulator(sim_config()) as sim:
            async with Router(router_config(sim, **state), clock=FakeClock()) as router:
                warm = await run_calls(router, "warm", WARM_UP)
                seen = drain(sim)
                gc.collect()
                before = tracemalloc.get_traced_memory()[0]
                outcomes = await run_calls(router, "soak", CALLS)
                seen += drain(sim)
                gc.collect()
                grown = tracemalloc.get_traced_memory()[0] - before
            stats = [sim.stats(name) for name in INSTANCES]
            assert not sim.internal_errors
    finally:
        tracemalloc.stop()

    done = [o for o in outcomes if o is not None]
    assert len(done) == CALLS, "a call was lost"
    assert None not in warm
    every = done + [o for o in warm if o is not None]
    assert max(o[1] for o in every) <= MAX_ATTEMPTS
    failed = CALLS - sum(o[0] for o in done)
    assert CALLS // REFUSE_EVERY <= failed < CALLS // 5
    assert sum(s.requests for s in stats) == seen["requests"], "records were truncated"
    assert sum(s.answered for s in stats) == seen["full"] + seen["cut"]
    assert 0.1 * seen["requests"] < seen["faults"] < 0.3 * seen["requests"]
    # Every attempt reached the simulator once (no hidden retry) and exactly the successful
    # ones were answered in full (none twice). A request held by fault ``timeout`` times out;
    # any other timeout is the machine being slow, and such an attempt may not have reached
    # the simulator yet, or may have been answered after the router gave up on it.
    attempts, answered = sum(o[1] for o in every), sum(o[0] for o in every)
    slow = sum(o[2] for o in every) - seen["held"]
    assert slow >= 0
    unseen, unread = attempts - seen["requests"], seen["full"] - answered
    assert unseen >= 0 and unread >= 0 and unseen + unread <= slow
    assert grown < MEMORY_GROWTH_LIMIT, f"{grown / 1024:.0f} KiB more after the run"


# What an idle implicit session keeps ----------------------------------------------------------
# DESIGN §13: "state per idle session ≤ 1 KiB in memory". Each test makes one call in each of
# SESSIONS new implicit sessions and measures what stays allocated per session afterwards.

SESSIONS = 200


class Quiet:
    """A provider that answers and remembers nothing (ScriptedProvider keeps every call)."""

    async def send(self, call: ModelCall, /) -> ModelResult:
        return text_result("fine")


def single(provider: dict[str, Any]) -> dict[str, Any]:
    """One model on one deployment of provider ``p``, retried once, never cooled down."""
    return {
        "providers": {"p": provider},
        "models": {"m": {"context_window": 200_000, "price": {"input": 1, "output": 2},
                         "deployments": [{"provider": "p", "name": "m"}]}},
        "tiers": {"only": ["m"]},
        "telemetry": {"log_events": False},
        "resilience": {"max_retries": 1, "allowed_fails": 1_000_000},
    }  # fmt: skip


async def kept_per_session(router: Router, said: Callable[[int], str]) -> float:
    """Traced bytes still allocated per session after one call (answered or failed) in each of
    SESSIONS new conversations whose user message is ``said(i)`` (dropped by the caller)."""

    async def call(text: str) -> None:
        with contextlib.suppress(AllAttemptsFailed):
            await router.complete([{"role": "user", "content": text}])

    await call("warm-up")
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(SESSIONS):
            await call(said(i))
        gc.collect()
        return (tracemalloc.get_traced_memory()[0] - before) / SESSIONS
    finally:
        tracemalloc.stop()


@pytest.mark.xfail(
    strict=True,
    reason="DESIGN §13 budget not met yet: an idle implicit session keeps ~2.3 KiB (was ~4.5 "
    "before its scan windows became lists): the last Decision with its Signals, the last "
    "attempts, the scan state, the session table and key cache entries",
)
async def test_an_idle_implicit_session_stays_within_1_kib() -> None:
    router = Router(single({"kind": "openai"}), providers={"p": Quiet()}, clock=FakeClock())
    kept = await kept_per_session(router, lambda i: f"conversation {i}")
    assert kept <= 1024, f"{kept:.0f} B per idle session"


async def test_an_idle_session_does_not_keep_its_messages_alive() -> None:
    # the scan state keeps identities and hashes, the session-key cache keeps hashes
    kept = {}
    for size in (10, 64 * 1024):
        router = Router(single({"kind": "openai"}), providers={"p": Quiet()}, clock=FakeClock())
        kept[size] = await kept_per_session(router, lambda i, n=size: f"{i:04d}" + "x" * n)
    assert kept[64 * 1024] - kept[10] < 2048, f"{kept}"


async def test_an_idle_session_does_not_keep_a_failed_calls_tracebacks() -> None:
    kept = {}
    for label, schedule in (
        ("answered", {}),
        ("failed", {n: "server_error" for n in range(1, 300)}),
    ):
        sim_config = {"instances": {"p": {"kind": "openai", "faults": {"schedule": schedule}}}}
        async with run_simulator(sim_config) as sim:
            provider = {"kind": "openai", "base_url": sim.base_url("p"), "api_key": "k"}
            config = single(provider) | {"resilience": {"max_retries": 0}}  # one attempt
            async with Router(config, clock=FakeClock()) as router:
                kept[label] = await kept_per_session(router, lambda i: f"conversation {i}")
            assert sim.stats("p").answered == (SESSIONS + 1 if label == "answered" else 0)
    # an attempt record and its error object are small (well under 2 KiB); the tracebacks
    # and the exceptions chained to the error are not
    assert kept["failed"] - kept["answered"] < 2048, f"{kept}"
