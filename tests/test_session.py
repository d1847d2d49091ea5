"""Sessions: explicit and implicit keys, step counting, escalation, hints, decisions."""

from __future__ import annotations

from typing import Any

import pytest

from agentroute import Cause, ConfigurationError, Usage, current_session
from agentroute.session import SessionTable, derive_session_key
from agentroute.testing import ScriptedProvider, text_result
from tests.helpers import CONVERSATION, make_router

pytestmark = pytest.mark.anyio


def scripted() -> dict[str, ScriptedProvider]:
    reply = text_result("ok", usage=Usage(input_tokens=1000, output_tokens=100))
    return {"alpha": ScriptedProvider(default=reply), "beta": ScriptedProvider(default=reply)}


async def test_explicit_session_counts_steps_and_records_decisions() -> None:
    router = make_router(providers=scripted())
    async with router.session(id="t-1", agent="support", user="u1") as s:
        assert current_session() is s
        for _ in range(3):
            await router.complete(CONVERSATION)
    assert current_session() is None
    assert s.id == "t-1"
    assert s.step == 3
    assert [d.step for d in s.decisions] == [1, 2, 3]
    assert [d.tier for d in s.decisions] == ["simple"] * 3
    assert s.decisions[0].cause == Cause.START and s.decisions[0].previous_tier is None
    assert s.decisions[1].previous_tier == "simple"
    # 1000 input at $1/M + 100 output at $2/M, three times
    assert s.cost_usd == pytest.approx(3 * (1000 * 1.0 + 100 * 2.0) / 1e6)
    assert s.usage == Usage(input_tokens=3000, output_tokens=300)


async def test_escalate_moves_the_next_call_one_tier_up() -> None:
    router = make_router(providers=scripted())
    async with router.session() as s:
        await router.complete(CONVERSATION)
        s.escalate("user clicked 'this did not help'")
        r2 = await router.complete(CONVERSATION)
        r3 = await router.complete(CONVERSATION)
        s.escalate()
        s.escalate()  # twice before one call: still one tier per call
        r4 = await router.complete(CONVERSATION)
        s.escalate()
        r5 = await router.complete(CONVERSATION)  # already at the top
    assert r2.decision is not None and r2.decision.tier == "medium"
    assert r2.decision.cause == Cause.ESCALATION_REQUEST
    assert r2.decision.reason == "user clicked 'this did not help'"
    assert r3.decision is not None and r3.decision.tier == "medium"  # held: calm steps first
    assert r4.decision is not None and r4.decision.tier == "complex"
    assert r5.decision is not None and r5.decision.tier == "complex"
    assert r2.target is not None and r2.target.model == "mid"


async def test_implicit_session_is_keyed_by_the_conversation() -> None:
    router = make_router(providers=scripted())
    first = await router.complete(CONVERSATION)
    follow_up = [*CONVERSATION, {"role": "assistant", "content": "Where to?"}]
    second = await router.complete(follow_up)
    other = await router.complete(
        [{"role": "system", "content": "Other agent"}, {"role": "user", "content": "Hi"}]
    )
    assert first.decision is not None and first.decision.step == 1
    assert second.decision is not None and second.decision.step == 2
    assert other.decision is not None and other.decision.step == 1


async def test_hints_from_call_and_session_metadata() -> None:
    router = make_router(providers=scripted())
    r = await router.complete(CONVERSATION, hints={"min_tier": "complex"})
    assert r.decision is not None and (r.decision.tier, r.decision.cause) == ("complex", "hint")
    async with router.session(metadata={"max_tier": "simple"}) as s:
        s.escalate()
        capped = await router.complete(CONVERSATION)
        raised = await router.complete(CONVERSATION, hints={"max_tier": "medium"})
    assert capped.decision is not None and capped.decision.tier == "simple"
    assert capped.decision.reason == "max_tier=simple"
    assert raised.decision is not None and raised.decision.tier == "simple"


async def test_unknown_tier_hint_is_a_configuration_error() -> None:
    router = make_router(providers=scripted())
    with pytest.raises(ConfigurationError, match="min_tier='huge' is not a tier"):
        await router.complete(CONVERSATION, hints={"min_tier": "huge"})


async def test_sessions_of_another_router_are_not_joined() -> None:
    a, b = make_router(providers=scripted()), make_router(providers=scripted())
    async with a.session(id="a-only") as s:
        await b.complete(CONVERSATION)
    assert s.step == 0


async def test_nested_sessions_restore_the_outer_one() -> None:
    router = make_router(providers=scripted())
    async with router.session(id="outer") as outer:
        async with router.session(id="inner") as inner:
            await router.complete(CONVERSATION)
        await router.complete(CONVERSATION)
    assert (outer.step, inner.step) == (1, 1)


def test_session_key_uses_first_system_and_user_message() -> None:
    base = derive_session_key(CONVERSATION)
    longer = [*CONVERSATION, {"role": "user", "content": "later"}]
    assert derive_session_key(longer) == base
    assert derive_session_key([CONVERSATION[1]]) != base
    blocks: list[dict[str, Any]] = [
        {"role": "user", "content": [{"type": "text", "text": "Book me a flight."}]}
    ]
    assert derive_session_key(blocks, system="Anthropic system") == derive_session_key(
        blocks, system="Anthropic system"
    )
    assert derive_session_key(blocks, system="A") != derive_session_key(blocks, system="B")


def test_session_table_is_bounded_and_expires_idle_sessions() -> None:
    now = [0.0]
    table = SessionTable(max_sessions=2, ttl_s=10, clock=lambda: now[0])
    a = table.get("a")
    a.step = 5
    table.get("b")
    assert table.get("a") is a  # refreshes "a": "b" is now the oldest
    table.get("c")
    assert len(table) == 2
    assert table.get("a").step == 5
    now[0] = 100.0
    assert table.get("a").step == 0  # idle longer than the TTL: a fresh session
