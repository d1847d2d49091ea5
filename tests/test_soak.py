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

The two tests after it pin down what an idle implicit session keeps (found by this soak).

Then issue 14's classes of defects, kept fixed by three soaks on test doubles, each asserting
invariants only (every call ends exactly once, in a result or in the one documented error its
input calls for; no task left behind): sessions of every kind at once over flaky deployments
(cooldowns never fail a call with attempts to spare, budgets under 50 concurrent calls,
cancels during a retry's backoff, refused calls using no step, as many implicit sessions as
``sessions.max_implicit`` with none evicted); malformed calls interleaved with valid steps
through both wire formats (a ConfigurationError naming the field, nothing else changed, a
tool's 1,000-level nested JSON resent at every step); and a state store that hangs mid-run.
"""

from __future__ import annotations

import contextlib
import gc
import math
import random
import re
import tracemalloc
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import anyio
import httpx
import pytest
from anyio.lowlevel import checkpoint
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from agentroute import (
    AgentRouteError,
    AllAttemptsFailed,
    BudgetExceeded,
    ConfigurationError,
    ModelCall,
    ModelResult,
    ProviderUnavailable,
    Router,
    StepLimitExceeded,
    Usage,
)
from agentroute.sim.server import Simulator, run_simulator
from agentroute.state import MemoryStateStore
from agentroute.state.failopen import FailOpenStore
from agentroute.testing import FakeClock, text_result
from tests.helpers import one_model_config, sim_providers

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
    resilience = {
        "attempt_timeout_s": 2.0,  # how long a held request (fault ``timeout``) costs
        "max_retries": 1,
        "max_attempts": MAX_ATTEMPTS,  # below the 6 that 3 deployments × 2 tries allow
    }
    return one_model_config(
        sim_providers(sim, *INSTANCES, api_key="k"),
        context_window=100_000,
        **{"resilience": resilience} | overrides,
    )


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
            for name in INSTANCES:  # room for every attempt of a run: the default keeps 1,000,
                # fewer than one instance may serve when load makes more attempts time out
                sim.instances[name].records = deque(maxlen=(CALLS + WARM_UP) * MAX_ATTEMPTS)
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
# The goal (docs/architecture.md, "Performance goals"): state per idle session ≤ 1 KiB in
# memory. Each test makes one call in each of SESSIONS new implicit sessions and measures what
# stays allocated per session afterwards.
#
# What one idle implicit session keeps now (tracemalloc, 64-bit CPython 3.11; asyncio 2,068 B,
# trio 2,101 B), byte by byte:
# - table and ledger, 653: SessionState 192 (20 slots), its table branch 104, the table's
#   OrderedDict entry 85, the key "conv-<16 hex>" 70, the last message's mark 34 and the ids of
#   the last message and list 32 + 32, the usage and cost of its first billed attempt 80 + 24
#   (kept as they are: no totals of its own);
# - the last Decision, 488: Decision 112, its Signals 112, score and context-fraction floats
#   24 + 24, contributions 216 (outer tuple 56, two (name, weight × value) pairs 56 + 24 each);
# - the signal extractor's scan, 707: ScanState 144, its three empty turn-window lists 3 × 56,
#   the message-id array 80 + 32, the first and last content marks 2 × 35.5; its memory entry
#   212 (weak reference 88, two dict entries 2 × 46, the id key 32);
# - the session-key cache ~14 (a bounded dict of hashes);
# - the attempt's cancelled timer, asyncio 209 (TimerHandle 112, its context 64, deadline 24,
#   heap slot 9), trio 241 (the CancelScope 112, its deadline-heap entry 105, deadline 24): the
#   loops drop cancelled timers lazily (asyncio once over half of 100+ scheduled are cancelled,
#   when the loop next runs: these calls never yield to it; trio past 1,000 stale entries), so
#   in a process this stays bounded however many sessions are idle, but this test counts it.

SESSIONS = 200


class Quiet:
    """A provider that answers and remembers nothing (ScriptedProvider keeps every call)."""

    async def send(self, call: ModelCall, /) -> ModelResult:
        return text_result("fine")


def single(provider: dict[str, Any]) -> dict[str, Any]:
    """One model on one deployment of provider ``p``, retried once, never cooled down."""
    return one_model_config(
        {"p": provider}, resilience={"max_retries": 1, "allowed_fails": 1_000_000}
    )


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
    reason="the idle-session memory goal is not met yet: an idle implicit session keeps "
    "~2.0 KiB (2.9 before its attempts were dropped when idle and its scan memory lost its "
    "closures): the last Decision with its Signals (488 B), the scan state (707 B with its "
    "memory entry), the table and ledger (653 B), the attempt's cancelled timer (209-241 B)",
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


# Issue 14's classes of defects, kept fixed ------------------------------------------------------
# Three soaks on test doubles (no simulator): many concurrent sessions of several kinds over
# flaky deployments; hostile messages interleaved with valid ones through the built-in HTTP
# providers (both wire formats, over httpx.MockTransport); and a state store that hangs mid-run.
# What they assert are invariants, never times: every call ends exactly once, in a result or in
# one documented error of the kind its input calls for; no task is left behind.

FLAKY = 0.3
"""The share of attempts the flaky deployments fail (ProviderUnavailable: transient)."""
OUT = 1_000
"""Output tokens of every answer, and ``policy.output_tokens_guess``: a call reserves at least
what it costs ($0.002 at $2/M), so a budget's overshoot bound is exact."""
CALL_USD = OUT * 2 / 1e6
FLEET = ("d1", "d2", "d3")
FLEET_ATTEMPTS = 4
"""``max_attempts`` over the flaky fleet: each deployment once, then one retry."""


def running_tasks() -> int:
    """Tasks alive in the event loop now (both backends)."""
    return len(anyio.get_running_tasks())


def marker_of(call: ModelCall) -> str:
    """The ``<<...>>`` marker of the call's latest user message (each call carries its own)."""
    for message in reversed(call.messages):
        if isinstance(message, dict) and message.get("role") == "user":
            text = str(message.get("content"))
            return text[text.index("<<") + 2 : text.index(">>")]
    raise AssertionError("a call without a user message")


class Fleet:
    """Test-double deployments: each attempt yields to the event loop once (as a network call
    does), then fails with probability ``FLAKY`` or answers with the call's marker and session
    step. A call whose marker is in :attr:`cancels` fails on every deployment, and at its
    third attempt (every deployment tried once: what follows is a retry's backoff) has its
    caller's scope cancelled."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.cancels: dict[str, anyio.CancelScope] = {}

    async def send(self, call: ModelCall, /) -> ModelResult:
        await checkpoint()
        marker = marker_of(call)
        if marker in self.cancels:
            if call.attempt == len(FLEET):
                self.cancels.pop(marker).cancel()
            raise ProviderUnavailable("down, and the caller gives up meanwhile")
        if self.rng.random() < FLAKY:
            raise ProviderUnavailable("transient")
        step = call.session.step if call.session is not None else 0
        return text_result(f"{marker} at step {step}", usage=Usage(0, OUT))


def fleet_config(**overrides: Any) -> dict[str, Any]:
    """One sticky model on three flaky deployments; a deployment is put aside at its first
    failure, so cooldowns are everywhere; no deadline (the FakeClock's time jumps with every
    backoff of every call: a deadline would measure the other calls' backoffs)."""
    resilience = {
        "max_retries": 2,
        "max_attempts": FLEET_ATTEMPTS,
        "allowed_fails": 1,
        "cooldown_s": 30,
        "deadline_s": None,
        "escalate_on_exhaustion": False,
    }
    sections = {
        "policy": {"output_tokens_guess": OUT},
        "budget": {"cap_tier_at_fraction": None},
        "resilience": resilience,
    }
    return one_model_config(
        {d: {"kind": "openai", "api_key": "k"} for d in FLEET},
        context_window=100_000,
        price={"input": 1, "output": 2, "cache_read": 0.5},
        **sections | overrides,
    )


Ending = ModelResult | AgentRouteError | str
"""How a call ended: its result, its documented error, or ``"cancelled"`` (by its caller)."""


class Calls:
    """Every call's single ending, by call id."""

    def __init__(self) -> None:
        self.ended: dict[str, Ending] = {}
        self.started = 0

    def end(self, call_id: str, outcome: Ending) -> None:
        assert call_id not in self.ended, f"{call_id} ended twice"
        self.ended[call_id] = outcome

    async def make(
        self, router: Router, call_id: str, messages: list[Any], **kwargs: Any
    ) -> ModelResult | AgentRouteError:
        self.started += 1
        try:
            outcome: ModelResult | AgentRouteError = await router.complete(messages, **kwargs)
        except AgentRouteError as exc:  # anything else fails the soak
            outcome = exc
        self.end(call_id, outcome)
        return outcome


def answered_or_exhausted(outcome: ModelResult | AgentRouteError, marker: str, step: int) -> bool:
    """A call with attempts to spare either answers its own marker at its own step, or fails
    having made all ``max_attempts``: a cooldown alone never fails it."""
    if isinstance(outcome, ModelResult):
        assert outcome.text == f"{marker} at step {step}", (outcome.text, marker, step)
        return True
    assert isinstance(outcome, AllAttemptsFailed), repr(outcome)
    assert len(outcome.attempts) == FLEET_ATTEMPTS, str(outcome)
    assert [a.number for a in outcome.attempts] == list(range(1, FLEET_ATTEMPTS + 1))
    return False


def user(marker: str, text: str = "go on") -> dict[str, str]:
    return {"role": "user", "content": f"{text} <<{marker}>>"}


WORKERS, WORKER_STEPS = 200, 8
BUDGETED, BURST = 20, 50
CANCELLING = 60
LIMITED, STEP_LIMIT = 60, 5
IMPLICIT = 1_000


@pytest.mark.soak
async def test_soak_sessions_of_every_kind_over_flaky_deployments() -> None:
    """All at once, one router, flaky deployments put aside at their first failure:

    * workers: 8 steps each; every call answers its own marker at its own step, or fails only
      after ``max_attempts`` (cooldowns only order deployments);
    * budgets: 50 concurrent calls on one session whose ``max_cost_usd`` is worth 2.5 calls:
      at most ceil(2.5) = 3 are answered, the spend is theirs, the others are refused
      (BudgetExceeded) or exhausted;
    * cancels: every other call is cancelled while it backs off; it is recorded, its last
      attempt ``cancelled`` with no live error kept, and the session goes on;
    * step limits: refused calls (a malformed message, an unknown tier hint, the limit
      itself) interleaved with valid ones use no step: the session's step is always the
      number of valid calls made, and only calls past ``max_steps`` meet the limit;
    * implicit sessions: as many live conversations as ``sessions.max_implicit``, none evicted,
      each step counted in its own session.
    """
    reader = InMemoryMetricReader()
    fleet = Fleet(seed=14)
    calls = Calls()
    order = random.Random(7)
    config = fleet_config(sessions={"max_implicit": IMPLICIT})
    before = running_tasks()
    router = Router(
        config,
        providers=dict.fromkeys(FLEET, fleet),
        clock=FakeClock(seed=3),
        meter_provider=MeterProvider(metric_readers=[reader]),
    )
    answered = Counter[str]()

    async def worker(i: int) -> None:
        messages: list[Any] = [{"role": "system", "content": SYSTEM}]
        async with router.session(id=f"worker-{i}") as session:
            for step in range(1, WORKER_STEPS + 1):
                marker = f"w{i}.{step}"
                messages.append(user(marker))
                outcome = await calls.make(router, marker, messages)
                answered["worker"] += answered_or_exhausted(outcome, marker, step)
                messages.append({"role": "assistant", "content": "done"})
            assert session.step == WORKER_STEPS

    async def budgeted(i: int) -> None:
        limit = 2.5 * CALL_USD
        async with router.session(id=f"budget-{i}", metadata={"max_cost_usd": limit}) as session:
            results: list[ModelResult | AgentRouteError] = []

            async def one(j: int) -> None:
                marker = f"b{i}.{j}"
                results.append(await calls.make(router, marker, [user(marker)]))

            async with anyio.create_task_group() as tg:
                for j in range(BURST):
                    tg.start_soon(one, j)
            ran = [r for r in results if isinstance(r, ModelResult)]
            assert len(ran) <= math.ceil(limit / CALL_USD), f"{len(ran)} calls ran"
            assert session.cost_usd == pytest.approx(len(ran) * CALL_USD)
            for r in results:
                if not isinstance(r, ModelResult | BudgetExceeded):
                    assert isinstance(r, AllAttemptsFailed)
                    assert len(r.attempts) == FLEET_ATTEMPTS
            answered["budget"] += len(ran)

    async def cancelling(i: int) -> None:
        messages: list[Any] = [{"role": "system", "content": SYSTEM}]
        async with router.session(id=f"cancel-{i}") as session:
            for step in range(1, 5):
                marker = f"c{i}.{step}"
                messages.append(user(marker))
                if step % 2 == 0:
                    calls.started += 1
                    with anyio.CancelScope() as scope:
                        fleet.cancels[marker] = scope
                        await router.complete(messages)
                    calls.end(marker, "cancelled")
                    assert scope.cancelled_caught, "the cancel was not delivered"
                    attempts = session.state.last_attempts
                    assert [a.number for a in attempts] == [1, 2, 3, 4]
                    assert [a.outcome for a in attempts] == ["error"] * 3 + ["cancelled"]
                    assert len({a.target for a in attempts[:3]}) == 3
                    assert all(a.error is None for a in attempts), "a live error kept"
                else:
                    outcome = await calls.make(router, marker, messages)
                    answered["cancel"] += answered_or_exhausted(outcome, marker, step)
                messages.append({"role": "assistant", "content": "done"})
            assert session.step == 4  # a cancelled call made attempts: it was a step

    async def limited(i: int) -> None:
        """``max_steps`` valid calls, with refused calls (never steps) between them."""
        messages: list[Any] = [{"role": "system", "content": SYSTEM}]
        rng = random.Random(i)
        async with router.session(id=f"limit-{i}", metadata={"max_steps": STEP_LIMIT}) as s:
            step = 0
            for n in range(STEP_LIMIT * 3):
                marker = f"l{i}.{n}"
                if step < STEP_LIMIT and rng.random() < 0.5:
                    step += 1
                    messages.append(user(marker))
                    outcome = await calls.make(router, marker, messages)
                    answered["limit"] += answered_or_exhausted(outcome, marker, step)
                    messages.append({"role": "assistant", "content": "done"})
                    continue
                # at the limit, a call is refused for the limit before its shape is looked at
                why = ConfigurationError if step < STEP_LIMIT else AgentRouteError
                refused = rng.choice(["shape", "hint", "limit"])
                if refused == "shape":
                    bad = [*messages, user(marker), {"role": ["user"], "content": "x"}]
                    outcome = await calls.make(router, marker, bad)
                    assert isinstance(outcome, why), repr(outcome)
                    assert isinstance(outcome, ConfigurationError | StepLimitExceeded)
                elif refused == "hint":
                    probe = [*messages, user(marker)]
                    outcome = await calls.make(router, marker, probe, hints={"min_tier": "nope"})
                    assert isinstance(outcome, why), repr(outcome)
                    assert isinstance(outcome, ConfigurationError | StepLimitExceeded)
                else:
                    outcome = await calls.make(router, marker, [*messages, user(marker)])
                    if step < STEP_LIMIT:  # a valid call after all: it is a step
                        step += 1
                        answered["limit"] += answered_or_exhausted(outcome, marker, step)
                        messages += [user(marker), {"role": "assistant", "content": "done"}]
                    else:
                        assert isinstance(outcome, StepLimitExceeded), repr(outcome)
                assert s.step == step, f"a refused call took a step ({s.step} != {step})"

    async def implicit(i: int) -> None:
        messages: list[Any] = [{"role": "system", "content": SYSTEM}]
        for step in range(1, 6):
            marker = f"i{i}.{step}"
            messages.append(user(marker, f"conversation {i}" if step == 1 else "go on"))
            outcome = await calls.make(router, marker, messages)
            answered["implicit"] += answered_or_exhausted(outcome, marker, step)
            messages.append({"role": "assistant", "content": "done"})

    jobs: list[tuple[Callable[[int], Any], int]] = []
    for job, count in (
        (worker, WORKERS),
        (budgeted, BUDGETED),
        (cancelling, CANCELLING),
        (limited, LIMITED),
        (implicit, IMPLICIT),
    ):
        jobs += [(job, i) for i in range(count)]
    order.shuffle(jobs)
    async with router, anyio.create_task_group() as tg:
        for job, i in jobs:
            tg.start_soon(job, i)
    assert running_tasks() == before, "a task was left behind"
    assert len(calls.ended) == calls.started, "a call never ended"
    assert all(answered[kind] > 0 for kind in ("worker", "budget", "cancel", "limit", "implicit"))
    evicted = metric_total(reader, "agentroute.sessions.evicted")
    assert evicted == 0, f"{evicted} live implicit sessions evicted"


def metric_total(reader: InMemoryMetricReader, name: str) -> float:
    """A counter's value summed over its attributes (0 when it was never added to)."""
    data = reader.get_metrics_data()
    total = 0.0
    for rm in data.resource_metrics if data is not None else ():
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == name:
                    total += sum(p.value for p in metric.data.data_points)  # type: ignore[union-attr]
    return total


# Hostile messages through both wire formats ------------------------------------------------------


def deep_json(levels: int) -> str:
    return "[" * levels + "1" + "]" * levels


def bad_message(bad: Any) -> Callable[[list[Any]], dict[str, Any]]:
    """A malformed call: the history with ``bad`` appended (the agent keeps it out after)."""
    return lambda history: {"messages": [*history, bad], "named": f"messages[{len(history)}]"}


TOOL_CALL = {"id": "t1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
REFUSED: dict[str, Callable[[list[Any]], dict[str, Any]]] = {
    "role is a list": bad_message({"role": ["user"], "content": "x"}),
    "role is a dict": bad_message({"role": {"a": 1}, "content": "x"}),
    "role is an int": bad_message({"role": 3, "content": "x"}),
    "no role": bad_message({"content": "x"}),
    "not a message": bad_message(42),
    "None for a message": bad_message(None),
    "content is an int": bad_message({"role": "user", "content": 5}),
    "content is NaN": bad_message({"role": "user", "content": float("nan")}),
    "content part is a list": bad_message({"role": "user", "content": [[1]]}),
    "content part type is an int": bad_message({"role": "user", "content": [{"type": 1}]}),
    "tool_calls is a string": bad_message({"role": "assistant", "tool_calls": "f"}),
    "tool_calls of ints": bad_message({"role": "assistant", "tool_calls": [1, 2]}),
    "tool call function is a string": bad_message(
        {"role": "assistant", "tool_calls": [{"function": "f"}]}
    ),
    "bytes in tool_use.input": bad_message(
        {"role": "assistant", "content": [{"type": "tool_use", "id": "u", "name": "f",
                                           "input": {"a": b"x"}}]}
    ),
    "a set in tool_use.input": bad_message(
        {"role": "assistant", "content": [{"type": "tool_use", "id": "u", "name": "f",
                                           "input": {"a": {1, 2}}}]}
    ),
    "tools=5": lambda history: {"messages": history, "tools": 5, "named": "tools"},
    'hints="x"': lambda history: {"messages": history, "hints": "x", "named": "hints"},
}  # fmt: skip
"""Malformed calls, each refused with a ConfigurationError naming the field (issue 14 item 7:
before its fix, the last four escaped as bare TypeError and AttributeError)."""


def wire_answer(request: httpx.Request) -> httpx.Response:
    """Both wire formats: the answer names the latest ``<<marker>>`` of the request."""
    markers = re.findall(r"<<([^>]+)>>", request.content.decode())
    text = f"seen {markers[-1] if markers else None}"
    if request.url.path.endswith("/messages"):
        return httpx.Response(200, json={
            "id": "msg_1", "type": "message", "role": "assistant", "model": "m",
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
            "usage": {"input_tokens": 10, "output_tokens": 5},
        })  # fmt: skip
    return httpx.Response(200, json={
        "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    })  # fmt: skip


class StepTap:
    """A middleware noting each call's session step by its marker."""

    def __init__(self) -> None:
        self.steps: dict[str, int] = {}

    async def __call__(self, call: ModelCall, call_next: Any, /) -> ModelResult:
        if call.session is not None:
            with contextlib.suppress(ValueError, AssertionError):
                self.steps[marker_of(call)] = call.session.step
        return await call_next(call)


HOSTILE_SESSIONS, HOSTILE_STEPS = 200, 6


async def hostile_soak(refused: Mapping[str, Callable[[list[Any]], dict[str, Any]]]) -> None:
    """Sessions (half explicit, half implicit), all at once, each making valid steps with
    malformed calls interleaved at random; one valid step of each session adds a tool result of
    1,000-level nested JSON (and a tool call whose arguments are not JSON) that every later
    step resends, and some user messages hold a lone surrogate. Valid calls go to an OpenAI-
    or an Anthropic-shaped deployment at random (the conversion of both runs). Every malformed
    call raises a ConfigurationError naming what is wrong; every valid one is answered with
    its own marker, counted as its session's next step: the malformed calls change nothing for
    their session or any other."""
    base = "http://127.0.0.1:9"
    config = one_model_config(
        {
            "oa": {"kind": "openai", "base_url": f"{base}/v1", "api_key": "k"},
            "an": {"kind": "anthropic", "base_url": base, "api_key": "k"},
        },
        context_window=1_000_000,
        affinity={"sticky": False, "strategy": "weighted"},
    )
    tap = StepTap()
    calls = Calls()
    kinds = Counter[str]()
    names = sorted(refused)
    before = running_tasks()

    async def run(i: int) -> None:
        rng = random.Random(i)
        deep_at = rng.randrange(2, HOSTILE_STEPS + 1)
        messages: list[Any] = [{"role": "system", "content": SYSTEM}]
        session = router.session(id=f"hostile-{i}") if i % 2 else contextlib.nullcontext()
        async with session:
            for step in range(1, HOSTILE_STEPS + 1):
                for k in range(rng.randrange(3)):
                    name = rng.choice(names)
                    kwargs = refused[name](messages)
                    named = kwargs.pop("named")
                    outcome = await calls.make(router, f"{i}.{step}.{k} {name}", **kwargs)
                    assert isinstance(outcome, ConfigurationError), (name, repr(outcome))
                    assert named in str(outcome), (name, str(outcome))
                    kinds[name] += 1
                if step == deep_at:  # a tool's hostile output: resent at every later step
                    lookup = {"name": "lookup", "arguments": "{not json"}
                    bad_args = {"id": "t2", "type": "function", "function": lookup}
                    messages.append({"role": "assistant", "tool_calls": [TOOL_CALL, bad_args]})
                    deep = deep_json(1_000)
                    messages.append({"role": "tool", "tool_call_id": "t1", "content": deep})
                    messages.append({"role": "tool", "tool_call_id": "t2", "content": "[]"})
                marker = f"h{i}.{step}"
                said = f"conversation {i}" if step == 1 else rng.choice(["go on", "odd \ud800"])
                messages.append(user(marker, said))  # (a lone surrogate goes as U+FFFD)
                outcome = await calls.make(router, marker, messages=messages)
                assert isinstance(outcome, ModelResult), (marker, repr(outcome))
                assert outcome.text == f"seen {marker}"
                assert tap.steps[marker] == step, (marker, tap.steps[marker], step)
                messages.append({"role": "assistant", "content": outcome.text})

    client = httpx.AsyncClient(transport=httpx.MockTransport(wire_answer))
    router = Router(config, http_client=client, middleware=[tap], clock=FakeClock())
    async with client, router, anyio.create_task_group() as tg:
        for i in range(HOSTILE_SESSIONS):
            tg.start_soon(run, i)
    assert running_tasks() == before, "a task was left behind"
    assert len(calls.ended) == calls.started, "a call never ended"
    assert set(kinds) == set(refused), "some malformed cases were never tried"


@pytest.mark.soak
async def test_soak_malformed_calls_between_valid_steps_refused_alone() -> None:
    await hostile_soak(REFUSED)


# A state store that hangs mid-run ----------------------------------------------------------------


class Hangable:
    """A state store double: an in-memory store until :attr:`hung` is set, then every
    operation waits forever (a server that accepts a request and never answers)."""

    def __init__(self) -> None:
        self.inner = MemoryStateStore()
        self.hung = False

    async def _gate(self) -> None:
        if self.hung:
            await anyio.sleep_forever()

    async def add_failure(self, key: str, window_s: float) -> int:
        await self._gate()
        return await self.inner.add_failure(key, window_s)

    async def clear_failures(self, key: str) -> None:
        await self._gate()
        await self.inner.clear_failures(key)

    async def set_cooldown(self, key: str, seconds: float) -> None:
        await self._gate()
        await self.inner.set_cooldown(key, seconds)

    async def cooling(self, keys: Sequence[str]) -> Mapping[str, float]:
        await self._gate()
        return await self.inner.cooling(keys)

    async def get_pin(self, session: str, model: str) -> str | None:
        await self._gate()
        return await self.inner.get_pin(session, model)

    async def set_pin(self, session: str, model: str, deployment: str, ttl_s: float) -> None:
        await self._gate()
        await self.inner.set_pin(session, model, deployment, ttl_s)

    async def drop_pin(self, session: str, model: str) -> None:
        await self._gate()
        await self.inner.drop_pin(session, model)

    async def aclose(self) -> None:
        pass


HUNG_SESSIONS, HUNG_STEPS = 150, 3


@pytest.mark.soak
async def test_soak_a_state_store_that_hangs_mid_run() -> None:
    """Waves of concurrent sessions over flaky deployments with a real clock and a deadline:
    the store answers, then hangs (every operation waits forever), then answers again. Every
    call still answers or fails only after ``max_attempts`` (no deadline passes while it waits
    for the store); while the store hangs the breaker is open and each breaker window costs
    one timed-out operation (the probe), not one per operation; once it answers again the probe
    closes the breaker and pins are written again. No task is left behind."""
    store = Hangable()
    # Calls, deadlines and the store's time budgets run on real time; the breaker's window on
    # a clock of its own, moved by hand: a window ends only when the test says so.
    breaker_clock = FakeClock()
    guard = FailOpenStore(store, clock=breaker_clock)
    fleet = Fleet(seed=5)
    calls = Calls()
    fast = {"deadline_s": 30.0, "attempt_timeout_s": 30.0, "backoff_base_s": 0.01,
            "backoff_max_s": 0.05}  # fmt: skip
    config = fleet_config()
    config["resilience"] = {**config["resilience"], **fast}
    reset_s = guard.settings.breaker_reset_s
    before = running_tasks()

    async def session(wave: int, i: int) -> None:
        messages: list[Any] = [{"role": "system", "content": SYSTEM}]
        async with router.session(id=f"wave{wave}-{i}"):
            for step in range(1, HUNG_STEPS + 1):
                marker = f"{wave}.{i}.{step}"
                messages.append(user(marker))
                outcome = await calls.make(router, marker, messages)
                answered_or_exhausted(outcome, marker, step)
                messages.append({"role": "assistant", "content": "done"})

    async def wave(n: int) -> None:
        async with anyio.create_task_group() as tg:
            for i in range(HUNG_SESSIONS):
                tg.start_soon(session, n, i)

    with anyio.fail_after(600):  # only against a hang of the test itself
        async with Router(
            config, providers=dict.fromkeys(FLEET, fleet), state_store=guard
        ) as router:
            await wave(1)
            assert (guard.errors, guard.skipped) == (0, 0)
            store.hung = True
            await wave(2)
            assert guard.breaker.state == "open"
            timeouts = guard.timeouts
            assert timeouts == guard.errors > 0
            skipped = guard.skipped
            for n in (3, 4):  # a new breaker window each: one probe, timed out
                breaker_clock.advance(reset_s)
                await wave(n)
                assert guard.timeouts == timeouts + n - 2
                assert guard.breaker.state == "open"
            assert guard.skipped > skipped
            store.hung = False
            breaker_clock.advance(reset_s)
            await wave(5)
            assert guard.breaker.state == "closed"
            assert guard.timeouts == timeouts + 2
            pins = {n: [await store.inner.get_pin(f"wave{n}-{i}", "m") for i in range(10)]
                    for n in (3, 4, 5)}  # fmt: skip
            assert pins[3] == pins[4] == [None] * 10, "a pin written while the store hung"
            assert any(pins[5]), "no pin written once the store answered again"
    assert running_tasks() == before, "a task was left behind"
    assert len(calls.ended) == calls.started == 5 * HUNG_SESSIONS * HUNG_STEPS
