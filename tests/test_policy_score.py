"""ScorePolicy (agentroute/policy/score.py): its properties on Signals and SessionState
built directly (hypothesis), and the 12-step session through the router: the climb on
tool errors, the dwell window, the step-down only when it pays, no flapping."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from agentroute import (
    Attempt,
    Cause,
    Decision,
    ModelCall,
    ModelResult,
    Router,
    RouterConfig,
    Session,
    SessionState,
    Signals,
    Target,
    Usage,
)
from agentroute.policy.score import ScorePolicy, calm_after
from agentroute.policy.tokens import EstimateCounter, count_message, count_tools
from agentroute.testing import tool_call_result
from tests.helpers import (
    TOOLS,
    Msg,
    answer,
    append_round,
    mock_providers,
    policy_config,
    tier_index,
    words_for,
)

# ============================================================================================
# Properties of the policy (hypothesis), on Signals and SessionState built directly
# ============================================================================================

ALL_WEIGHTS = {
    "content": 0.3,
    "step": 0.02,
    "tool_errors_total": 0.05,
    "tool_errors_recent": 0.45,
    "repeated_tool_calls": 0.35,
    "context_fraction": 0.5,
    "validation_failures": 0.3,
    "escalation_requested": 0.2,
}


def _policy(**policy: Any) -> tuple[RouterConfig, ScorePolicy]:
    config = RouterConfig.from_mapping(policy_config(**policy))
    return config, ScorePolicy(config)


POLICIES = [
    _policy(),  # the default weights and thresholds
    _policy(weights=ALL_WEIGHTS, dwell_steps=2),
    _policy(weights=ALL_WEIGHTS, dwell_steps=4, margin=0.0, expected_steps=3),
    _policy(weights=ALL_WEIGHTS, thresholds={"medium": 0.4, "complex": 0.9}, dwell_steps=3),
]
DWELL_POLICY = _policy(
    weights={"tool_errors_recent": 0.45, "repeated_tool_calls": 0.35},
    thresholds={"medium": 0.3, "complex": 0.8},
    dwell_steps=2,
)
TIERS = POLICIES[0][0].tier_names
SMALL_WINDOW = 16_000
FITS_EVERYWHERE = 15_000  # below the smallest usable window (16000 less the 5% margin)


@st.composite
def signals_st(draw: st.DrawFn, *, hints: Mapping[str, Any] | None = None) -> Signals:
    step = draw(st.integers(1, 40))
    tokens = draw(st.integers(0, FITS_EVERYWHERE))
    total = draw(st.integers(0, 8))
    return Signals(
        step=step,
        tool_errors_total=total,
        tool_errors_recent=draw(st.integers(0, total)),
        repeated_tool_calls=draw(st.integers(0, 4)),
        context_tokens=tokens,
        context_fraction=tokens / SMALL_WINDOW,
        validation_failures=draw(st.integers(0, 3)),
        escalation_requested=draw(st.booleans()),
        hints=hints if hints is not None else {},
        content=draw(st.sampled_from([0.0, 0.3, 0.5, 1.0])),
    )


StateSpec = tuple[str | None, int, int]
state_st = st.tuples(
    st.sampled_from([None, *TIERS]), st.integers(0, 6), st.integers(0, 4000)
)  # (tier, calm_steps, output tokens per earlier step)


def make_state(policy: ScorePolicy, spec: StateSpec, step: int) -> SessionState:
    tier, calm, out = spec
    state = SessionState.restored(
        "prop", step=step, tier=tier, usage=Usage(2000 * (step - 1), out * (step - 1))
    )
    policy.remember_calm(state, calm)
    return state


policy_st = st.sampled_from(POLICIES)


@settings(max_examples=300, deadline=None)
@given(pc=policy_st, sig=signals_st(), spec=state_st)
def test_a_tool_error_never_lowers_the_tier(
    pc: tuple[RouterConfig, ScorePolicy], sig: Signals, spec: StateSpec
) -> None:
    config, policy = pc
    worse = Signals(
        step=sig.step,
        tool_errors_total=sig.tool_errors_total + 1,
        tool_errors_recent=sig.tool_errors_recent + 1,
        repeated_tool_calls=sig.repeated_tool_calls,
        context_tokens=sig.context_tokens,
        context_fraction=sig.context_fraction,
        validation_failures=sig.validation_failures,
        escalation_requested=sig.escalation_requested,
        hints=sig.hints,
        content=sig.content,
    )
    before = policy(sig, make_state(policy, spec, sig.step))
    after = policy(worse, make_state(policy, spec, sig.step))
    event("raised the tier" if after.tier != before.tier else "same tier")
    assert after.score >= before.score
    assert tier_index(config, after.tier) >= tier_index(config, before.tier)


@settings(max_examples=200, deadline=None)
@given(pc=policy_st, sig=signals_st(), spec=state_st)
def test_the_same_inputs_give_the_same_decision(
    pc: tuple[RouterConfig, ScorePolicy], sig: Signals, spec: StateSpec
) -> None:
    _, policy = pc
    state = make_state(policy, spec, sig.step)
    first = policy(sig, state)
    second = policy(sig, state)  # the policy is pure: it must not change the state either
    third = policy(sig, make_state(policy, spec, sig.step))
    assert first == second == third
    assert (state.tier, policy.calm_steps(state)) == (spec[0], spec[1] if spec[0] else 0)


@settings(max_examples=300, deadline=None)
@given(pc=policy_st, sig=signals_st(), spec=state_st)
def test_contributions_sum_to_the_score(
    pc: tuple[RouterConfig, ScorePolicy], sig: Signals, spec: StateSpec
) -> None:
    config, policy = pc
    decision = policy(sig, make_state(policy, spec, sig.step))
    assert sum(c for _, c in decision.contributions) == pytest.approx(decision.score)
    weights = config.policy.weights
    names = [name for name, _ in decision.contributions]
    assert len(names) == len(set(names))
    for name, amount in decision.contributions:
        value = getattr(sig, name)
        value = float(value) if isinstance(value, bool) else value
        assert amount == pytest.approx(weights[name] * value)
        assert amount != 0
    assert decision.signals == sig
    assert decision.step == sig.step
    assert decision.previous_tier == spec[0]


SOME_TARGET = Target("small", "simple", "p", "openai", "small-1", 128_000)
"""Where the dwell test's steps are charged (only their usage matters to the policy)."""

