"""Per-session budgets: cost and step limits refused before any network call, the tier cap
near the cost limit, per-session overrides, billed failed attempts counted."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import pytest
from structlog.testing import capture_logs

from agentroute import (
    AllAttemptsFailed,
    BudgetExceeded,
    ConfigurationError,
    ModelResult,
    ProviderUnavailable,
    Router,
    StepLimitExceeded,
    StreamChunk,
    Usage,
)
from agentroute._types import ModelCall
from agentroute.config import Price
from agentroute.pricing import cost_usd
from agentroute.testing import FakeClock, ScriptedProvider, openai_response
from tests.helpers import CONVERSATION, config_dict

pytestmark = pytest.mark.anyio

SMALL = Price(input=1.0, output=2.0, cache_read=0.1)  # config_dict()'s "small" (simple tier)
TENTH = Usage(100_000, 0)  # 100,000 input tokens at $1/M on small: $0.10 a call
TENTH_COST = cost_usd(TENTH, SMALL)


def _answer(usage: Usage = TENTH, finish_reason: str = "stop") -> ModelResult:
    return ModelResult(text="ok", finish_reason=finish_reason, usage=usage)


def _router(
    provider: ScriptedProvider, budget: dict[str, Any] | None = None, **overrides: Any
) -> Router:
    cfg = config_dict(budget=budget or {}, **overrides)
    return Router(cfg, providers={"alpha": provider, "beta": provider}, clock=FakeClock())


async def test_cost_limit_refuses_the_next_call_before_any_model_call() -> None:
    provider = ScriptedProvider(default=_answer())
    router = _router(provider, {"max_cost_usd": 0.25, "cap_tier_at_fraction": None})
    async with router.session("run-1") as session:
        await router.complete(CONVERSATION)  # $0.10
        await router.complete(CONVERSATION)  # $0.20: under the limit, so the next call runs
        await router.complete(CONVERSATION)  # $0.30: the call that crosses the limit completes
        assert len(provider.calls) == 3
        with pytest.raises(BudgetExceeded) as info:
            await router.complete(CONVERSATION)
        assert len(provider.calls) == 3  # refused before the provider
        # the refused call made no decision and is not a step
        assert session.step == 3 and len(session.decisions) == 3
        with pytest.raises(BudgetExceeded):
            await router.complete(CONVERSATION)
        assert len(provider.calls) == 3
    message = str(info.value)
    assert "'run-1'" in message and "$0.25" in message and "$0.300000" in message
    assert info.value.session_id == "run-1"
    assert info.value.limit_usd == 0.25
    assert info.value.spent_usd == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("limit", "calls_made"),
    [
        # the spend equals the limit exactly: reached, the next call is refused
        pytest.param(TENTH_COST + TENTH_COST, 2, id="equal"),
        # a hair over what two calls spend: the third call still runs, the fourth is refused
        pytest.param((TENTH_COST + TENTH_COST) * 1.000001, 3, id="just-above"),
        # ten sums of $0.0999… make 0.9999999999999999 in floating point: $1 reached all the same
        pytest.param(1.0, 10, id="float-drift"),
    ],
)
async def test_exact_boundary(limit: float, calls_made: int) -> None:
    provider = ScriptedProvider(default=_answer())
    router = _router(provider, {"max_cost_usd": limit, "cap_tier_at_fraction": None})
    async with router.session() as session:
        for _ in range(calls_made):
            await router.complete(CONVERSATION)
        with pytest.raises(BudgetExceeded):
            await router.complete(CONVERSATION)
        assert len(provider.calls) == calls_made
        assert session.step == calls_made


async def test_step_limit() -> None:
    provider = ScriptedProvider(default=_answer(Usage(10, 5)))
    router = _router(provider, {"max_steps": 2})
    async with router.session("steps") as session:
        await router.complete(CONVERSATION)
        await router.complete(CONVERSATION)
        with pytest.raises(StepLimitExceeded) as info:
            await router.complete(CONVERSATION)
        assert len(provider.calls) == 2
        assert session.step == 2
        with pytest.raises(StepLimitExceeded):
            await router.complete(CONVERSATION)
        assert len(provider.calls) == 2
    message = str(info.value)
    assert "'steps'" in message and "max_steps limit of 2" in message and "spent" in message
    assert (info.value.session_id, info.value.steps, info.value.limit) == ("steps", 2, 2)


async def test_limits_apply_to_implicit_sessions_and_wrap() -> None:
    provider = ScriptedProvider(default=_answer(Usage(10, 5)))
    router = _router(provider, {"max_steps": 1})
    call_llm = router.wrap(provider.as_function())
    await call_llm(CONVERSATION)
    with pytest.raises(StepLimitExceeded):
        await call_llm(CONVERSATION)  # the same conversation: the same implicit session
    assert len(provider.calls) == 1


async def test_a_stream_is_refused_on_opening() -> None:
    provider = ScriptedProvider(default=_answer())
    router = _router(provider, {"max_cost_usd": 0.1, "cap_tier_at_fraction": None})
    async with router.session():
        await router.complete(CONVERSATION)
        with pytest.raises(BudgetExceeded):
            async with router.stream(CONVERSATION):
                pass  # pragma: no cover - never entered
    assert len(provider.calls) == 1


# The tier cap ------------------------------------------------------------------------------

BIG_QUARTER = Usage(25_000, 0)  # on "big" ($10/M input): $0.25 a call


async def test_tier_cap_kicks_in_at_the_fraction() -> None:
    provider = ScriptedProvider(default=_answer(BIG_QUARTER))
    router = _router(provider, {"max_cost_usd": 1.0, "cap_tier_at_fraction": 0.5})
    hints = {"min_tier": "complex"}  # the app wants the strong tier on every call
    async with router.session("capped") as session:
        first = await router.complete(CONVERSATION, hints=hints)  # $0.25
        second = await router.complete(CONVERSATION, hints=hints)  # $0.50: half spent
        third = await router.complete(CONVERSATION, hints=hints)
    assert first.decision is not None and second.decision is not None
    assert [first.decision.tier, second.decision.tier] == ["complex", "complex"]
    decision = third.decision
    assert decision is not None
    assert (decision.tier, decision.cause) == ("simple", "budget_cap")  # the start tier
    assert "spent $0.500000 of the $1 budget" in decision.reason
    assert "capped at simple" in decision.reason
    assert third.target is not None and third.target.model == "small"
    assert session.decisions[-1].cause == "budget_cap"


async def test_cap_tier_is_configurable_and_only_lowers() -> None:
    provider = ScriptedProvider(default=_answer(BIG_QUARTER))
    router = _router(
        provider, {"max_cost_usd": 1.0, "cap_tier_at_fraction": 0.25, "cap_tier": "medium"}
    )
    async with router.session():
        await router.complete(CONVERSATION, hints={"min_tier": "complex"})  # $0.25
        capped = await router.complete(CONVERSATION, hints={"min_tier": "complex"})
        below = await router.complete(CONVERSATION)  # the score wants simple: no cap needed
    assert capped.decision is not None and below.decision is not None
    assert (capped.decision.tier, capped.decision.cause) == ("medium", "budget_cap")
    assert below.decision.cause != "budget_cap"


async def test_cap_gives_way_to_the_context_window() -> None:
    provider = ScriptedProvider(default=_answer(BIG_QUARTER))
    router = _router(provider, {"max_cost_usd": 1.0, "cap_tier_at_fraction": 0.1})
    long = [*CONVERSATION, {"role": "user", "content": "word " * 20_000}]  # > small's 16k
    async with router.session():
        await router.complete(CONVERSATION, hints={"min_tier": "complex"})  # $0.25
        result = await router.complete(long, hints={"min_tier": "complex"})
    assert result.decision is not None
    assert result.decision.cause == "context_window" and result.decision.tier != "simple"


SMALL_QUARTER = Usage(250_000, 0)  # on "small" ($1/M input): $0.25 a call


@pytest.mark.parametrize("capped", [True, False], ids=["capped", "no-cap"])
async def test_the_cap_holds_when_the_output_check_rejects(capped: bool) -> None:
    async def reject(result: ModelResult, call: Any) -> bool | str:
        return call.session.step == 1 or "not good enough"  # accepts step 1 only

    provider = ScriptedProvider(default=_answer(SMALL_QUARTER))
    budget = {"max_cost_usd": 1.0, "cap_tier_at_fraction": 0.25 if capped else None}
    router = Router(
        config_dict(budget=budget, policy={"max_validation_retries": 1}),
        providers={"alpha": provider, "beta": provider},
        clock=FakeClock(),
        validator=reject,
    )
    async with router.session() as session:
        await router.complete(CONVERSATION)  # $0.25 on small
        provider.calls.clear()
        result = await router.complete(CONVERSATION)  # a quarter of the budget is spent
    models = [c.target.model for c in provider.calls if c.target is not None]
    if capped:  # the rejected answer is returned: climbing would break the cap
        assert models == ["small"]
        assert result.target is not None and result.target.model == "small"
        assert session.decisions[-1].cause != "validation_failure"
    else:  # the control: without the cap the rejected step runs one tier up
        assert models == ["small", "mid"]
        assert session.decisions[-1].cause == "validation_failure"


@pytest.mark.parametrize("capped", [True, False], ids=["capped", "no-cap"])
async def test_the_cap_holds_when_the_capped_tier_runs_out_of_deployments(capped: bool) -> None:
    provider = ScriptedProvider(
        [_answer(SMALL_QUARTER), ProviderUnavailable("down")], default=_answer(SMALL_QUARTER)
    )
    budget = {"max_cost_usd": 1.0, "cap_tier_at_fraction": 0.25 if capped else None}
    resilience = {"max_retries": 0, "escalate_on_exhaustion": True}
    router = _router(provider, budget, resilience=resilience)
    async with router.session():
        await router.complete(CONVERSATION)  # $0.25 on small
        if capped:
            with pytest.raises(AllAttemptsFailed) as info:
                await router.complete(CONVERSATION)
            assert [a.target.model for a in info.value.attempts] == ["small"]
        else:  # the control: the tier above serves
            result = await router.complete(CONVERSATION)
            assert result.target is not None and result.target.model == "mid"


async def test_unknown_cap_tier_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match=r"budget\.cap_tier: unknown tier 'huge'"):
        _router(ScriptedProvider(), {"max_cost_usd": 1.0, "cap_tier": "huge"})


# Per-session overrides --------------------------------------------------------------------


async def test_session_metadata_overrides_the_limits() -> None:
    provider = ScriptedProvider(default=_answer())
    router = _router(provider, {"max_steps": 1})
    async with router.session(metadata={"max_cost_usd": 0.2, "max_steps": None}):
        await router.complete(CONVERSATION)
        await router.complete(CONVERSATION)  # max_steps lifted for this session
        with pytest.raises(BudgetExceeded, match=r"\$0\.2 budget"):
            await router.complete(CONVERSATION)
    assert len(provider.calls) == 2
    async with router.session(metadata={"max_steps": 3}):
        for _ in range(3):
            await router.complete(CONVERSATION)
        with pytest.raises(StepLimitExceeded, match="max_steps limit of 3"):
            await router.complete(CONVERSATION)
    assert len(provider.calls) == 5


@pytest.mark.parametrize(
    "metadata",
    [{"max_cost_usd": -1}, {"max_cost_usd": "1"}, {"max_steps": 0}, {"max_steps": True}],
)
async def test_bad_session_override_is_a_configuration_error(metadata: dict[str, Any]) -> None:
    provider = ScriptedProvider(default=_answer())
    router = _router(provider)
    async with router.session(metadata=metadata):
        with pytest.raises(ConfigurationError, match="session metadata"):
            await router.complete(CONVERSATION)
    assert provider.calls == []


# What counts --------------------------------------------------------------------------------


async def test_a_failed_attempts_billed_cost_counts() -> None:
    # big refuses on content grounds (a billed answer: 25,000 in at $10/M = $0.25); the
    # content_policy_fallback "mid" answers (5,000 in at $2/M = $0.01). $0.26 in all.
    provider = ScriptedProvider(
        [_answer(BIG_QUARTER, "content_filter"), _answer(Usage(5_000, 0))],
        default=_answer(Usage(10, 5)),
    )
    router = _router(
        provider,
        {"max_cost_usd": 0.26, "cap_tier_at_fraction": None},
        resilience={"max_retries": 0, "content_policy_fallback": "mid"},
    )
    async with router.session() as session:
        result = await router.complete(CONVERSATION, hints={"min_tier": "complex"})
        assert result.cost_usd == pytest.approx(0.01)
        assert session.cost_usd == pytest.approx(0.26)  # the refused answer is paid for
        with pytest.raises(BudgetExceeded):
            await router.complete(CONVERSATION)
    assert len(provider.calls) == 2


async def test_a_refusal_is_logged() -> None:
    provider = ScriptedProvider(default=_answer())
    router = _router(provider, {"max_steps": 1})
    async with router.session("logged"):
        await router.complete(CONVERSATION)
        with capture_logs() as logs, pytest.raises(StepLimitExceeded):
            await router.complete(CONVERSATION)
    events = [e for e in logs if e["event"] == "route.budget"]
    assert events == [
        {
            "event": "route.budget",
            "log_level": "warning",
            "session_id": "logged",
            "step": 2,
            "action": "refused",
            "limit": "max_steps",
            "limit_value": 1,
            "cost_usd": pytest.approx(TENTH_COST),
        }
    ]


async def test_no_budget_no_interference() -> None:
    provider = ScriptedProvider(default=_answer(Usage(10_000_000, 0)))  # $10 a call
    router = _router(provider)
    async with router.session() as session:
        for _ in range(5):
            result = await router.complete(CONVERSATION)
            assert result.decision is not None and result.decision.cause != "budget_cap"
    assert session.cost_usd == pytest.approx(50.0)


# A call refused before any model call is not a step ---------------------------------------


async def test_calls_refused_for_their_message_shape_use_no_step() -> None:
    provider = ScriptedProvider(default=_answer(Usage(10, 5)))
    router = _router(provider, {"max_steps": 3})
    async with router.session("shapes") as session:
        for _ in range(3):
            with pytest.raises(ConfigurationError, match=r"messages\[0\]"):
                await router.complete([1])
        assert session.step == 0
        first = await router.complete(CONVERSATION)
        with pytest.raises(ConfigurationError):
            async with router.stream([1]):
                pass  # pragma: no cover - never entered
        second = await router.complete(CONVERSATION)
        third = await router.complete(CONVERSATION)
        with pytest.raises(StepLimitExceeded):
            await router.complete(CONVERSATION)
    assert len(provider.calls) == 3
    steps = [r.decision.step for r in (first, second, third) if r.decision is not None]
    assert steps == [1, 2, 3]  # contiguous: the refused calls left no gap
    assert [d.step for d in session.decisions] == [1, 2, 3]


async def test_a_call_refused_for_a_bad_session_override_uses_no_step() -> None:
    provider = ScriptedProvider(default=_answer(Usage(10, 5)))
    router = _router(provider)
    async with router.session(metadata={"max_steps": 0}) as session:
        for _ in range(2):
            with pytest.raises(ConfigurationError, match="session metadata"):
                await router.complete(CONVERSATION)
        assert session.step == 0


async def test_a_wrapped_call_refused_by_a_config_error_at_the_terminal_uses_no_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The deployment's key names an unset environment variable: a configuration error
    raised before the function is called (no model call), so no step."""
    monkeypatch.delenv("AR_UNSET_KEY_FOR_STEPS", raising=False)
    data = config_dict(budget={"max_steps": 1})
    data["providers"]["alpha"]["kwargs"] = {"api_key": "env:AR_UNSET_KEY_FOR_STEPS"}
    provider = ScriptedProvider(default=_answer(Usage(10, 5)))
    router = Router(data, clock=FakeClock())
    routed = router.wrap(provider.as_function())
    async with router.session("terminal") as session:
        for _ in range(2):
            with pytest.raises(ConfigurationError, match="AR_UNSET_KEY_FOR_STEPS"):
                await routed(CONVERSATION)
        assert session.step == 0
        monkeypatch.setenv("AR_UNSET_KEY_FOR_STEPS", "sk-test")
        await routed(CONVERSATION)  # the one step max_steps allows
        assert session.step == 1
    assert len(provider.calls) == 1


