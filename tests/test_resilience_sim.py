"""Issue 5 (a): every fault the simulator injects, through a routed call over real HTTP.

Built-in providers of both wire formats point at simulator instances: model ``m`` has two
deployments (instances ``a`` and ``b``), a second tier holds ``big`` (a larger window) and
``safe`` (the content-policy fallback). Faults are scheduled on ``a`` by request number; a
``FakeClock(draw=0.5)`` makes the backoff exact and never sleeps (retry 1 waits 0.25 s, retry 2
0.5 s, a Retry-After as sent). Each case asserts the exact attempts (deployment, outcome or
error class, status, retry_after), the sleeps, what each instance saw, and the final outcome.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from agentroute import (
    AllAttemptsFailed,
    Attempt,
    ProviderConnectionError,
    RoutedStream,
    Router,
    StreamInterrupted,
)
from agentroute.sim.config import FAULT_KINDS, FaultKind
from agentroute.sim.server import Simulator, run_simulator
from agentroute.testing import FakeClock

pytestmark = pytest.mark.anyio

WIRES = ("openai", "anthropic")
USER = "Please repeat the marker R5-7f3c back to me"
ECHO = "You said: " + USER
OVERLOADED = -1
"""Stands for the wire's overload status: 503 at OpenAI (it has no 529), 529 at Anthropic."""
SHORT = {"attempt_timeout_s": 1.0, "deadline_s": 5.0}
"""For the held requests of ``timeout``: the attempt gives up after 1 s of real time (20× the
0.05 s of ``timeout-answered-late``, so a loaded machine does not turn that answer late)."""

Expected = tuple[str, str, int | None, float | None]
"""(deployment key, ``ok`` or the error class, status code, retry_after) of one attempt."""


def ok(key: str) -> Expected:
    return (key, "ok", None, None)


def each(kind: str, *numbers: int, **params: Any) -> dict[int, Any]:
    return {n: {"kind": kind, **params} for n in numbers}


@dataclass(frozen=True)
class Case:
    id: str
    fault: str
    schedule: Mapping[int, Any]
    attempts: tuple[Expected, ...]
    sleeps: tuple[float, ...] = ()
    failed: str | None = None
    """The call raises AllAttemptsFailed whose message says this; else it answers."""
    text: str | None = ECHO
    resilience: Mapping[str, Any] = field(default_factory=dict)
    upper: tuple[str, ...] = ("big", "safe")
    """The second tier's models."""
    faults: Mapping[str, Any] = field(default_factory=dict)
    """Other fault settings of instance ``a`` (content-policy triggers, refusal mode)."""


A429, A500, A503 = (("a/m", "RateLimited", 429, 2.0), ("a/m", "ProviderUnavailable", 500, None),
                    ("a/m", "ProviderUnavailable", 503, None))  # fmt: skip
AOVER = ("a/m", "ProviderUnavailable", OVERLOADED, None)
ADROP = ("a/m", "ProviderConnectionError", None, None)
POLICY = ("a/m", "ContentPolicyRefusal", 400, None)
FALLBACK = {"content_policy_fallback": "safe"}
TRIGGER = {"content_policy_triggers": ["MARKER"]}
REFUSE = {**TRIGGER, "refusal": "stop_reason"}

CASES = (
    # 429 with Retry-After 2 s, three times: waited as sent twice (max_retries=2); the third
    # failure cools ``a`` down (allowed_fails=3), so the call moves on to ``b``.
    Case("rate_limit", "rate_limit", each("rate_limit", 1, 2, 3, retry_after_s=2),
         (A429, A429, A429, ok("b/m")), (2.0, 2.0)),
    # Retry-After above the 30 s cap: no wait, ``a`` is put aside, ``b`` answers at once.
    Case("rate_limit-over-cap", "rate_limit", each("rate_limit", 1, retry_after_s=45),
         (("a/m", "RateLimited", 429, 45.0), ok("b/m"))),
    Case("server_error", "server_error", each("server_error", 1, 2, 3),
         (A500, A500, A500, ok("b/m")), (0.25, 0.5)),
    Case("unavailable", "unavailable", each("unavailable", 1), (A503, ok("a/m")), (0.25,)),
    Case("overloaded", "overloaded", each("overloaded", 1, 2),
         (AOVER, AOVER, ok("a/m")), (0.25, 0.5)),
    Case("overloaded-max-attempts", "overloaded", each("overloaded", 1, 2, 3), (AOVER, AOVER),
         (0.25,), failed="max_attempts (2) reached", resilience={"max_attempts": 2}),
    # Held without an answer: the 1 s attempt timeout fires, then the retry is answered.
    Case("timeout", "timeout", each("timeout", 1),
         (("a/m", "ProviderTimeout", None, None), ok("a/m")), (0.25,), resilience=SHORT),
    # Held 0.05 s, then answered: within the attempt timeout, so it is no failure at all.
    Case("timeout-answered-late", "timeout", each("timeout", 1, delay_s=0.05), (ok("a/m"),),
         resilience=SHORT),
    Case("drop", "drop", each("drop", 1, 2), (ADROP, ADROP, ok("a/m")), (0.25, 0.5)),
    # Status and headers arrive, then half the body: a dropped connection, retried.
    Case("drop_mid_response", "drop_mid_response", each("drop_mid_response", 1),
         (ADROP, ok("a/m")), (0.25,)),
    # Never retried in place: the lowest model with a larger window answers.
    Case("context_window", "context_window", each("context_window", 1),
         (("a/m", "ContextWindowExceeded", 400, None), ok("big/big"))),
    Case("context_window-no-larger", "context_window", each("context_window", 1),
         (("a/m", "ContextWindowExceeded", 400, None),),
         failed="no model with a larger context window", upper=("safe",)),
    Case("content_policy", "content_policy", each("content_policy", 1), (POLICY, ok("safe/safe")),
         resilience=FALLBACK),
    Case("content_policy-no-fallback", "content_policy", each("content_policy", 1), (POLICY,),
         failed="no content_policy_fallback is configured"),
    # A trigger word in the last user message, refused with an HTTP 400 by ``a`` only.
    Case("content_policy-trigger", "content_policy", {}, (POLICY, ok("safe/safe")),
         resilience=FALLBACK, faults=TRIGGER),
    # The same refusal as a stop reason (HTTP 200, billed): with a fallback configured it
    # counts as a refusal; without one it is the answer.
    Case("content_policy-stop_reason", "content_policy", {},
         (("a/m", "ContentPolicyRefusal", None, None), ok("safe/safe")),
         resilience=FALLBACK, faults=REFUSE),
    Case("content_policy-stop_reason-no-fallback", "content_policy", {}, (ok("a/m"),),
         text=None, faults=REFUSE),
)  # fmt: skip