phase_st = st.tuples(st.integers(0, 3), st.integers(1, 7))  # failing steps, then calm steps
extra_st = st.tuples(
    st.sampled_from([0, 0, 0, 1]),  # repeated_tool_calls
    st.sampled_from([False] * 9 + [True]),  # escalation_requested (rarely)
    st.integers(0, 1500),  # output tokens of the step
)


@settings(max_examples=200, deadline=None)
@given(
    pc=st.sampled_from([*POLICIES, DWELL_POLICY]),
    phases=st.lists(phase_st, min_size=1, max_size=5),
    data=st.data(),
)
def test_no_two_step_downs_within_one_dwell_window(
    pc: tuple[RouterConfig, ScorePolicy], phases: list[tuple[int, int]], data: st.DataObject
) -> None:
    """Driven like RoutingMiddleware drives it: step, decision, record (with calm), charge."""
    config, policy = pc
    dwell = config.policy.dwell_steps
    schedule = [flag for bad, calm in phases for flag in [True] * bad + [False] * calm]
    extras = data.draw(st.lists(extra_st, min_size=len(schedule), max_size=len(schedule)))
    state = SessionState("dwell", explicit=True)
    failed: list[bool] = []
    levels: list[int] = []
    for error, (repeats, escalate, out) in zip(schedule, extras, strict=True):
        step = state.begin_step()
        tokens = 500 + 100 * step
        sig = Signals(
            step=step,
            tool_errors_total=sum(failed),
            tool_errors_recent=sum(failed[-3:]),  # errors answering the last 3 tool turns
            repeated_tool_calls=repeats,
            context_tokens=tokens,
            context_fraction=tokens / SMALL_WINDOW,
            escalation_requested=escalate,
        )
        decision = policy(sig, state)
        calm_steps = calm_after(policy, decision, policy.calm_steps(state))
        state.record(decision)
        assert policy.calm_steps(state) == calm_steps  # the memory counts as calm_after does
        state.charge((Attempt(step, SOME_TARGET, "ok", 0.0, usage=Usage(tokens, out)),))
        failed.append(error)
        levels.append(tier_index(config, decision.tier))
    changes = [i for i in range(1, len(levels)) if levels[i] != levels[i - 1]]
    downs = [i for i in changes if levels[i] < levels[i - 1]]
    event(f"step-downs: {min(len(downs), 2)}")
    for earlier, later in itertools.pairwise(downs):
        assert later - earlier >= dwell, (levels, downs)
    for down in downs:
        # a step-down comes at least `dwell` steps after the last change of tier before it
        last_change = max((c for c in changes if c < down), default=0)
        assert down - last_change >= dwell, (levels, down)
        d = state.decisions[down]
        assert d.cause == Cause.SCORE and d.reason == "step-down pays"
        assert d.switch is not None and d.switch.expected_saving > d.switch.cache_loss


