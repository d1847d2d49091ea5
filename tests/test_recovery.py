"""The recovery table through a real Router: attempt sequences, backoff, deadlines, cooldowns.

Deployments (tests/helpers.config_dict): simple = small → alpha/small-1 (16k); medium = mid →
alpha/mid-1, beta/mid-b (32k); complex = big → beta/big-b (64k). Time is a FakeClock: backoff
"sleeps" are recorded in ``clock.sleeps`` and nothing really waits.
"""

from __future__ import annotations

import inspect
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import anyio
import httpx
import pytest

from agentroute import AllAttemptsFailed, Router, Usage
from agentroute._types import Attempt, ModelCall
from agentroute.errors import (
    AuthenticationFailed,
    BadRequest,
    ConfigurationError,
    ContentPolicyRefusal,
    ContextWindowExceeded,
    ModelNotFound,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from agentroute.middleware.recovery import RULES
from agentroute.state import MemoryStateStore
from agentroute.testing import FakeClock, MockProvider, capture_logs, text_result
from tests.helpers import CONVERSATION, config_dict

pytestmark = pytest.mark.anyio

SIMPLE = {"max_tier": "simple"}
MEDIUM = {"min_tier": "medium", "max_tier": "medium"}
COMPLEX = {"min_tier": "complex"}


class Fleet:
    """Per-deployment scripts behind the config's two providers; ``calls`` lists target keys.

    An item is an outcome (text, ModelResult, exception), an exception class (a fresh one per
    call), or a function returning one (awaited if async). The last item repeats."""

    def __init__(self, scripts: Mapping[str, Sequence[Any]]) -> None:
        self.scripts = {key: deque(items) for key, items in scripts.items()}
        self.calls: list[str] = []

    def providers(self) -> dict[str, MockProvider]:
        return {"alpha": MockProvider(self._answer), "beta": MockProvider(self._answer)}

    async def _answer(self, call: ModelCall) -> Any:
        assert call.target is not None
        key = call.target.key
        self.calls.append(key)
        queue = self.scripts.get(key)
        assert queue, f"unexpected call to {key}"
        item = queue.popleft() if len(queue) > 1 else queue[0]
        if isinstance(item, type) and issubclass(item, BaseException):
            return item(f"{item.__name__} from {key}")
        if callable(item):
            item = item()
            return await item if inspect.isawaitable(item) else item
        return item


def build(
    fleet: Fleet,
    clock: FakeClock | None = None,
    store: MemoryStateStore | None = None,
    config: Mapping[str, Any] | None = None,
    **resilience: Any,
) -> Router:
    data = config_dict(resilience=resilience, **(config or {}))
    clock = clock or FakeClock(draw=0.5)
    return Router(data, providers=fleet.providers(), clock=clock, state_store=store)


def trail(attempts: Sequence[Attempt]) -> list[tuple[str, str]]:
    """(deployment, error class or "ok") of each attempt, in order."""
    return [(a.target.key, a.error_type or a.outcome) for a in attempts]


async def fails(router: Router, hints: Mapping[str, Any] = MEDIUM) -> AllAttemptsFailed:
    with pytest.raises(AllAttemptsFailed) as info:
        await router.complete(CONVERSATION, hints=hints)
    return info.value


M1, MB, S1, BB = "alpha/mid-1", "beta/mid-b", "alpha/small-1", "beta/big-b"
QUIET = {"allowed_fails": 100, "escalate_on_exhaustion": False}
"""No counted cooldowns, no tier up: the bare table."""

# The table, row by row -----------------------------------------------------------------------

TRANSIENT = [RateLimited, ProviderUnavailable, ProviderTimeout, ProviderConnectionError]
ROWS: list[tuple[type[ProviderError], list[str], list[float]]] = [
    (AuthenticationFailed, [M1, MB], []),
    (ModelNotFound, [M1, MB], []),
    *[(error, [M1, M1, M1, MB], [0.5, 1.0]) for error in TRANSIENT],
    (ProviderError, [M1, MB], []),
]


def test_every_row_of_the_table_is_tested() -> None:
    tested = {row[0] for row in ROWS} | {BadRequest, ContextWindowExceeded, ContentPolicyRefusal}
    assert tested == {rule.error for rule in RULES}


@pytest.mark.parametrize(("error", "keys", "sleeps"), ROWS, ids=[r[0].__name__ for r in ROWS])
async def test_table_row_moves_on_as_documented(
    error: type[ProviderError], keys: list[str], sleeps: list[float]
) -> None:
    fleet, clock = Fleet({M1: [error], MB: ["ok"]}), FakeClock(draw=0.5)
    router = build(fleet, clock, max_retries=2, backoff_base_s=1.0, **QUIET)
    result = await router.complete(CONVERSATION, hints=MEDIUM)
    assert result.text == "ok"
    assert trail(result.attempts) == [(k, error.__name__) for k in keys[:-1]] + [(MB, "ok")]
    assert [a.number for a in result.attempts] == list(range(1, len(keys) + 1))
    assert fleet.calls == keys
    assert clock.sleeps == sleeps


@pytest.mark.parametrize("error", [AuthenticationFailed, ModelNotFound])
async def test_auth_and_not_found_cool_down_at_once(error: type[ProviderError]) -> None:
    store = MemoryStateStore(clock := FakeClock())
    fleet = Fleet({M1: [error, "back"], MB: ["ok"]})
    router = build(fleet, clock, store, cooldown_s=20.0, max_retries=2, **QUIET)
    await router.complete(CONVERSATION, hints=MEDIUM)
    assert dict(await store.cooling([M1, MB])) == {M1: 20.0}
    second = await router.complete(CONVERSATION, hints=MEDIUM)
    assert trail(second.attempts) == [(MB, "ok")]  # the cooled deployment is skipped
    clock.advance(20.0)
    third = await router.complete(CONVERSATION, hints=MEDIUM)
    assert trail(third.attempts) == [(M1, "ok")]
    assert fleet.calls == [M1, MB, MB, M1]


CWE, CPR = ContextWindowExceeded, ContentPolicyRefusal
REDIRECT_OR_RAISE = {  # scripts, hints, content_policy_fallback, attempts, why the call fails
    # the lowest larger window, a tier up: mid-1, then big (mid-b has mid-1's window)
    "larger-window": ({S1: [CWE], M1: [CWE]}, SIMPLE, None, [(S1, CWE), (M1, CWE), (BB, "ok")], ""),
    "no-larger-window": ({BB: [CWE]}, COMPLEX, None, [(BB, CWE)], "no model with a larger context"),
    "content-fallback": ({M1: [CPR]}, MEDIUM, "big", [(M1, CPR), (BB, "ok")], ""),  # not mid-b
    "no-fallback": ({M1: [CPR]}, MEDIUM, None, [(M1, CPR)], "no content_policy_fallback is config"),
    "fallback-refuses": ({M1: [CPR], BB: [CPR]}, MEDIUM, "big", [(M1, CPR), (BB, CPR)], "'big'"),
    "bad-request": ({M1: [BadRequest]}, MEDIUM, None, [(M1, BadRequest)], "is not retried"),
}


@pytest.mark.parametrize("case", REDIRECT_OR_RAISE.values(), ids=REDIRECT_OR_RAISE.keys())
async def test_rows_that_redirect_or_raise_without_retry_or_cooldown(case: tuple[Any, ...]) -> None:
    scripts, hints, fallback, expected, why = case
    store = MemoryStateStore(clock := FakeClock())
    fleet = Fleet({M1: ["ok"], MB: ["never"], BB: ["ok"], **scripts})
    resilience = {"max_retries": 2, "allowed_fails": 1, "content_policy_fallback": fallback}
    router = build(fleet, clock, store, escalate_on_exhaustion=True, **resilience)
    if why:
        group = await fails(router, hints)
        assert why in str(group)
        attempts = group.attempts
    else:
        attempts = (await router.complete(CONVERSATION, hints=hints)).attempts
    assert trail(attempts) == [(key, getattr(what, "__name__", what)) for key, what in expected]
    assert fleet.calls == [key for key, _ in expected]
    assert dict(await store.cooling([S1, M1, MB, BB])) == {}  # not the deployment's fault


async def test_larger_window_prefers_a_larger_model_of_the_same_tier() -> None:
    tiers = {"simple": ["small", "mid"], "complex": ["big"]}
    fleet = Fleet({S1: [ContextWindowExceeded], M1: ["fits"]})
    router = build(fleet, config={"tiers": tiers}, **QUIET)
    result = await router.complete(CONVERSATION, hints=SIMPLE)
    assert trail(result.attempts) == [(S1, "ContextWindowExceeded"), (M1, "ok")]


# Backoff ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("draw", "sleeps"),
    [(0.0, [0.0, 0.0, 0.0, 0.0]), (0.5, [0.5, 1.0, 1.5, 1.5]), (0.25, [0.25, 0.5, 0.75, 0.75])],
)
async def test_full_jitter_backoff_is_capped_at_backoff_max(
    draw: float, sleeps: list[float]
) -> None:
    """Retry n waits draw · min(max, base · 2ⁿ⁻¹): base 1, max 3 → bounds 1, 2, 3, 3."""
    clock = FakeClock(draw=draw)
    fleet = Fleet({M1: [ProviderUnavailable], MB: ["ok"]})
    router = build(fleet, clock, max_retries=4, backoff_base_s=1.0, backoff_max_s=3.0, **QUIET)
    result = await router.complete(CONVERSATION, hints=MEDIUM)
    assert [a.target.key for a in result.attempts] == [M1] * 5 + [MB]
    assert clock.sleeps == sleeps


