"""The cancel scope that bounds one attempt, made the cheapest way the running loop allows.

The fallback step enters one scope per attempt when a timeout is configured (the shipped
defaults configure one: ``attempt_timeout_s`` 60, ``deadline_s`` 180), so the scope is paid on
every routed call. ``anyio.move_on_after`` asks sniffio twice which loop runs (once for the
clock, once for the scope) and, on trio, wraps trio's own scope in one of anyio's. Here the
loop is told apart by one attribute read, and:

* on trio, the scope is trio's own ``trio.CancelScope``: what anyio's trio scope wraps, so a
  cancel from outside, shields and nesting with anyio scopes behave exactly as before;
* on asyncio, it stays anyio's scope (its asyncio class, learnt from the first scope
  ``anyio.CancelScope()`` makes, then built directly: one loop lookup, for the loop's clock
  (:func:`agentroute.clock.loop_time`), instead of two). ``asyncio.timeout`` would be
  cheaper still, but a native asyncio cancel is not held back by an anyio shield (the
  providers close their connections under one), so it is not used.

The deadline is fixed when the scope is made on asyncio (as with ``anyio.move_on_after``),
when it is entered on trio (as with ``trio.move_on_after``): the fallback step enters it at
once. Either way the scope swallows its own cancellation only. What a timer costs the event
loop (a timer handle pushed on its heap, cancelled at the scope's exit) remains: that is the
scope itself.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import anyio

from agentroute.clock import loop_time

try:
    from sniffio import thread_local as _running
except ImportError:  # pragma: no cover - anyio no longer needs sniffio; trio does
    _running = None  # type: ignore[assignment]

__all__ = ["attempt_scope"]

_asyncio_scope: type[anyio.CancelScope] | None = None
"""anyio's cancel-scope class on asyncio (what ``anyio.CancelScope(...)`` builds there)."""


def attempt_scope(seconds: float) -> AbstractContextManager[Any, bool]:
    """A cancel scope whose deadline is ``seconds`` from now on the running loop's clock; it
    swallows its own cancellation (as ``anyio.move_on_after``): the block just ends early
    (hence ``__exit__`` typed ``bool``: type checkers then see code after the block as
    reachable with the block's result unset)."""
    if _running is not None and _running.name == "trio":  # trio sets it while it runs
        import trio

        return trio.CancelScope(relative_deadline=seconds)  # trio.move_on_after's own way
    deadline = loop_time() + seconds
    made = _asyncio_scope
    if made is None:
        return _learn(deadline)
    return made(deadline=deadline)


def _learn(deadline: float) -> anyio.CancelScope:
    """The first scope on asyncio, from anyio's own factory; its class is kept."""
    global _asyncio_scope
    scope = anyio.CancelScope(deadline=deadline)
    _asyncio_scope = type(scope)
    return scope