@settings(max_examples=300, deadline=None)
@given(
    pc=policy_st,
    data=st.data(),
    spec=state_st,
    floor=st.sampled_from(TIERS),
    cap=st.sampled_from([None, *TIERS]),
)
def test_min_tier_is_honoured_unless_a_lower_max_tier_caps_it(
    pc: tuple[RouterConfig, ScorePolicy],
    data: st.DataObject,
    spec: StateSpec,
    floor: str,
    cap: str | None,
) -> None:
    config, policy = pc
    hints = {"min_tier": floor} if cap is None else {"min_tier": floor, "max_tier": cap}
    sig = data.draw(signals_st(hints=hints))
    decision = policy(sig, make_state(policy, spec, sig.step))
    got = tier_index(config, decision.tier)
    if cap is not None and tier_index(config, cap) < tier_index(config, floor):
        assert decision.tier == cap  # the cap wins: a budget or plan limit
    else:
        assert got >= tier_index(config, floor)
        if cap is not None:
            assert got <= tier_index(config, cap)


def test_a_tool_error_never_lowers_the_tier_with_a_costly_cheap_cache() -> None:
    data = policy_config(expected_steps=3)
    data["models"]["small"]["price"] = {
        "input": 1.0,
        "output": 2.0,
        "cache_read": 1.0,
        "cache_write": 50.0,
    }
    config = RouterConfig.from_mapping(data)
    policy = ScorePolicy(config)

    def state() -> SessionState:
        restored = SessionState.restored("k", tier="complex", step=2, usage=Usage(5000, 500))
        policy.remember_calm(restored, 5)
        return restored

    calm = policy(Signals(step=2, context_tokens=1000), state())
    worse = policy(Signals(step=2, tool_errors_recent=1, context_tokens=1000), state())
    assert tier_index(config, worse.tier) >= tier_index(config, calm.tier), (calm, worse)


# ============================================================================================
# The 12-step session: tool errors at steps 4-6
# ============================================================================================

TWELVE = {
    "weights": {"tool_errors_recent": 0.45},  # one recent error (0.45) >= medium's 0.3
    "thresholds": {"medium": 0.3, "complex": 2.0},  # three recent errors (1.35) stay medium
    "dwell_steps": 2,
    "expected_steps": 12,
}


def loop_model(call: ModelCall) -> ModelResult:
    """The agent's model: one tool call per step (output tokens 0: see the arithmetic test)."""
    assert call.session is not None
    step = call.session.step
    return tool_call_result(
        "lookup_booking", {"booking": f"B{step}"}, id=f"call_{step}", usage=Usage(2000, 0)
    )