@pytest.mark.parametrize("retry_after", [0.25, 7.0, 30.0])
async def test_retry_after_up_to_the_cap_is_waited_exactly(retry_after: float) -> None:
    clock = FakeClock(draw=0.5)
    fleet = Fleet({M1: [lambda: RateLimited("busy", retry_after=retry_after)], MB: ["ok"]})
    router = build(fleet, clock, max_retries=2, retry_after_cap_s=30.0, **QUIET)
    result = await router.complete(CONVERSATION, hints=MEDIUM)
    assert [a.target.key for a in result.attempts] == [M1, M1, M1, MB]
    assert [a.retry_after for a in result.attempts] == [retry_after] * 3 + [None]
    assert clock.sleeps == [retry_after, retry_after]


async def test_retry_after_above_the_cap_cools_down_and_moves_on_without_waiting() -> None:
    store = MemoryStateStore(clock := FakeClock(draw=0.5))
    fleet = Fleet({M1: [lambda: RateLimited("busy", retry_after=45.0), "back"], MB: ["ok"]})
    router = build(fleet, clock, store, max_retries=2, cooldown_s=5.0, **QUIET)
    with capture_logs() as events:
        result = await router.complete(CONVERSATION, hints=MEDIUM)
    assert trail(result.attempts) == [(M1, "RateLimited"), (MB, "ok")]
    assert clock.sleeps == []
    assert dict(await store.cooling([M1, MB])) == {M1: 45.0}  # Retry-After, not cooldown_s
    [cooldown] = [e for e in events if e["event"] == "route.cooldown"]
    assert (cooldown["deployment"], cooldown["cooldown_s"]) == (M1, 45.0)
    assert "above the 30s cap" in cooldown["reason"]
    assert trail((await router.complete(CONVERSATION, hints=MEDIUM)).attempts) == [(MB, "ok")]
    clock.advance(45.0)
    assert trail((await router.complete(CONVERSATION, hints=MEDIUM)).attempts) == [(M1, "ok")]


