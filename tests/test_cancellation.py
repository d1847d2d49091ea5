"""Cancelling a routed call: the attempt is cancelled and recorded, nothing is left behind.

Over real HTTP (the simulator on loopback, the built-in providers with their default
transport: aiohttp's pool on asyncio, httpx's on trio). "Nothing left behind" is checked from
both ends: the task tree holds no task the call started, and the simulator sees every
connection closed.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
import sniffio

from agentroute import Router
from agentroute.sim.server import Simulator
from agentroute.testing import FakeClock
from tests.helpers import one_model_config, sim_providers, simulator_fixture

pytestmark = pytest.mark.anyio

CONVO = [{"role": "user", "content": "Tell me a long story about routers."}]


SIM = {
    "instances": {
        # request 1 is held until the client leaves; the others answer slowly, token by token
        "held": {"kind": "openai", "faults": {"schedule": {1: {"kind": "timeout"}}}},
        "slow": {"kind": "anthropic", "latency": {"per_output_token_ms": 40}},
    }
}
sim = simulator_fixture(SIM)


def config(sim: Simulator, provider: str) -> dict[str, Any]:
    return one_model_config(sim_providers(sim, provider), context_window=100_000)


def running_tasks() -> set[object]:
    """Every task of the event loop (asyncio), or of the whole task tree (trio)."""
    if sniffio.current_async_library() == "asyncio":
        import asyncio

        return set(asyncio.all_tasks())
    import trio

    found: set[object] = set()
    pending = [trio.lowlevel.current_root_task()]
    while pending:
        task = pending.pop()
        if task is None:
            continue
        found.add(task)
        for nursery in task.child_nurseries:
            pending.extend(nursery.child_tasks)
    return found


async def wait_until(check: Any) -> None:
    """Poll ``check()`` until it holds (the outer timeout only stops a hung test)."""
    with anyio.fail_after(10):
        while not check():  # noqa: ASYNC110 (the simulator has no event to wait on)
            await anyio.sleep(0.005)


async def test_cancelling_mid_attempt_cancels_records_and_leaks_nothing(sim: Simulator) -> None:
    before = running_tasks()
    async with Router(config(sim, "held"), clock=FakeClock()) as router:
        async with router.session("cancel-me") as session:
            async with anyio.create_task_group() as tg:
                tg.start_soon(router.complete, CONVO)
                await wait_until(lambda: sim.stats("held").requests == 1)
                assert sim.open_connections == 1
                tg.cancel_scope.cancel()
            attempts = session.state.last_attempts
        assert [(a.target.key, a.outcome, a.cancelled) for a in attempts] == [
            ("held/m", "cancelled", True)
        ]
        # the held request's connection is closed by the cancellation itself, not by aclose()
        await wait_until(lambda: sim.open_connections == 0)
        assert sim.records("held")[0].status == 0  # the server never answered it
        assert running_tasks() <= before
        # the router still works afterwards (a fresh connection, request 2 answers)
        result = await router.complete(CONVO)
        assert result.text
    await wait_until(lambda: sim.open_connections == 0)
    assert running_tasks() <= before


async def test_cancelling_mid_stream_closes_the_response_and_leaks_nothing(
    sim: Simulator,
) -> None:
    before = running_tasks()
    received: list[str] = []
    async with Router(config(sim, "slow"), clock=FakeClock()) as router:
        async with router.session("cancel-stream") as session:
            with anyio.CancelScope() as scope:
                async with router.stream(CONVO) as stream:
                    async for chunk in stream:
                        received.append(chunk.text)
                        scope.cancel()  # delivered while waiting for the next chunk
            assert scope.cancelled_caught
            attempts = session.state.last_attempts
        assert len(received) == 1  # cancelled mid-stream, after output had arrived
        assert [a.outcome for a in attempts] == ["cancelled"]
        await wait_until(lambda: sim.open_connections == 0)  # closed by the cancellation
        assert sim.records("slow")[0].status == 200
        assert running_tasks() <= before