def test_every_fault_kind_has_a_case() -> None:
    kinds = set(typing.get_args(FaultKind))
    assert kinds == set(FAULT_KINDS)
    assert {c.fault for c in CASES} == kinds, "a fault kind without a resilience case"


def status(code: int | None, wire: str) -> int | None:
    if code == OVERLOADED:
        return 503 if wire == "openai" else 529
    return code


def sim_config(wire: str, schedule: Mapping[int, Any], faults: Mapping[str, Any]) -> dict[str, Any]:
    a = {"kind": wire, "faults": {"schedule": dict(schedule), **faults}}
    return {"instances": {"a": a} | {n: {"kind": wire} for n in ("b", "big", "safe")}}


def router_config(sim: Simulator, upper: tuple[str, ...], resilience: Mapping[str, Any]) -> Any:
    def model(window: int, *names: str) -> dict[str, Any]:
        deployments = [{"provider": n, "name": "m" if n in "ab" else n} for n in names]
        price = {"input": 1, "output": 2}
        return {"context_window": window, "price": price, "deployments": deployments}

    names = ("a", "b", *upper)
    windows = {"big": 200_000, "safe": 100_000}
    return {
        "providers": {
            n: {"kind": sim.instances[n].config.kind, "base_url": sim.base_url(n), "api_key": "k"}
            for n in names
        },
        "models": {"m": model(100_000, "a", "b")} | {n: model(windows[n], n) for n in upper},
        "tiers": {"cheap": ["m"]} | ({"strong": list(upper)} if upper else {}),
        "telemetry": {"log_events": False},
        "resilience": dict(resilience),
    }


def seen(attempt: Attempt) -> Expected:
    return (attempt.target.key, attempt.error_type or attempt.outcome, attempt.status_code,
            attempt.retry_after)  # fmt: skip


def server_view(case: Case, wire: str) -> dict[str, list[tuple[int, int, str | None]]]:
    """What each instance should have recorded: (request number, status, fault) — 0 for no
    answer (dropped, or held until the client left), 200 for one cut short."""
    out: dict[str, list[tuple[int, int, str | None]]] = {n: [] for n in ("a", "b", "big", "safe")}
    for key, outcome, code, _ in case.attempts:
        name = key.split("/")[0]
        number = len(out[name]) + 1
        scheduled = case.schedule.get(number) if name == "a" else None
        kind = scheduled["kind"] if scheduled else None
        refused, as_answer = outcome == "ContentPolicyRefusal", code is None
        fault = kind or ("content_policy" if refused and not as_answer else None)
        answered = outcome == "ok" or kind == "drop_mid_response" or (refused and as_answer)
        out[name].append((number, status(code, wire) or (200 if answered else 0), fault))
    return out


@pytest.mark.parametrize("wire", WIRES)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
async def test_fault_attempt_sequence_and_outcome(case: Case, wire: str) -> None:
    clock = FakeClock(draw=0.5)
    messages = [{"role": "user", "content": USER}]
    async with run_simulator(sim_config(wire, case.schedule, case.faults)) as sim:
        config = router_config(sim, case.upper, case.resilience)
        async with Router(config, clock=clock) as router:
            if case.failed is None:
                result = await router.complete(messages)
                attempts = result.attempts
                assert result.target == attempts[-1].target
                assert result.text == case.text
                if case.text is None:
                    assert result.finish_reason == "content_filter"
            else:
                with pytest.raises(AllAttemptsFailed) as info:
                    await router.complete(messages)
                attempts = info.value.attempts
                assert case.failed in str(info.value)
                assert list(info.value.exceptions) == [a.error for a in attempts]
        records = {
            n: [(r.number, r.status, r.fault) for r in sim.records(n)] for n in sim.instances
        }
    assert [seen(a) for a in attempts] == [
        (key, outcome, status(code, wire), retry_after)
        for key, outcome, code, retry_after in case.attempts
    ]
    assert [a.number for a in attempts] == list(range(1, len(attempts) + 1))
    assert tuple(clock.sleeps) == case.sleeps
    assert records == server_view(case, wire)
    assert not sim.internal_errors


