"""ScorePolicy and the routing path: properties, the 12-step session, windows, escalation,
hints, validation, the hybrid classifier and custom policies (issue 3's acceptance)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Mapping
from typing import Any

import anyio
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from agentroute import (
    Attempt,
    Cause,
    ConfigurationError,
    ContextWindowExceeded,
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
from agentroute.policy.classifier import RUBRIC, HybridClassifier
from agentroute.policy.escalation import DESCRIPTION, escalate_tool
from agentroute.policy.score import ScorePolicy, calm_after
from agentroute.policy.tokens import EstimateCounter, count_message, count_tools
from agentroute.testing import MockProvider, text_result, tool_call_result
from tests.helpers import config_dict

Msg = dict[str, Any]

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "lookup_booking",
            "description": "Look up a booking by its reference.",
            "parameters": {
                "type": "object",
                "properties": {"booking": {"type": "string"}},
                "required": ["booking"],
            },
        },
    }
]


def cfg(**policy: Any) -> dict[str, Any]:
    """The shared test config (simple/small, medium/mid, complex/big), quiet, with ``policy``."""
    data = config_dict(telemetry={"log_events": False})
    data["policy"] = policy
    return data


def providers(handler: Callable[[ModelCall], Any]) -> dict[str, MockProvider]:
    return {"alpha": MockProvider(handler), "beta": MockProvider(handler)}


def all_calls(provs: Mapping[str, MockProvider]) -> list[ModelCall]:
    return [c for p in provs.values() for c in p.calls]


def answer(_: ModelCall) -> ModelResult:
    return text_result("Your flight is rebooked.", usage=Usage(1000, 100))


def index(config: RouterConfig, tier: str) -> int:
    return config.tier_names.index(tier)


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
    config = RouterConfig.from_mapping(cfg(**policy))
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


def make_state(spec: StateSpec, step: int) -> SessionState:
    tier, calm, out = spec
    return SessionState.restored(
        "prop",
        step=step,
        tier=tier,
        calm_steps=calm,
        usage=Usage(2000 * (step - 1), out * (step - 1)),
    )


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
    before = policy(sig, make_state(spec, sig.step))
    after = policy(worse, make_state(spec, sig.step))
    event("raised the tier" if after.tier != before.tier else "same tier")
    assert after.score >= before.score
    assert index(config, after.tier) >= index(config, before.tier)


@settings(max_examples=200, deadline=None)
@given(pc=policy_st, sig=signals_st(), spec=state_st)
def test_the_same_inputs_give_the_same_decision(
    pc: tuple[RouterConfig, ScorePolicy], sig: Signals, spec: StateSpec
) -> None:
    _, policy = pc
    state = make_state(spec, sig.step)
    first = policy(sig, state)
    second = policy(sig, state)  # the policy is pure: it must not change the state either
    third = policy(sig, make_state(spec, sig.step))
    assert first == second == third
    assert (state.tier, state.calm_steps) == (spec[0], spec[1] if spec[0] is not None else 0)


@settings(max_examples=300, deadline=None)
@given(pc=policy_st, sig=signals_st(), spec=state_st)
def test_contributions_sum_to_the_score(
    pc: tuple[RouterConfig, ScorePolicy], sig: Signals, spec: StateSpec
) -> None:
    config, policy = pc
    decision = policy(sig, make_state(spec, sig.step))
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
        calm_steps = calm_after(policy, decision, state.calm_steps)
        state.record(decision, calm=policy.is_calm(decision.score, decision.tier))
        assert state.calm_steps == calm_steps  # the ledger counts as calm_after does
        state.charge((Attempt(step, SOME_TARGET, "ok", 0.0, usage=Usage(tokens, out)),))
        failed.append(error)
        levels.append(index(config, decision.tier))
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
    decision = policy(sig, make_state(spec, sig.step))
    got = index(config, decision.tier)
    if cap is not None and index(config, cap) < index(config, floor):
        assert decision.tier == cap  # the cap wins: a budget or plan limit
    else:
        assert got >= index(config, floor)
        if cap is not None:
            assert got <= index(config, cap)


def test_a_tool_error_never_lowers_the_tier_with_a_costly_cheap_cache() -> None:
    data = cfg(expected_steps=3)
    data["models"]["small"]["price"] = {
        "input": 1.0,
        "output": 2.0,
        "cache_read": 1.0,
        "cache_write": 50.0,
    }
    config = RouterConfig.from_mapping(data)
    policy = ScorePolicy(config)

    def state() -> SessionState:
        return SessionState.restored(
            "k", tier="complex", calm_steps=5, step=2, usage=Usage(5000, 500)
        )

    calm = policy(Signals(step=2, context_tokens=1000), state())
    worse = policy(Signals(step=2, tool_errors_recent=1, context_tokens=1000), state())
    assert index(config, worse.tier) >= index(config, calm.tier), (calm, worse)


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


def append_round(
    messages: list[Msg], result: ModelResult, content: str, error: bool, shape: str
) -> None:
    """What the app appends after a model call: the assistant turn and the tool's answer."""
    (call,) = result.tool_calls
    if shape == "openai":
        messages.append(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": call.arguments},
                    }
                ],
            }
        )
        messages.append({"role": "tool", "tool_call_id": call.id, "content": content})
    else:
        use = {
            "type": "tool_use",
            "id": call.id,
            "name": call.name,
            "input": json.loads(call.arguments),
        }
        messages.append({"role": "assistant", "content": [use]})
        block = {
            "type": "tool_result",
            "tool_use_id": call.id,
            "content": content,
            "is_error": error,
        }
        messages.append({"role": "user", "content": [block]})