# Bounds: attempts, tiers, deadline, per-attempt timeout -----------------------------------


async def test_max_attempts_bounds_the_call() -> None:
    fleet = Fleet({M1: [ProviderUnavailable], MB: [ProviderUnavailable], BB: ["never"]})
    router = build(fleet, max_attempts=4, max_retries=2, allowed_fails=100)
    group = await fails(router)
    assert [a.target.key for a in group.attempts] == [M1, M1, M1, MB]
    assert len(group.exceptions) == 4
    assert "max_attempts (4) reached" in str(group)


@pytest.mark.parametrize("escalate", [True, False])
async def test_escalate_on_exhaustion(escalate: bool) -> None:
    fleet = Fleet({S1: [ProviderError], M1: [ProviderError], MB: [ProviderError], BB: ["up"]})
    router = build(fleet, max_retries=0, allowed_fails=100, escalate_on_exhaustion=escalate)
    if escalate:
        result = await router.complete(CONVERSATION, hints=SIMPLE)
        assert [a.target.key for a in result.attempts] == [S1, M1, MB, BB]
        assert result.text == "up"
    else:
        group = await fails(router, SIMPLE)
        assert [a.target.key for a in group.attempts] == [S1]
        assert "no deployment left to try" in str(group)


async def test_deadline_stops_the_call_once_passed() -> None:
    clock = FakeClock(draw=0.5)

    def slow_failure() -> ProviderError:
        clock.advance(6.0)  # the provider took 6 s (fake time) to fail
        return ProviderUnavailable("slow and down")

    fleet = Fleet({M1: [slow_failure], MB: ["never"]})
    resilience = {"deadline_s": 10.0, "attempt_timeout_s": 10.0, "backoff_base_s": 1.0}
    group = await fails(build(fleet, clock, max_retries=3, **QUIET, **resilience))
    # t=0 fails at 6, waits 0.5, fails at 12.5: no retry, no next deployment
    assert [a.target.key for a in group.attempts] == [M1, M1]
    assert clock.sleeps == [0.5]
    assert "the deadline (10s) passed 2.5s ago" in str(group)  # by how much it was overrun


