"""An outcome recorded by a second Router (another process, simulated) on the same real Redis
store finds the session the first one ran and ended."""

from __future__ import annotations

import io

import pytest

from agentroute import Router
from agentroute.telemetry.routing_log_schema import OutcomeLine, RoutingLogLine, SessionLine
from agentroute.testing import ScriptedProvider, text_result
from tests.helpers import CONVERSATION
from tests.test_state_redis import Server, namespace, redis_server, shared_config

__all__ = ["namespace", "redis_server"]  # the Redis fixtures, shared with the store's tests

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # redis.asyncio runs on asyncio only (the store refuses trio)


async def test_record_outcome_from_a_second_router_on_a_shared_redis_store(
    redis_server: Server, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTROUTE_TEST_REDIS_URL", redis_server.url)
    provider = ScriptedProvider(default=text_result("ok"))
    providers = {"alpha": provider, "beta": provider}
    first_log = io.StringIO()
    a = Router(shared_config(namespace), providers=providers, routing_log=first_log)
    async with a, a.session(id="ticket-9", agent="support") as s:
        await a.complete(CONVERSATION)
        s.escalate()
        await a.complete(CONVERSATION)
    (session,) = [RoutingLogLine.validate_json(x) for x in first_log.getvalue().splitlines()]
    assert isinstance(session, SessionLine)

    second_log = io.StringIO()
    async with Router(shared_config(namespace), providers=providers, routing_log=second_log) as b:
        await b.record_outcome("ticket-9", success=True, score=1.0)
        await b.record_outcome("ticket-unknown", success=False)
    known, unknown = [RoutingLogLine.validate_json(x) for x in second_log.getvalue().splitlines()]
    assert isinstance(known, OutcomeLine) and isinstance(unknown, OutcomeLine)
    assert known.session_known and known.session_record == session.record_id
    assert (known.agent, known.start_tier, known.highest_tier) == ("support", "simple", "medium")
    assert not unknown.session_known and unknown.session_record is None