async def run_twelve(
    data: dict[str, Any], shape: str
) -> tuple[Session, list[ModelResult], list[Msg], list[int]]:
    router = Router(data, providers=providers(loop_model))
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
    data = cfg(**TWELVE)
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
    data = cfg(**TWELVE)
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
    data = cfg(**{**TWELVE, "dwell_steps": 3})
    session, *_ = await run_twelve(data, "openai")
    assert [d.tier for d in session.decisions] == ["simple"] * 4 + ["medium"] * 7 + ["simple"]
    assert [d.reason for d in session.decisions[9:11]] == ["calm 1/3", "calm 2/3"]


@pytest.mark.anyio
async def test_the_output_estimate_is_the_average_of_the_completed_steps() -> None:
    data = cfg(dwell_steps=3, expected_steps=12)
    router = Router(data, providers=providers(answer))  # every call outputs 100 tokens
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
    data = cfg(weights={"context_fraction": 0.5}, dwell_steps=2)
    router = Router(data, providers=providers(answer))
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


# ============================================================================================
# Context window
# ============================================================================================


def words_for(tokens: int) -> str:
    """A text of about ``tokens`` tokens by the default (estimate) counter."""
    per_word = EstimateCounter().count("word " * 1000) / 1000
    return "word " * int(tokens / per_word)


def window_config(**policy: Any) -> dict[str, Any]:
    data = cfg(weights={"tool_errors_recent": 0.45}, **policy)  # no context_fraction weight
    data["models"]["small_long"] = {
        "context_window": 24000,
        "price": {"input": 1.5, "output": 3.0},
        "deployments": [{"provider": "alpha", "name": "small-long-1"}],
    }
    data["tiers"] = {"simple": ["small", "small_long"], "medium": ["mid"], "complex": ["big"]}
    return data