# Concurrent calls reserve their expected cost --------------------------------------------------

GUESS = 50_000
"""``policy.output_tokens_guess`` in the concurrency tests: 50,000 output tokens on small
($2/M) is $0.10, so each call reserves a little over $0.10 (its few input tokens on top)."""


class Held:
    """A provider that answers ``script`` items in turn (the last repeats; exceptions are
    raised), each only once ``release`` is set: calls it gets stay in flight until then."""

    def __init__(self, *script: ModelResult | Exception) -> None:
        self.script = list(script)
        self.calls: list[ModelCall] = []
        self.release = anyio.Event()
        self.on_call: Callable[[], None] = lambda: None

    async def send(self, call: ModelCall) -> ModelResult:
        self.calls.append(call)
        self.on_call()
        await self.release.wait()
        item = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(item, Exception):
            raise item
        return item


async def _burst(router: Router, held: Held, n: int) -> tuple[int, int]:
    """Start ``n`` calls of one session at once; release the provider once every call has
    been admitted (it reached the provider) or refused. Returns (calls run, calls refused)."""
    refused = 0
    settled = anyio.Event()

    def tally() -> None:
        if refused + len(held.calls) == n:
            settled.set()

    async def one() -> None:
        nonlocal refused
        try:
            await router.complete(CONVERSATION)
        except BudgetExceeded:
            refused += 1
            tally()

    held.on_call = tally
    async with anyio.create_task_group() as tg:
        for _ in range(n):
            tg.start_soon(one)
        await settled.wait()
        held.release.set()
    return len(held.calls), refused


