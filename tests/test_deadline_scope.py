"""The attempt's cancel scope (agentroute._deadline): it ends the block at its deadline like
``anyio.move_on_after``, on asyncio and trio, and never swallows a cancel from outside."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from agentroute._deadline import attempt_scope

pytestmark = pytest.mark.anyio


async def test_fires_and_ends_the_block() -> None:
    reached = False
    with attempt_scope(0.01) as scope:
        await anyio.sleep_forever()
        reached = True  # pragma: no cover - the scope ends the block first
    assert not reached
    assert scope.cancelled_caught


async def test_a_block_done_in_time_is_not_cancelled() -> None:
    with attempt_scope(60.0) as scope:
        await anyio.lowlevel.checkpoint()
    assert not scope.cancelled_caught


async def test_a_cancel_from_outside_propagates() -> None:
    inner_caught: list[bool] = []
    with anyio.CancelScope() as outer:
        with attempt_scope(60.0) as scope:
            outer.cancel()
            try:
                await anyio.sleep_forever()
            finally:
                inner_caught.append(scope.cancel_called)
    assert outer.cancelled_caught
    assert inner_caught == [False]
    assert not scope.cancelled_caught


async def test_an_anyio_shield_inside_holds_the_deadline_off() -> None:
    finished = False
    with attempt_scope(0.01) as scope:
        with anyio.CancelScope(shield=True):
            await anyio.sleep(0.05)
            finished = True
        await anyio.sleep_forever()
    assert finished
    assert scope.cancelled_caught