@pytest.mark.anyio
async def test_a_call_too_big_for_the_small_model_goes_to_the_larger_window_model() -> None:
    provs = providers(answer)
    router = Router(window_config(), providers=provs)
    async with router.session() as s:
        result = await router.complete([{"role": "user", "content": words_for(19_000)}])
    (d,) = s.decisions
    assert d.signals is not None and 15_200 < d.signals.context_tokens <= 22_800
    assert (d.tier, d.candidates, str(d.cause)) == ("simple", ("small_long",), "start")
    assert d.reason == "larger-window models only"
    (call,) = all_calls(provs)
    assert [t.deployment for t in call.targets] == ["small-long-1"]  # small is never tried
    assert result.target is not None and result.target.model == "small_long"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("tokens", "tier", "model", "band"),
    [
        (26_500, "medium", "mid", (22_800, 30_400)),
        (45_000, "complex", "big", (30_400, 60_800)),
    ],
)
async def test_a_call_goes_to_the_lowest_tier_with_a_model_that_fits(
    tokens: int, tier: str, model: str, band: tuple[int, int]
) -> None:
    provs = providers(answer)
    router = Router(window_config(), providers=provs)
    async with router.session() as s:
        result = await router.complete([{"role": "user", "content": words_for(tokens)}])
    (d,) = s.decisions
    assert d.signals is not None and band[0] < d.signals.context_tokens <= band[1]
    assert (d.tier, d.candidates, str(d.cause)) == (tier, (model,), "context_window")
    assert "do not fit simple" in d.reason
    assert result.target is not None and result.target.model == model
    assert len(all_calls(provs)) == 1


@pytest.mark.anyio
async def test_the_context_margin_is_kept() -> None:
    messages = [{"role": "user", "content": words_for(14_000)}]
    for margin, candidates in ((0.05, ("small", "small_long")), (0.2, ("small_long",))):
        router = Router(window_config(context_margin=margin), providers=providers(answer))
        async with router.session() as s:
            await router.complete(messages)
        assert s.decisions[0].candidates == candidates


@pytest.mark.anyio
async def test_a_call_that_fits_nothing_raises_before_any_provider_call() -> None:
    provs = providers(answer)
    router = Router(window_config(), providers=provs)
    async with router.session() as s:
        with pytest.raises(ContextWindowExceeded, match="largest configured window is 64,000"):
            await router.complete([{"role": "user", "content": words_for(80_000)}])
    assert all_calls(provs) == []
    assert s.decisions == ()


@pytest.mark.anyio
async def test_tool_schemas_count_towards_the_window() -> None:
    big_tools = [
        {"type": "function", "function": {"name": f"t{i}", "description": words_for(400)}}
        for i in range(40)
    ]
    router = Router(window_config(), providers=providers(answer))
    async with router.session() as s:
        await router.complete([{"role": "user", "content": "hi"}], tools=big_tools)
    d = s.decisions[0]
    assert d.signals is not None and d.signals.context_tokens > 15_200
    assert d.candidates == ("small_long",)


@pytest.mark.anyio
async def test_a_session_moved_up_by_the_window_rule_survives_its_calm_steps() -> None:
    router = Router(cfg(weights={"tool_errors_recent": 0.45}), providers=providers(answer))
    messages: list[Msg] = [{"role": "user", "content": words_for(20_000)}]
    async with router.session() as s:
        for _ in range(6):
            await router.complete(messages)
            messages += [
                {"role": "assistant", "content": "ok"},
                {"role": "user", "content": "more"},
            ]
    assert [d.tier for d in s.decisions] == ["medium"] * 6


# ============================================================================================
# Escalation
# ============================================================================================


@pytest.mark.anyio
async def test_the_model_calling_escalate_moves_the_next_call_one_tier_up() -> None:
    def model(call: ModelCall) -> ModelResult:
        assert call.session is not None
        if call.session.step == 1:
            return tool_call_result("escalate", {"reason": "refund rules unclear"}, id="e1")
        return tool_call_result("lookup_booking", {"booking": "B1"}, id=f"c{call.session.step}")

    router = Router(cfg(), providers=providers(model))
    messages: list[Msg] = [{"role": "user", "content": "I want a refund for B1."}]
    tools = [*TOOLS, escalate_tool()]
    async with router.session() as s:
        for _ in range(3):
            result = await router.complete(messages, tools=tools)
            append_round(
                messages, result, "escalated: a stronger model takes over", False, "openai"
            )
    d1, d2, d3 = s.decisions
    assert (d1.tier, str(d1.cause)) == ("simple", "start")
    assert (d2.tier, str(d2.cause), d2.previous_tier) == ("medium", "escalation_request", "simple")
    assert d2.signals is not None and d2.signals.escalation_requested
    # the request is spent: the next call holds the new tier through the dwell window
    assert (d3.tier, str(d3.cause)) == ("medium", "hysteresis_hold")
    assert d3.signals is not None and not d3.signals.escalation_requested