async def test_no_backoff_is_waited_past_the_deadline() -> None:
    clock = FakeClock(draw=0.5)
    fleet = Fleet({M1: [lambda: RateLimited("busy", retry_after=5.0)], MB: [ProviderError]})
    resilience = {"deadline_s": 12.0, "attempt_timeout_s": 1.0, "max_retries": 5}
    group = await fails(build(fleet, clock, **QUIET, **resilience))
    # retries at 5 and 10; a third (at 15) would pass 12, so the next deployment goes at once
    assert [a.target.key for a in group.attempts] == [M1, M1, M1, MB]
    assert clock.sleeps == [5.0, 5.0]


async def test_a_deadline_that_cuts_retries_short_is_named() -> None:
    clock = FakeClock(draw=0.5)
    fleet = Fleet({S1: [lambda: RateLimited("busy", retry_after=5.0)]})
    resilience = {"deadline_s": 12.0, "attempt_timeout_s": 1.0, "max_retries": 5}
    group = await fails(build(fleet, clock, **QUIET, **resilience), SIMPLE)
    assert [a.target.key for a in group.attempts] == [S1, S1, S1]
    assert "deadline" in str(group)


async def test_attempt_timeout_is_a_provider_timeout_and_falls_back() -> None:
    fleet = Fleet({M1: [anyio.sleep_forever], MB: ["ok"]})
    router = build(fleet, attempt_timeout_s=0.05, max_retries=0, **QUIET)
    result = await router.complete(CONVERSATION, hints=MEDIUM)
    assert trail(result.attempts) == [(M1, "ProviderTimeout"), (MB, "ok")]
    error = result.attempts[0].error
    assert isinstance(error, ProviderTimeout) and "attempt timeout" in str(error)
    assert (error.provider, error.deployment) == ("alpha", "mid-1")


# Cooldowns ---------------------------------------------------------------------------------


@pytest.mark.parametrize("gap", [5.0, 11.0], ids=["within-window", "outside-window"])
async def test_allowed_fails_within_the_window_put_a_deployment_aside(gap: float) -> None:
    clock = FakeClock()
    fleet = Fleet({M1: [ProviderUnavailable, ProviderUnavailable, "back"], MB: ["ok"]})
    resilience = {"allowed_fails": 2, "failure_window_s": 10.0, "cooldown_s": 30.0}
    router = build(fleet, clock, max_retries=0, escalate_on_exhaustion=False, **resilience)
    with capture_logs() as events:
        for _ in range(2):
            result = await router.complete(CONVERSATION, hints=MEDIUM)
            assert trail(result.attempts) == [(M1, "ProviderUnavailable"), (MB, "ok")]
            clock.advance(gap)
        result = await router.complete(CONVERSATION, hints=MEDIUM)
        if gap > 10.0:  # the first failure was forgotten: still in service
            assert trail(result.attempts) == [(M1, "ok")]
            assert not [e for e in events if e["event"] == "route.cooldown"]
            return
        assert trail(result.attempts) == [(MB, "ok")]
        clock.advance(30.0 - gap)
        result = await router.complete(CONVERSATION, hints=MEDIUM)
        assert trail(result.attempts) == [(M1, "ok")]
    [cooldown] = [e for e in events if e["event"] == "route.cooldown"]
    assert cooldown["deployment"] == M1 and cooldown["model"] == "mid"
    assert (cooldown["cooldown_s"], cooldown["reason"]) == (30.0, "2 failures within 10s")