async def run_twelve(
    data: dict[str, Any], shape: str
) -> tuple[Session, list[ModelResult], list[Msg], list[int]]:
    router = Router(data, providers=mock_providers(loop_model))
    messages: list[Msg] = [
        {"role": "system", "content": "You are an airline support agent."},
        {"role": "user", "content": "Move my booking B1 to Friday, please."},
    ]
    results: list[ModelResult] = []
    sizes: list[int] = []
    async with router.session(id="twelve") as session:
        for step in range(1, 13):
            sizes.append(len(messages))
            result = await router.complete(messages, tools=TOOLS)
            results.append(result)
            error = step in (4, 5, 6)
            content = "Error: booking service timed out" if error else '{"status": "ok"}'
            append_round(messages, result, content, error, shape)
    return session, results, messages, sizes


def warm(price: Mapping[str, float], prefix: int, out: float) -> float:
    read = price.get("cache_read", price["input"])
    return (prefix * read + out * (price["input"] + price["output"])) * 1e-6


def expected_switch(
    data: dict[str, Any], cur: str, low: str, prefix: int, step: int, out: float
) -> tuple[float, float]:
    """score.py's docstring: saving over the remaining steps vs. re-reading the prefix on the
    lower model at its full input price plus its cache-write premium (less a warm read)."""
    pc, pl = data["models"][cur]["price"], data["models"][low]["price"]
    remaining = max(1, data["policy"]["expected_steps"] - step)
    saving = remaining * (warm(pc, prefix, out) - warm(pl, prefix, out))
    premium = max(0.0, pl.get("cache_write", pl["input"]) - pl["input"])
    loss = prefix * (pl["input"] + premium - pl.get("cache_read", pl["input"])) * 1e-6
    return saving, loss


def check_prefix(decision: Decision, messages: list[Msg], size: int) -> int:
    """The recorded context tokens are the call's messages + tool schemas, counted again."""
    counter = EstimateCounter()
    expected = sum(count_message(counter, m) for m in messages[:size]) + count_tools(counter, TOOLS)
    assert decision.signals is not None
    assert decision.signals.context_tokens == expected
    return expected


@pytest.mark.anyio
@pytest.mark.parametrize("shape", ["openai", "anthropic"])
async def test_twelve_steps_climb_at_5_hold_through_dwell_then_step_down(shape: str) -> None:
    data = policy_config(**TWELVE)
    session, results, messages, sizes = await run_twelve(data, shape)
    decisions = session.decisions
    assert [d.step for d in decisions] == list(range(1, 13))
    tiers = [d.tier for d in decisions]
    assert tiers == ["simple"] * 4 + ["medium"] * 6 + ["simple"] * 2
    assert [r.target.model for r in results if r.target] == ["small"] * 4 + ["mid"] * 6 + [
        "small"
    ] * 2
    assert [str(d.cause) for d in decisions] == [
        "start", "hold", "hold", "hold",  # no error seen yet (step 4's call makes the first)
        "score",  # step 5 is the first call that sees an error result
        "hold", "hold", "hold", "hold",  # errors of steps 4-6 stay in the recent window
        "hysteresis_hold",  # calm, but within the dwell window
        "score",  # the dwell is over and the step-down pays
        "hold",
    ]  # fmt: skip
    recent = [d.signals.tool_errors_recent for d in decisions if d.signals]
    assert recent == [0, 0, 0, 0, 1, 2, 3, 2, 1, 0, 0, 0]
    assert decisions[4].previous_tier == "simple"
    assert decisions[4].contributions == (("tool_errors_recent", 0.45),)
    assert decisions[9].reason == "calm 1/2" and decisions[9].switch is None
    down = decisions[10]
    assert down.previous_tier == "medium" and down.reason == "step-down pays"
    assert down.switch is not None
    assert down.switch.expected_saving > down.switch.cache_loss
    # hand-check of the recorded arithmetic for step 11
    prefix = check_prefix(down, messages, sizes[10])
    saving, loss = expected_switch(data, "mid", "small", prefix, step=11, out=0.0)
    # mid has no cache discount: 1 remaining step x prefix x ($2 - $0.1)/M; small's loss is
    # re-reading at $1/M (no write premium) instead of a warm $0.1/M
    assert saving == pytest.approx(prefix * 1.9e-6)
    assert loss == pytest.approx(prefix * 0.9e-6)
    assert down.switch.expected_saving == pytest.approx(saving)
    assert down.switch.cache_loss == pytest.approx(loss)