@pytest.mark.anyio
async def test_session_escalate_moves_the_next_call_one_tier_up() -> None:
    router = Router(cfg(), providers=providers(answer))
    messages = [{"role": "user", "content": "Move my booking."}]
    async with router.session() as s:
        await router.complete(messages)
        s.escalate("user clicked 'this did not help'")
        await router.complete(messages)
        await router.complete(messages)
        s.escalate()
        await router.complete(messages)
        s.escalate()
        await router.complete(messages)  # at the top already
    tiers = [(d.tier, str(d.cause)) for d in s.decisions]
    assert tiers == [
        ("simple", "start"),
        ("medium", "escalation_request"),
        ("medium", "hysteresis_hold"),
        ("complex", "escalation_request"),
        ("complex", "escalation_request"),
    ]
    assert s.decisions[1].reason == "user clicked 'this did not help'"


@pytest.mark.anyio
async def test_a_configured_keyword_moves_the_call_one_tier_up() -> None:
    router = Router(cfg(escalation_keywords=["speak to a human"]), providers=providers(answer))
    messages: list[Msg] = [{"role": "user", "content": "Move my booking to Friday."}]
    async with router.session() as s:
        await router.complete(messages)
        messages += [
            {"role": "assistant", "content": "Done, it is on Friday."},
            {"role": "user", "content": "No, that is wrong. Let me SPEAK TO A HUMAN."},
        ]
        await router.complete(messages)
    assert [(d.tier, str(d.cause)) for d in s.decisions] == [
        ("simple", "start"),
        ("medium", "escalation_request"),
    ]


@pytest.mark.anyio
async def test_a_keyword_escalates_once_not_at_every_later_step() -> None:
    def model(call: ModelCall) -> ModelResult:
        assert call.session is not None
        return tool_call_result(
            "lookup_booking", {"n": call.session.step}, id=f"c{call.session.step}"
        )

    router = Router(cfg(escalation_keywords=["urgent"]), providers=providers(model))
    messages: list[Msg] = [{"role": "user", "content": "URGENT: my flight was cancelled."}]
    async with router.session() as s:
        for _ in range(3):
            result = await router.complete(messages, tools=TOOLS)
            append_round(messages, result, '{"status": "ok"}', False, "openai")
    assert [d.tier for d in s.decisions] == ["medium"] * 3


@pytest.mark.parametrize("fmt", ["openai", "anthropic"])
def test_escalate_tool_shapes(fmt: Any) -> None:
    tool = escalate_tool(format=fmt)
    if fmt == "openai":
        assert tool["type"] == "function"
        fn = tool["function"]
        assert (fn["name"], fn["description"]) == ("escalate", DESCRIPTION)
        schema = fn["parameters"]
    else:
        assert set(tool) == {"name", "description", "input_schema"}
        assert (tool["name"], tool["description"]) == ("escalate", DESCRIPTION)
        schema = tool["input_schema"]
    assert schema["type"] == "object"
    assert schema["required"] == ["reason"]
    assert schema["properties"]["reason"]["type"] == "string"
    json.dumps(tool)  # plain JSON, sendable as is


def test_escalate_tool_takes_the_configured_name() -> None:
    assert escalate_tool(name="ask_senior")["function"]["name"] == "ask_senior"
    assert escalate_tool(name="ask_senior", format="anthropic")["name"] == "ask_senior"
    # each call returns a fresh dict: an app editing its copy cannot change the next one
    a, b = escalate_tool(), escalate_tool()
    a["function"]["name"] = "x"
    assert b["function"]["name"] == "escalate"


# ============================================================================================
# Hints
# ============================================================================================


async def one_decision(
    data: dict[str, Any],
    *,
    hints: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    escalate: bool = False,
) -> Decision:
    router = Router(data, providers=providers(answer))
    async with router.session(metadata=metadata) as s:
        if escalate:
            s.escalate()
        result = await router.complete(
            [{"role": "user", "content": "Move my booking."}], hints=hints
        )
    assert result.decision is not None and s.decisions == (result.decision,)
    return result.decision


