"""Escalation (agentroute/policy/escalation.py and the escalation signal): the model
calling the escalate tool, ``Session.escalate()`` and configured keywords move the next
call one tier up; the tool's shapes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agentroute import ModelCall, ModelResult, Router
from agentroute.policy.escalation import DESCRIPTION, escalate_tool
from agentroute.testing import tool_call_result
from tests.helpers import TOOLS, Msg, answer, append_round, mock_providers, policy_config


@pytest.mark.anyio
async def test_the_model_calling_escalate_moves_the_next_call_one_tier_up() -> None:
    def model(call: ModelCall) -> ModelResult:
        assert call.session is not None
        if call.session.step == 1:
            return tool_call_result("escalate", {"reason": "refund rules unclear"}, id="e1")
        return tool_call_result("lookup_booking", {"booking": "B1"}, id=f"c{call.session.step}")

    router = Router(policy_config(), providers=mock_providers(model))
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
    router = Router(policy_config(), providers=mock_providers(answer))
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
    router = Router(
        policy_config(escalation_keywords=["speak to a human"]), providers=mock_providers(answer)
    )
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

    router = Router(policy_config(escalation_keywords=["urgent"]), providers=mock_providers(model))
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
