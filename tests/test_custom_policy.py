"""Custom policies (the policy hook of agentroute/middleware/routing.py): a callable
policy receives the computed signals; choosing an unknown tier is a configuration
error."""

from __future__ import annotations

import pytest

from agentroute import (
    Cause,
    ConfigurationError,
    Decision,
    ModelCall,
    ModelResult,
    Router,
    SessionState,
    Signals,
)
from agentroute.testing import tool_call_result
from tests.helpers import TOOLS, Msg, all_calls, answer, append_round, mock_providers, policy_config


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

    provs = mock_providers(model)
    router = Router(policy_config(), providers=provs, policy=policy)
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

    provs = mock_providers(answer)
    router = Router(policy_config(), providers=provs, policy=policy)
    with pytest.raises(ConfigurationError, match="unknown tier 'premium'"):
        await router.complete([{"role": "user", "content": "hi"}])
    assert all_calls(provs) == []