REFUND = {"task_types": {"refund": "complex"}}
FREE = {"plans": {"free": "simple"}}
PRO = {"plans": {"pro": "complex"}}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("policy", "hints", "metadata", "escalate", "tier", "reason"),
    [
        ({}, {"min_tier": "medium"}, None, False, "medium", "min_tier=medium"),
        ({}, None, {"min_tier": "complex"}, False, "complex", "min_tier=complex"),
        ({}, {"min_tier": "medium"}, {"min_tier": "complex"}, False, "medium", "min_tier=medium"),
        ({}, {"max_tier": "simple"}, None, True, "simple", "max_tier=simple"),
        (
            {},
            {"min_tier": "complex", "max_tier": "medium"},
            None,
            False,
            "medium",
            "max_tier=medium",
        ),
        (REFUND, {"task_type": "refund"}, None, False, "complex", "task_type=refund"),
        (REFUND, None, {"task_type": "refund"}, False, "complex", "task_type=refund"),
        (FREE, None, {"plan": "free"}, True, "simple", "plan=free"),
        (FREE, {"min_tier": "complex"}, {"plan": "free"}, False, "simple", "plan=free"),
        (PRO, {"plan": "pro", "min_tier": "medium"}, None, False, "medium", "min_tier=medium"),
    ],
)
async def test_hints(
    policy: dict[str, Any],
    hints: Mapping[str, Any] | None,
    metadata: Mapping[str, Any] | None,
    escalate: bool,
    tier: str,
    reason: str,
) -> None:
    d = await one_decision(cfg(**policy), hints=hints, metadata=metadata, escalate=escalate)
    assert (d.tier, str(d.cause), d.reason) == (tier, "hint", reason)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "hints",
    [
        {"task_type": "chit-chat"},  # a task type with no configured floor
        {"plan": "enterprise"},  # a plan with no configured cap
        {"max_tier": "complex"},  # a cap above the tier: nothing to do
    ],
)
async def test_hints_that_do_not_apply_leave_the_decision_alone(hints: Mapping[str, Any]) -> None:
    d = await one_decision(
        cfg(task_types={"refund": "complex"}, plans={"free": "simple"}), hints=hints
    )
    assert (d.tier, str(d.cause)) == ("simple", "start")


@pytest.mark.anyio
@pytest.mark.parametrize(
    "hints",
    [{"min_tier": "huge"}, {"max_tier": "tiny"}, {"min_tier": 2}, {"max_tier": ["complex"]}],
)
async def test_an_unknown_tier_in_a_hint_is_a_configuration_error(hints: Mapping[str, Any]) -> None:
    provs = providers(answer)
    router = Router(cfg(), providers=provs)
    with pytest.raises(ConfigurationError, match="is not a tier"):
        await router.complete([{"role": "user", "content": "hi"}], hints=hints)
    assert all_calls(provs) == []


@pytest.mark.anyio
async def test_an_unknown_tier_in_session_metadata_is_a_configuration_error() -> None:
    router = Router(cfg(), providers=providers(answer))
    async with router.session(metadata={"max_tier": "premium"}):
        with pytest.raises(ConfigurationError, match="max_tier='premium'"):
            await router.complete([{"role": "user", "content": "hi"}])


# ============================================================================================
# Validation
# ============================================================================================


class Checker:
    """An output check answering from a script (then accepting); records what it saw."""

    def __init__(self, *verdicts: bool | str, always: bool | str | None = None) -> None:
        self.verdicts = list(verdicts)
        self.always = always
        self.seen: list[tuple[str | None, str | None]] = []

    async def __call__(self, result: ModelResult, call: ModelCall) -> bool | str:
        self.seen.append(
            (
                result.target.model if result.target else None,
                call.decision.tier if call.decision else None,
            )
        )
        if self.verdicts:
            return self.verdicts.pop(0)
        return True if self.always is None else self.always