async def test_concurrent_calls_on_one_session_stop_at_the_budget() -> None:
    """50 calls at once, a budget worth 2.5 calls: each call reserves its expected cost before
    it starts, so only the calls admitted before the reservations reach the limit run —
    ceil($0.25 / $0.10…) = 3 — not all 50."""
    held = Held(_answer())  # $0.10 a call
    router = _router(
        held,
        {"max_cost_usd": 0.25, "cap_tier_at_fraction": None},
        policy={"output_tokens_guess": GUESS},
    )
    async with router.session("burst") as session:
        assert await _burst(router, held, 50) == (3, 47)
        assert session.cost_usd == pytest.approx(0.3)  # the 3 in flight overshoot, no more
        assert session.step == 3
        with pytest.raises(BudgetExceeded):
            await router.complete(CONVERSATION)


async def test_a_limit_set_only_in_the_session_metadata_reserves_too() -> None:
    """With no cost limit in the config, calls go down a chain without the reservation step
    (a speed-up); a session whose metadata sets the limit must still get it: the same burst
    stops at 3 calls, not 50."""
    held = Held(_answer())  # $0.10 a call
    router = _router(held, {"cap_tier_at_fraction": None}, policy={"output_tokens_guess": GUESS})
    async with router.session("burst", metadata={"max_cost_usd": 0.25}) as session:
        assert await _burst(router, held, 50) == (3, 47)
        assert session.cost_usd == pytest.approx(0.3)
    held.release = anyio.Event()
    held.calls.clear()
    async with router.session("no limit"):  # no limit anywhere: every call runs
        assert await _burst(router, held, 5) == (5, 0)