async def test_a_cooldown_during_retries_stops_retrying_that_deployment() -> None:
    clock = FakeClock(draw=0.5)
    fleet = Fleet({M1: [ProviderUnavailable], MB: ["ok"]})
    router = build(fleet, clock, max_retries=5, allowed_fails=2, escalate_on_exhaustion=False)
    result = await router.complete(CONVERSATION, hints=MEDIUM)
    assert [a.target.key for a in result.attempts] == [M1, M1, MB]
    assert clock.sleeps == [0.25]


async def test_routers_sharing_a_store_see_each_others_cooldowns() -> None:
    store = MemoryStateStore(clock := FakeClock())
    first = Fleet({M1: [AuthenticationFailed], MB: ["ok"]})
    second = Fleet({M1: ["never"], MB: ["ok"]})
    await build(first, clock, store, **QUIET).complete(CONVERSATION, hints=MEDIUM)
    result = await build(second, clock, store, **QUIET).complete(CONVERSATION, hints=MEDIUM)
    assert trail(result.attempts) == [(MB, "ok")]
    assert second.calls == [MB]


EVERYTHING = {S1: 5.0, M1: 20.0, MB: 10.0, BB: 5.0}


@pytest.mark.parametrize(
    ("cooling", "escalate", "expected"),
    [
        ({M1: 20.0, MB: 10.0}, True, [(BB, "ok")]),  # the tier above is ready
        ({M1: 20.0, MB: 10.0}, False, [(MB, "ProviderError"), (M1, "ok")]),
        (EVERYTHING, True, [(MB, "ProviderError"), (M1, "ok")]),
        (EVERYTHING, False, [(MB, "ProviderError"), (M1, "ok")]),
    ],
)
async def test_when_all_is_cooling_the_call_still_tries_the_tier_soonest_back_first(
    cooling: dict[str, float], escalate: bool, expected: list[tuple[str, str]]
) -> None:
    store = MemoryStateStore(clock := FakeClock())
    for key, seconds in cooling.items():
        await store.set_cooldown(key, seconds)
    fleet = Fleet({MB: [ProviderError], M1: ["ok"], BB: ["ok"]})
    router = build(fleet, clock, store, max_retries=0, escalate_on_exhaustion=escalate)
    result = await router.complete(CONVERSATION, hints=MEDIUM)
    assert trail(result.attempts) == expected


# Errors outside the tree, the error group, the session ------------------------------------


@pytest.mark.parametrize("error", [ValueError("bug"), KeyError("k"), ConfigurationError("no")])
async def test_non_provider_errors_propagate_unchanged(error: Exception) -> None:
    fleet = Fleet({M1: [error], MB: ["never"]})
    router = build(fleet, max_retries=2, escalate_on_exhaustion=True)
    with pytest.raises(type(error)) as info:
        await router.complete(CONVERSATION, hints=MEDIUM)
    assert info.value is error
    assert fleet.calls == [M1]


async def test_cancellation_propagates_and_is_recorded() -> None:
    scope = anyio.CancelScope()

    async def cancel_then_hang() -> None:
        scope.cancel()
        await anyio.sleep_forever()

    fleet = Fleet({M1: [cancel_then_hang], MB: ["never"]})
    router = build(fleet, max_retries=2, escalate_on_exhaustion=True)
    async with router.session("cancelled") as session:
        with scope:
            await router.complete(CONVERSATION, hints=MEDIUM)
        assert scope.cancelled_caught
    assert fleet.calls == [M1]
    assert [(a.target.key, a.outcome) for a in session.state.last_attempts] == [(M1, "cancelled")]