@pytest.mark.anyio
async def test_a_rejected_result_is_rerun_one_tier_up() -> None:
    provs = providers(answer)
    check = Checker("missing the new departure time")
    router = Router(cfg(), providers=provs, validator=check)
    messages = [{"role": "user", "content": "Move my booking."}]
    async with router.session() as s:
        result = await router.complete(messages)
        later = await router.complete(messages)
    assert [c.target.deployment for c in all_calls(provs) if c.target] == [
        "small-1",
        "mid-1",
        "mid-1",
    ]
    assert check.seen == [("small", "simple"), ("mid", "medium"), ("mid", "medium")]
    first, rerun, second = s.decisions
    assert (first.tier, str(first.cause)) == ("simple", "start")
    assert (rerun.tier, rerun.previous_tier, str(rerun.cause)) == (
        "medium",
        "simple",
        "validation_failure",
    )
    assert rerun.reason == "missing the new departure time"
    assert rerun.step == 1 and rerun.candidates == ("mid",)
    assert result.decision == rerun and result.target is not None and result.target.model == "mid"
    # later steps see the failure in their signals and score
    assert second.signals is not None and second.signals.validation_failures == 1
    assert ("validation_failures", 0.3) in second.contributions
    assert later.decision == second


@pytest.mark.anyio
async def test_a_false_verdict_has_a_default_reason() -> None:
    router = Router(cfg(), providers=providers(answer), validator=Checker(False))
    async with router.session() as s:
        await router.complete([{"role": "user", "content": "hi"}])
    assert s.decisions[-1].reason == "output check failed"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("retries", "models"),
    [
        (0, ["small"]),
        (1, ["small", "mid"]),
        (2, ["small", "mid", "big"]),
        (5, ["small", "mid", "big"]),
    ],
)
async def test_reruns_are_bounded_by_max_validation_retries_and_the_top_tier(
    retries: int, models: list[str]
) -> None:
    provs = providers(answer)
    check = Checker(always="still wrong")
    router = Router(cfg(max_validation_retries=retries), providers=provs, validator=check)
    async with router.session() as s:
        result = await router.complete([{"role": "user", "content": "hi"}])
    assert [c.target.model for c in all_calls(provs) if c.target] == models
    assert len(check.seen) == len(models)  # every result is checked, the last one too
    assert result.target is not None and result.target.model == models[-1]  # returned as is
    assert result.text == "Your flight is rebooked."
    assert s.state.validation_failures == len(models)
    assert [str(d.cause) for d in s.decisions] == ["start"] + ["validation_failure"] * (
        len(models) - 1
    )


@pytest.mark.anyio
async def test_at_the_top_tier_a_rejected_result_is_returned() -> None:
    provs = providers(answer)
    router = Router(cfg(), providers=provs, validator=Checker(always=False))
    async with router.session() as s:
        result = await router.complete(
            [{"role": "user", "content": "hi"}], hints={"min_tier": "complex"}
        )
    assert len(all_calls(provs)) == 1
    assert result.target is not None and result.target.model == "big"
    assert [d.tier for d in s.decisions] == ["complex"]
    assert s.state.validation_failures == 1


@pytest.mark.anyio
async def test_a_rejected_attempt_is_still_paid_for() -> None:
    router = Router(cfg(), providers=providers(answer), validator=Checker("wrong"))
    async with router.session() as s:
        await router.complete([{"role": "user", "content": "hi"}])
    small = (1000 * 1.0 + 100 * 2.0) / 1e6
    mid = (1000 * 2.0 + 100 * 4.0) / 1e6
    assert s.cost_usd == pytest.approx(small + mid)
    assert s.usage == Usage(2000, 200)


@pytest.mark.anyio
async def test_a_validation_climb_is_held_through_the_dwell_window() -> None:
    router = Router(cfg(), providers=providers(answer), validator=Checker(True, True, "bad"))
    messages = [{"role": "user", "content": "Move my booking."}]
    async with router.session() as s:
        s.escalate()  # step 1: medium; steps 2-3 are calm on medium
        for _ in range(4):
            await router.complete(messages)
    assert [(d.step, d.tier) for d in s.decisions] == [
        (1, "medium"),
        (2, "medium"),
        (3, "medium"),
        (3, "complex"),  # step 3's result was rejected
        (4, "complex"),  # new tier, so a fresh dwell window starts
    ]


