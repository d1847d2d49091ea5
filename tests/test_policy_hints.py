"""Hints (ScorePolicy's hint rules in agentroute/policy/score.py): min/max tier, task
types and plans from call hints or session metadata; an unknown tier is a configuration
error."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from agentroute import ConfigurationError, Decision, Router
from tests.helpers import all_calls, answer, mock_providers, policy_config


async def one_decision(
    data: dict[str, Any],
    *,
    hints: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    escalate: bool = False,
) -> Decision:
    router = Router(data, providers=mock_providers(answer))
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
    d = await one_decision(
        policy_config(**policy), hints=hints, metadata=metadata, escalate=escalate
    )
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
        policy_config(task_types={"refund": "complex"}, plans={"free": "simple"}), hints=hints
    )
    assert (d.tier, str(d.cause)) == ("simple", "start")


@pytest.mark.anyio
@pytest.mark.parametrize(
    "hints",
    [{"min_tier": "huge"}, {"max_tier": "tiny"}, {"min_tier": 2}, {"max_tier": ["complex"]}],
)
async def test_an_unknown_tier_in_a_hint_is_a_configuration_error(hints: Mapping[str, Any]) -> None:
    provs = mock_providers(answer)
    router = Router(policy_config(), providers=provs)
    with pytest.raises(ConfigurationError, match="is not a tier"):
        await router.complete([{"role": "user", "content": "hi"}], hints=hints)
    assert all_calls(provs) == []


@pytest.mark.anyio
async def test_an_unknown_tier_in_session_metadata_is_a_configuration_error() -> None:
    router = Router(policy_config(), providers=mock_providers(answer))
    async with router.session(metadata={"max_tier": "premium"}):
        with pytest.raises(ConfigurationError, match="max_tier='premium'"):
            await router.complete([{"role": "user", "content": "hi"}])