async def test_last_attempts_are_never_left_over_from_the_previous_call() -> None:
    fleet = Fleet({M1: ["ok", ValueError("bug")]})
    router = build(fleet, **QUIET)
    async with router.session("stale") as session:
        first = await router.complete(CONVERSATION, hints=MEDIUM)
        with pytest.raises(ValueError, match="bug"):
            await router.complete(CONVERSATION, hints=MEDIUM)
    assert session.state.last_attempts != first.attempts


async def test_all_attempts_failed_is_an_exception_group_of_every_attempt() -> None:
    fleet = Fleet({M1: [ProviderUnavailable], MB: [RateLimited]})
    router = build(fleet, max_retries=1, **QUIET)
    async with router.session("group") as session:
        group = await fails(router)
    assert isinstance(group, ExceptionGroup)
    assert [type(e) for e in group.exceptions] == [ProviderUnavailable] * 2 + [RateLimited] * 2
    assert [a.error for a in group.attempts] == list(group.exceptions)
    assert session.state.last_attempts == group.attempts
    caught: dict[str, list[str]] = {}
    try:
        raise group
    except* RateLimited as only:
        assert isinstance(only, AllAttemptsFailed)
        caught["rate"] = [a.target.key for a in only.attempts]
    except* ProviderUnavailable as rest:
        assert isinstance(rest, AllAttemptsFailed)
        caught["down"] = [a.target.key for a in rest.attempts]
    assert caught == {"rate": [MB, MB], "down": [M1, M1]}


async def test_a_successful_attempt_is_charged_to_the_session_once() -> None:
    fleet = Fleet({M1: [ProviderUnavailable], MB: [text_result("ok", usage=Usage(1000, 500))]})
    router = build(fleet, max_retries=0, **QUIET)
    async with router.session("cost") as session:
        result = await router.complete(CONVERSATION, hints=MEDIUM)
        assert session.state.last_attempts == result.attempts
    assert result.cost_usd == pytest.approx((1000 * 2.0 + 500 * 4.0) / 1e6)
    assert session.cost_usd == pytest.approx(result.cost_usd)
    assert session.usage == Usage(1000, 500)
    assert [a.cost_usd for a in result.attempts] == [0.0, result.cost_usd]


async def test_cooldown_events_carry_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    key = "sk-recovery-secret-424242"
    monkeypatch.setenv("AR_RECOVERY_KEY", key)
    data = config_dict(resilience={"cooldown_s": 15.0, **QUIET})
    data["providers"]["alpha"]["kwargs"] = {"api_key": "env:AR_RECOVERY_KEY"}
    router = Router(data, clock=FakeClock())

    async def echoing(messages: Any, *, model: str, api_key: str) -> Any:
        request = httpx.Request("POST", "https://api.example.invalid/v1/chat/completions")
        body = {"error": {"message": f"Incorrect API key provided: {api_key}"}}
        response = httpx.Response(401, json=body, request=request)
        raise httpx.HTTPStatusError("401", request=request, response=response)

    with capture_logs() as events, pytest.raises(AllAttemptsFailed) as info:
        await router.wrap(echoing)(CONVERSATION)
    assert trail(info.value.attempts) == [(S1, "AuthenticationFailed")]
    [cooldown] = [e for e in events if e["event"] == "route.cooldown"]
    assert (cooldown["deployment"], cooldown["cooldown_s"]) == (S1, 15.0)
    assert cooldown["reason"] == "AuthenticationFailed: put aside at once"
    assert key not in repr(events) and key not in str(info.value)


async def test_timeouts_can_be_turned_off_and_then_no_attempt_is_cut_short() -> None:
    async def slow() -> str:
        await anyio.sleep(0.05)  # longer than the tiny timeout below, when it is on
        return "late but fine"

    fleet = Fleet({M1: [slow]})
    off = build(fleet, attempt_timeout_s=None, deadline_s=None, **QUIET)
    result = await off.complete(CONVERSATION, hints=MEDIUM)
    assert result.text == "late but fine"
    assert trail(result.attempts) == [(M1, "ok")]

    on = build(Fleet({M1: [slow], MB: ["quick"]}), attempt_timeout_s=0.01, **QUIET)
    result = await on.complete(CONVERSATION, hints=MEDIUM)
    assert trail(result.attempts)[0] == (M1, "ProviderTimeout")