# ============================================================================================
# Hybrid classifier
# ============================================================================================

UNSURE = [{"role": "user", "content": "Please debug and refactor the booking module."}]
EASY = [{"role": "user", "content": "hello, thanks!"}]
HARD = [
    {
        "role": "user",
        "content": "Debug, refactor and optimise this algorithm:\n```python\n"
        + "x = 1\n" * 800
        + "```",
    }
]


class FakeAsk:
    def __init__(self, *answers: str | BaseException, delay: float = 0.0) -> None:
        self.answers = list(answers)
        self.delay = delay
        self.prompts: list[list[dict[str, Any]]] = []

    async def __call__(self, prompt: list[dict[str, Any]]) -> str:
        self.prompts.append(prompt)
        if self.delay:
            await anyio.sleep(self.delay)
        item = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(item, BaseException):
            raise item
        return item


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.anyio
@pytest.mark.parametrize(("messages", "difficulty"), [(EASY, 0.0), (HARD, 1.0)])
async def test_confident_rules_do_not_ask(messages: list[Msg], difficulty: float) -> None:
    ask = FakeAsk("medium")
    classifier = HybridClassifier(ask)
    assert await classifier.score(messages) == difficulty
    assert ask.prompts == [] and classifier.asked == 0


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("word", "score"), [("easy", 0.0), (" Medium.\n", 0.5), ("HARD", 1.0), ("hard!", 1.0)]
)
async def test_unsure_rules_ask_once_and_map_the_word(word: str, score: float) -> None:
    ask = FakeAsk(word)
    classifier = HybridClassifier(ask)
    assert await classifier.score(UNSURE) == score
    assert classifier.asked == 1
    (prompt,) = ask.prompts
    assert prompt == [
        {"role": "system", "content": RUBRIC},
        {"role": "user", "content": "Please debug and refactor the booking module."},
    ]


@pytest.mark.anyio
async def test_a_slow_ask_falls_back_to_the_rules() -> None:
    ask = FakeAsk("hard", delay=5.0)
    classifier = HybridClassifier(ask, timeout_s=0.05)
    with anyio.fail_after(2):
        difficulty = await classifier.score(UNSURE)
    assert difficulty == pytest.approx(0.3)  # the rules: two hard-task keywords
    assert classifier.asked == 1


@pytest.mark.anyio
@pytest.mark.parametrize("failure", [RuntimeError("503"), "probably tricky", "", "   "])
async def test_the_breaker_opens_after_repeated_failures_and_closes_later(
    failure: str | BaseException,
) -> None:
    clock = Clock()
    ask = FakeAsk(failure)
    classifier = HybridClassifier(ask, failure_threshold=2, reset_after_s=30.0, clock=clock)
    for _ in range(2):
        assert await classifier.score(UNSURE) == pytest.approx(0.3)
    assert classifier.breaker_open and classifier.asked == 2
    assert await classifier.score(UNSURE) == pytest.approx(0.3)
    assert classifier.asked == 2  # open: not asked
    clock.now += 29.9
    await classifier.score(UNSURE)
    assert classifier.asked == 2
    clock.now += 0.2
    assert not classifier.breaker_open
    ask.answers = ["hard"]
    assert await classifier.score(UNSURE) == 1.0
    assert classifier.asked == 3


@pytest.mark.anyio
async def test_a_success_resets_the_failure_count() -> None:
    ask = FakeAsk("x")
    classifier = HybridClassifier(ask, failure_threshold=2, clock=Clock())
    for answer_word in ("???", "easy", "???", "easy", "???"):
        ask.answers = [answer_word]
        await classifier.score(UNSURE)
    assert not classifier.breaker_open
    assert classifier.asked == 5