# Streams -------------------------------------------------------------------------------------

LONG = "Please repeat this long sentence back so that the answer comes in many pieces " * 2
LONG_ECHO = "You said: " + LONG
BEFORE_FIRST_CHUNK = {
    "rate_limit": ("RateLimited", 429),
    "server_error": ("ProviderUnavailable", 500),
    "unavailable": ("ProviderUnavailable", 503),
    "overloaded": ("ProviderUnavailable", OVERLOADED),
    "timeout": ("ProviderTimeout", None),
    "drop": ("ProviderConnectionError", None),
}


@pytest.mark.parametrize("wire", WIRES)
@pytest.mark.parametrize("fault", BEFORE_FIRST_CHUNK)
async def test_stream_fault_before_the_first_chunk_falls_back(fault: str, wire: str) -> None:
    clock = FakeClock(draw=0.5)
    resilience = {**SHORT, "max_retries": 0}  # move on to ``b`` at once
    async with run_simulator(sim_config(wire, each(fault, 1), {})) as sim:
        async with Router(router_config(sim, (), resilience), clock=clock) as router:
            async with router.stream([{"role": "user", "content": LONG}]) as stream:
                text = "".join([chunk.text async for chunk in stream])
            result = stream.result
        a, b = sim.records("a"), sim.records("b")
    error_type, code = BEFORE_FIRST_CHUNK[fault]
    assert text == result.text == LONG_ECHO
    assert [seen(x) for x in result.attempts] == [
        ("a/m", error_type, status(code, wire), 1.0 if fault == "rate_limit" else None),
        ok("b/m"),
    ]
    assert result.target is not None and result.target.key == "b/m"
    assert result.usage.output_tokens > 0 and result.attempts[-1].usage == result.usage
    answered = status(code, wire) or 0
    assert [(r.status, r.fault, r.stream) for r in a] == [(answered, fault, True)]
    assert [(r.status, r.fault, r.stream) for r in b] == [(200, None, True)]
    assert clock.sleeps == []
    assert not sim.internal_errors


async def read_into(stream: RoutedStream, received: list[str]) -> None:
    async for chunk in stream:
        received.append(chunk.text)


@pytest.mark.parametrize("wire", WIRES)
async def test_stream_cut_mid_response_raises_stream_interrupted(wire: str) -> None:
    clock = FakeClock(draw=0.5)
    received: list[str] = []
    async with run_simulator(sim_config(wire, each("drop_mid_response", 1), {})) as sim:
        async with Router(router_config(sim, (), {}), clock=clock) as router:
            async with router.stream([{"role": "user", "content": LONG}]) as stream:
                with pytest.raises(StreamInterrupted) as info:
                    await read_into(stream, received)
            after = await router.complete([{"role": "user", "content": USER}])
        a, b = sim.records("a"), sim.records("b")
    err = info.value
    partial = err.partial
    assert partial.text == "".join(received)
    assert partial.text and LONG_ECHO.startswith(partial.text) and partial.text != LONG_ECHO
    assert isinstance(err.error, ProviderConnectionError) and err.__cause__ is err.error
    assert partial.target is not None and partial.target.key == "a/m"
    assert [seen(x) for x in partial.attempts] == [ADROP]
    # Output was delivered, so nothing is re-sent behind the caller's back: ``b`` saw nothing
    # until the next call, which ``a`` answers again.
    assert [(r.number, r.status, r.fault, r.stream) for r in a] == [
        (1, 200, "drop_mid_response", True),
        (2, 200, None, False),
    ]
    assert b == ()
    assert [seen(x) for x in after.attempts] == [ok("a/m")] and after.text == ECHO
    assert clock.sleeps == []
    assert not sim.internal_errors


@pytest.mark.parametrize("wire", WIRES)
async def test_sim_counts_a_cut_only_when_it_cuts(wire: str) -> None:
    config = sim_config(wire, each("drop_mid_response", 1), TRIGGER)
    async with run_simulator(config) as sim:
        async with Router(router_config(sim, ("safe",), FALLBACK), clock=FakeClock()) as router:
            result = await router.complete([{"role": "user", "content": USER}])
        records, stats = sim.records("a"), sim.stats("a")
    assert [seen(a) for a in result.attempts] == [POLICY, ok("safe/safe")]  # nothing was cut
    assert [(r.status, r.fault) for r in records] == [(400, "content_policy")]
    assert stats.answered == 0
    assert stats.faults == {"content_policy": 1}