# A cooldown orders deployments; it never fails a call alone --------------------------------


async def test_a_cooldown_alone_never_fails_a_call_cooling_deployments_are_still_tried() -> None:
    """mid-b is cooling; mid-1, the only one in service, fails once and is put aside too
    (``allowed_fails: 1``): the call goes on to mid-b instead of failing with attempts and
    deadline to spare."""
    store = MemoryStateStore(clock := FakeClock(draw=0.5))
    await store.set_cooldown(MB, 10.0)
    fleet = Fleet({M1: [ProviderUnavailable], MB: ["ok"]})
    router = build(
        fleet, clock, store, max_retries=2, allowed_fails=1, escalate_on_exhaustion=False
    )
    result = await router.complete(CONVERSATION, hints=MEDIUM)
    assert trail(result.attempts) == [(M1, "ProviderUnavailable"), (MB, "ok")]
    assert dict(await store.cooling([M1, MB])) == {M1: 30.0, MB: 10.0}


async def test_retries_of_a_deployment_put_aside_are_still_made_when_nothing_else_is_left() -> None:
    """Both deployments fail and are put aside at their first failure: ``max_retries`` is
    still used, the deployment back soonest first (a tie: the order they were tried in)."""
    store = MemoryStateStore(clock := FakeClock(draw=0.5))
    fleet = Fleet({M1: [ProviderUnavailable, "back"], MB: [ProviderUnavailable, "never"]})
    router = build(
        fleet, clock, store, max_retries=2, allowed_fails=1, escalate_on_exhaustion=False
    )
    result = await router.complete(CONVERSATION, hints=MEDIUM)
    assert trail(result.attempts) == [
        (M1, "ProviderUnavailable"),
        (MB, "ProviderUnavailable"),
        (M1, "ok"),
    ]
    assert clock.sleeps == [0.25]  # the first retry's backoff


async def test_a_deployment_put_aside_is_retried_until_max_attempts() -> None:
    fleet = Fleet({S1: [ProviderUnavailable]})
    router = build(
        fleet, max_retries=5, max_attempts=4, allowed_fails=1, escalate_on_exhaustion=False
    )
    group = await fails(router, SIMPLE)
    assert trail(group.attempts) == [(S1, "ProviderUnavailable")] * 4
    assert "max_attempts (4) reached" in str(group)


async def test_every_deployment_cooling_or_failed_and_no_retry_left_names_it() -> None:
    store = MemoryStateStore(clock := FakeClock(draw=0.5))
    await store.set_cooldown(MB, 5.0)
    fleet = Fleet({M1: [ProviderUnavailable], MB: [ProviderUnavailable]})
    router = build(
        fleet, clock, store, max_retries=0, allowed_fails=1, escalate_on_exhaustion=False
    )
    group = await fails(router)
    assert trail(group.attempts) == [(M1, "ProviderUnavailable"), (MB, "ProviderUnavailable")]
    assert "no deployment left to try" in str(group)


async def test_cooling_deployments_of_the_call_go_before_those_of_the_tier_above() -> None:
    """Nothing is ready once mid-1 failed: the cooling deployments are tried, the call's own
    tier first (mid-b, back in 20 s), then the tier above (big-b, back in 5 s)."""
    store = MemoryStateStore(clock := FakeClock(draw=0.5))
    await store.set_cooldown(MB, 20.0)
    await store.set_cooldown(BB, 5.0)
    fleet = Fleet({M1: [ProviderError], MB: [ProviderError], BB: ["up"]})
    router = build(fleet, clock, store, max_retries=0, allowed_fails=100)
    result = await router.complete(CONVERSATION, hints={"min_tier": "medium"})
    assert trail(result.attempts) == [(M1, "ProviderError"), (MB, "ProviderError"), (BB, "ok")]


# The deadline: no attempt starts with less than min_attempt_s left ---------------------------


class LateClock(FakeClock):
    """A FakeClock whose sleeps overrun by ``late`` seconds (an event loop under load)."""

    def __init__(self, late: float) -> None:
        super().__init__(draw=0.5)
        self.late = late

    async def sleep(self, seconds: float) -> None:
        await super().sleep(seconds + self.late)