@pytest.mark.anyio
async def test_cancellation_is_not_swallowed() -> None:
    ask = FakeAsk("hard", delay=5.0)
    classifier = HybridClassifier(ask, timeout_s=10.0, failure_threshold=1, clock=Clock())
    reached = False
    with anyio.move_on_after(0.05) as scope:
        await classifier.score(UNSURE)
        reached = True
    assert scope.cancelled_caught and not reached
    assert not classifier.breaker_open  # a cancellation is not the helper model's failure


@pytest.mark.anyio
async def test_the_router_puts_the_classifier_into_the_first_step() -> None:
    ask = FakeAsk("hard")
    data = cfg(weights={"content": 0.5, "tool_errors_recent": 0.45})
    router = Router(data, providers=providers(answer), classifier=HybridClassifier(ask))
    async with router.session() as s:
        await router.complete(UNSURE)
        await router.complete(UNSURE)
    first, second = s.decisions
    assert first.contributions == (("content", 0.5),)
    assert first.signals is not None and first.signals.content == 1.0
    assert (first.tier, str(first.cause)) == ("medium", "score")
    assert second.signals is not None and second.signals.content == 0.0  # first turn only
    assert len(ask.prompts) == 1


@pytest.mark.anyio
async def test_content_rules_without_a_classifier() -> None:
    data = cfg(weights={"content": 0.5}, content_rules=True)
    router = Router(data, providers=providers(answer))
    async with router.session() as s:
        await router.complete(HARD)
    assert s.decisions[0].contributions == (("content", 0.5),)


# ============================================================================================
# Custom policies
# ============================================================================================


@pytest.mark.anyio
async def test_a_custom_policy_receives_the_computed_signals() -> None:
    seen: list[tuple[Signals, str | None, int]] = []

    def policy(signals: Signals, state: SessionState) -> Decision:
        seen.append((signals, state.tier, state.step))
        tier, models = (
            ("complex", ("big",)) if signals.tool_errors_total else ("simple", ("small",))
        )
        return Decision(tier, state.tier, Cause.CUSTOM, signals.step, models, reason="mine")

    def model(call: ModelCall) -> ModelResult:
        assert call.session is not None
        step = call.session.step
        return tool_call_result("lookup_booking", {"booking": "B1"}, id=f"c{step}")

    provs = providers(model)
    router = Router(cfg(), providers=provs, policy=policy)
    messages: list[Msg] = [{"role": "user", "content": "Move booking B1."}]
    async with router.session() as s:
        for content in ("Error: timeout", "ok", "ok"):
            result = await router.complete(messages, tools=TOOLS, hints={"task_type": "rebook"})
            append_round(messages, result, content, False, "openai")
    signals = [sig for sig, _, _ in seen]
    assert [sig.step for sig in signals] == [1, 2, 3]
    assert [sig.tool_errors_total for sig in signals] == [0, 1, 1]
    assert [sig.tool_errors_recent for sig in signals] == [0, 1, 1]
    assert [sig.repeated_tool_calls for sig in signals] == [0, 0, 1]
    assert all(sig.hints == {"task_type": "rebook"} for sig in signals)
    sizes = [sig.context_tokens for sig in signals]
    assert 0 < sizes[0] < sizes[1] < sizes[2]
    assert [tier for _, tier, _ in seen] == [None, "simple", "complex"]
    assert [d.tier for d in s.decisions] == ["simple", "complex", "complex"]
    assert all(d.cause == Cause.CUSTOM and d.reason == "mine" for d in s.decisions)
    assert [c.target.model for c in all_calls(provs) if c.target] == ["small", "big", "big"]


@pytest.mark.anyio
async def test_a_custom_policy_choosing_an_unknown_tier_is_a_configuration_error() -> None:
    def policy(signals: Signals, state: SessionState) -> Decision:
        return Decision("premium", state.tier, Cause.CUSTOM, signals.step, ("big",))

    provs = providers(answer)
    router = Router(cfg(), providers=provs, policy=policy)
    with pytest.raises(ConfigurationError, match="unknown tier 'premium'"):
        await router.complete([{"role": "user", "content": "hi"}])
    assert all_calls(provs) == []