@pytest.mark.anyio
@pytest.mark.parametrize("shape", ["openai", "anthropic"])
async def test_twelve_steps_stay_up_when_the_step_down_would_not_pay(shape: str) -> None:
    data = policy_config(**TWELVE)
    # the cheap model charges a large premium to write the prompt cache: leaving mid costs more
    # than one remaining step can save
    data["models"]["small"]["price"] = {
        "input": 1.0,
        "output": 2.0,
        "cache_read": 0.1,
        "cache_write": 5.0,
    }
    session, _, messages, sizes = await run_twelve(data, shape)
    decisions = session.decisions
    assert [d.tier for d in decisions] == ["simple"] * 4 + ["medium"] * 8
    assert [str(d.cause) for d in decisions[9:]] == ["hysteresis_hold"] * 3
    assert decisions[9].reason == "calm 1/2"
    for d, size in zip(decisions[10:], sizes[10:], strict=True):
        assert d.reason == "step-down would not pay"
        assert d.switch is not None
        assert d.switch.expected_saving <= d.switch.cache_loss
        prefix = check_prefix(d, messages, size)
        saving, loss = expected_switch(data, "mid", "small", prefix, step=d.step, out=0.0)
        assert loss == pytest.approx(prefix * (1.0 + 4.0 - 0.1) * 1e-6)
        assert d.switch.expected_saving == pytest.approx(saving)
        assert d.switch.cache_loss == pytest.approx(loss)


@pytest.mark.anyio
async def test_twelve_steps_with_a_longer_dwell_step_down_later() -> None:
    data = policy_config(**{**TWELVE, "dwell_steps": 3})
    session, *_ = await run_twelve(data, "openai")
    assert [d.tier for d in session.decisions] == ["simple"] * 4 + ["medium"] * 7 + ["simple"]
    assert [d.reason for d in session.decisions[9:11]] == ["calm 1/3", "calm 2/3"]


@pytest.mark.anyio
async def test_the_output_estimate_is_the_average_of_the_completed_steps() -> None:
    data = policy_config(dwell_steps=3, expected_steps=12)
    router = Router(data, providers=mock_providers(answer))  # every call outputs 100 tokens
    messages: list[Msg] = [{"role": "user", "content": "Move my booking to Friday."}]
    async with router.session() as s:
        s.escalate()
        for _ in range(4):
            await router.complete(messages)
    down = s.decisions[3]
    assert down.switch is not None and down.signals is not None
    saving, _ = expected_switch(data, "mid", "small", down.signals.context_tokens, step=4, out=100)
    assert down.switch.expected_saving == pytest.approx(saving)


@pytest.mark.anyio
async def test_a_constant_context_size_does_not_make_the_session_flap() -> None:
    data = policy_config(weights={"context_fraction": 0.5}, dwell_steps=2)
    router = Router(data, providers=mock_providers(answer))
    words = words_for(10_000)
    messages: list[Msg] = [{"role": "user", "content": words}]
    async with router.session() as s:
        for _ in range(12):
            await router.complete(messages)
            messages += [
                {"role": "assistant", "content": "ok"},
                {"role": "user", "content": "go on"},
            ]
    tiers = [d.tier for d in s.decisions]
    switches = sum(1 for a, b in itertools.pairwise(tiers) if a != b)
    assert switches <= 1, tiers