def taking(clock: FakeClock, seconds: float, outcome: Any) -> Any:
    """A Fleet item: the provider takes ``seconds`` (fake time), then answers ``outcome``."""

    def answer() -> Any:
        clock.advance(seconds)
        return outcome("slow, then down") if isinstance(outcome, type) else outcome

    return answer


@pytest.mark.parametrize("late", [0.6, 0.45], ids=["negative-time-left", "too-little-left"])
async def test_no_attempt_starts_with_less_than_min_attempt_s_left(late: float) -> None:
    """Fails at t=1, backs off 0.5 s, but the loop wakes ``late`` s after that: 0.1 s past
    the 2 s deadline, or 0.05 s before it (under the default ``min_attempt_s``, 0.1 s). No
    attempt is started with no, or almost no, time left."""
    clock = LateClock(late)
    fleet = Fleet({S1: [taking(clock, 1.0, ProviderUnavailable), "too late"]})
    resilience = {"deadline_s": 2.0, "attempt_timeout_s": 2.0, "backoff_base_s": 1.0}
    group = await fails(build(fleet, clock, max_retries=3, **QUIET, **resilience), SIMPLE)
    assert fleet.calls == [S1]
    assert trail(group.attempts) == [(S1, "ProviderUnavailable")]
    assert "deadline (2s)" in str(group)


@pytest.mark.parametrize(("min_attempt_s", "calls"), [(0.5, [S1]), (0.1, [S1, S1])])
async def test_min_attempt_s_is_configurable(min_attempt_s: float, calls: list[str]) -> None:
    clock = LateClock(0.2)  # the retry could start at t=1.7, 0.3 s before the deadline
    fleet = Fleet({S1: [taking(clock, 1.0, ProviderUnavailable), "ok"]})
    resilience = {"deadline_s": 2.0, "attempt_timeout_s": 2.0, "backoff_base_s": 1.0}
    router = build(fleet, clock, max_retries=3, min_attempt_s=min_attempt_s, **QUIET, **resilience)
    if len(calls) == 1:
        group = await fails(router, SIMPLE)
        assert "min_attempt_s (0.5s)" in str(group)
    else:
        assert (await router.complete(CONVERSATION, hints=SIMPLE)).text == "ok"
    assert fleet.calls == calls


async def test_an_attempt_records_how_late_it_started() -> None:
    clock = LateClock(0.25)
    fleet = Fleet({S1: [taking(clock, 1.0, ProviderUnavailable), "ok"]})
    resilience = {"deadline_s": 10.0, "attempt_timeout_s": 5.0}
    router = build(fleet, clock, max_retries=1, backoff_base_s=1.0, **QUIET, **resilience)
    with capture_logs() as events:
        result = await router.complete(CONVERSATION, hints=SIMPLE)
    assert trail(result.attempts) == [(S1, "ProviderUnavailable"), (S1, "ok")]
    assert [a.lag_s for a in result.attempts] == [0.0, pytest.approx(0.25)]
    logged = [e.get("lag_s") for e in events if e["event"] == "route.attempt"]
    assert logged == [None, pytest.approx(0.25)]


# Cancellation between attempts ---------------------------------------------------------------


async def test_a_cancel_during_a_retry_backoff_is_recorded_and_drops_the_live_errors() -> None:
    scope = anyio.CancelScope()

    def cancel_then_fail() -> ProviderError:
        scope.cancel()  # delivered at the backoff's sleep, between two attempts
        return ProviderUnavailable("down")

    fleet = Fleet({M1: [cancel_then_fail], MB: ["never"]})
    router = build(fleet, max_retries=2, **QUIET)
    async with router.session("cancelled-in-backoff") as session:
        with scope:
            await router.complete(CONVERSATION, hints=MEDIUM)
        assert scope.cancelled_caught
    assert fleet.calls == [M1]
    attempts = session.state.last_attempts
    assert [(a.target.key, a.outcome) for a in attempts] == [(M1, "error"), (M1, "cancelled")]
    assert [a.number for a in attempts] == [1, 2]
    assert all(a.error is None for a in attempts)  # records only, as after any failed call
