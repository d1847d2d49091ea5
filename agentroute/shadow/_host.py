"""The background task that hosts a runner's task group on one event loop
(:mod:`agentroute.shadow.runner`).

anyio has no task that outlives the scope of the code that starts it, and a shadow call must
outlive the routed call that sampled it. So the host is started with the running loop's own
API — a task on asyncio, a system task on trio — in an empty context (it sees no session, span
or context variable of the call that started it), and owns an anyio task group in which every
shadow call of that loop runs. Jobs reach it through an unbounded memory stream: the runner
bounds how many are in flight before it sends one.
"""

from __future__ import annotations

import contextvars
import math
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

import anyio

__all__ = ["Host", "running_loop"]

J = TypeVar("J")


class Host(Generic[J]):
    """One loop's host: ``send`` a job to run ``work(job)`` in its task group; ``close``
    ends it (cancelling what runs) and ``done`` is set once it has ended."""

    __slots__ = ("_task", "done", "loop", "receive", "scope", "send")

    def __init__(self, work: Callable[[J], Coroutine[Any, Any, None]]) -> None:
        lib, self.loop = running_loop()
        self.send, self.receive = anyio.create_memory_object_stream[J](math.inf)
        self.scope: anyio.CancelScope | None = None
        self.done = anyio.Event()
        self._task: object = None  # asyncio's task: referenced while it runs
        empty = contextvars.Context()
        if lib == "trio":
            import trio

            trio.lowlevel.spawn_system_task(self._run, work, context=empty)
        else:
            import asyncio  # noqa: TID251 (the loop's own API hosts a task anyio cannot)

            loop = self.loop
            assert isinstance(loop, asyncio.AbstractEventLoop)
            self._task = loop.create_task(self._run(work), context=empty)

    def here(self) -> bool:
        """Whether this host runs on the running loop and has not ended."""
        return self.loop is running_loop()[1] and not self.done.is_set()

    async def close(self) -> None:
        """Cancel every job in flight and wait until the host has ended (only on its loop: the
        host of another loop is left to it, its jobs end with that loop)."""
        if self.loop is not running_loop()[1]:
            return
        self.send.close()
        if self.scope is not None:
            self.scope.cancel()
        await self.done.wait()

    async def _run(self, work: Callable[[J], Coroutine[Any, Any, None]]) -> None:
        try:
            async with anyio.create_task_group() as tg:
                self.scope = tg.cancel_scope
                async with self.receive:
                    async for job in self.receive:
                        tg.start_soon(work, job)
        except Exception:  # pragma: no cover - work() catches all but cancellation
            pass  # (an exception out of a trio system task would end the whole run)
        finally:
            self.done.set()


def running_loop() -> tuple[str, object]:
    """The running async library's name and its loop's identity (trio's token)."""
    try:
        import sniffio

        lib = sniffio.current_async_library()
    except ImportError:  # pragma: no cover - trio needs sniffio, so without it: asyncio
        lib = "asyncio"
    if lib == "trio":
        import trio

        return lib, trio.lowlevel.current_trio_token()
    import asyncio  # noqa: TID251 (which loop runs: anyio does not say)

    return lib, asyncio.get_running_loop()