async def test_a_wrapped_function_reserves_for_a_limit_set_only_in_the_session_metadata() -> None:
    """The same through wrap(): its chains without the reservation step serve only sessions
    that set no limit."""
    router = _router(
        ScriptedProvider(), {"cap_tier_at_fraction": None}, policy={"output_tokens_guess": GUESS}
    )
    release, settled, started, refused = anyio.Event(), anyio.Event(), [0], [0]

    def tally() -> None:
        if started[0] + refused[0] == 20:
            settled.set()

    async def call_llm(messages: Any, *, model: str, **kwargs: Any) -> dict[str, Any]:
        started[0] += 1
        tally()
        await release.wait()
        return openai_response("ok", prompt_tokens=10, completion_tokens=5)

    routed = router.wrap(call_llm)

    async def one() -> None:
        try:
            await routed(CONVERSATION)
        except BudgetExceeded:
            refused[0] += 1
            tally()

    session = router.session("burst", metadata={"max_cost_usd": 0.25})
    async with session, anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(one)
        await settled.wait()
        release.set()
    assert (started[0], refused[0]) == (3, 17)


async def test_a_call_that_fails_or_is_cancelled_releases_its_reservation() -> None:
    down = ProviderUnavailable("down")
    held = Held(down, down, _answer(), _answer())  # $0.10 a call when it answers
    held.release.set()
    router = _router(
        held,
        {"max_cost_usd": 0.15, "cap_tier_at_fraction": None},
        policy={"output_tokens_guess": GUESS},
        resilience={"max_retries": 0, "escalate_on_exhaustion": False},
    )
    async with router.session("released") as session:
        for _ in range(2):  # unbilled failures: nothing spent, nothing kept reserved
            with pytest.raises(AllAttemptsFailed):
                await router.complete(CONVERSATION)
        held.release, arrived = anyio.Event(), anyio.Event()
        held.on_call = arrived.set
        async with anyio.create_task_group() as tg:  # cancelled while the provider holds it
            tg.start_soon(router.complete, CONVERSATION)
            await arrived.wait()
            tg.cancel_scope.cancel()
        held.release.set()
        assert session.cost_usd == 0.0
        await router.complete(CONVERSATION)  # $0.10: the whole budget was still there
        assert session.cost_usd == pytest.approx(0.1)
    assert len(held.calls) == 4


class OneChunkStream:
    """A streaming provider: every call answers one chunk carrying ``usage``."""

    def __init__(self, usage: Usage) -> None:
        self.usage = usage

    async def send(self, call: ModelCall, /) -> ModelResult:
        return _answer(self.usage)

    async def stream(self, call: ModelCall, /) -> AsyncIterator[StreamChunk]:
        yield StreamChunk(text="ok", finish_reason="stop", usage=self.usage)


async def test_an_open_stream_holds_its_reservation_until_it_ends() -> None:
    provider = OneChunkStream(Usage(10, 5))  # costs next to nothing; reserves ~$0.10
    router = _router(
        provider,  # type: ignore[arg-type]
        {"max_cost_usd": 0.1, "cap_tier_at_fraction": None},
        policy={"output_tokens_guess": GUESS},
    )
    async with router.session("streaming") as session:
        async with router.stream(CONVERSATION) as stream:
            with pytest.raises(BudgetExceeded, match="reserved by calls in flight"):
                await router.complete(CONVERSATION)
            assert [chunk.text async for chunk in stream] == ["ok"]
        assert session.cost_usd < 0.001
        await router.complete(CONVERSATION)  # released at the stream's end
