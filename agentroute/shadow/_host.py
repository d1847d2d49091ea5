"""The background task that hosts a runner's task group on one event loop
(:mod:`agentroute.shadow.runner`).

anyio has no task that outlives the scope of the code that starts it, and a shadow call must
outlive the routed call that sampled it. So the host is started with the running loop's own
API — a task on asyncio, a system task on trio — in an empty context (it sees no session, span
or context variable of the call that started it), and owns an anyio task group in which every
shadow call of that loop runs. Jobs reach it through an unbounded memory stream: the runner
bounds how many are in flight before it submits one.

**A loop that ends.** A sync entry point that runs an event loop per call (``asyncio.run``)
ends the loop with the host in it: the jobs that were running are cancelled there, and the ones
that never started are left in :attr:`Host.pending`, which the runner writes off when it sees
the host is gone (:meth:`Host.gone`).
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

import anyio

__all__ = ["Host", "running_loop"]

J = TypeVar("J")


class Host(Generic[J]):
    """One loop's host: :meth:`submit` a job to run ``work(job)`` in its task group;
    :meth:`close` ends it (cancelling what runs); :meth:`wait_idle` waits for its jobs."""

    __slots__ = ("_idle", "_task", "_work", "done", "loop", "pending", "receive", "scope", "send")

    def __init__(self, work: Callable[[J], Coroutine[Any, Any, None]]) -> None:
        lib, self.loop = running_loop()
        self.send, self.receive = anyio.create_memory_object_stream[J](math.inf)
        self.scope: anyio.CancelScope | None = None
        self.done = anyio.Event()
        self.pending: set[J] = set()
        """Jobs submitted and not yet finished."""
        self._idle: anyio.Event | None = None
        self._work = work
        self._task: object = None  # asyncio's task: referenced while it runs
        empty = contextvars.Context()
        if lib == "trio":
            import trio

            trio.lowlevel.spawn_system_task(self._run, context=empty)
        else:
            import asyncio  # noqa: TID251 (the loop's own API hosts a task anyio cannot)

            loop = self.loop
            assert isinstance(loop, asyncio.AbstractEventLoop)
            self._task = loop.create_task(self._run(), context=empty)

    def submit(self, job: J) -> None:
        self.pending.add(job)
        self.send.send_nowait(job)

    def here(self) -> bool:
        """Whether this host runs on the running loop and has not ended."""
        return not self.gone() and self.loop is running_loop()[1]

    def gone(self) -> bool:
        """Whether the host has ended, or its loop has (a closed asyncio loop, a finished trio
        run); callable outside any loop."""
        if self.done.is_set():
            return True
        loop: Any = self.loop
        if hasattr(loop, "is_closed"):
            return bool(loop.is_closed())
        try:  # trio: a token of a finished run refuses work
            loop.run_sync_soon(_nothing)
        except Exception:
            return True
        return False

    def let_go(self) -> set[J]:
        """The jobs this ended host never finished (its streams closed): for the runner to
        write off."""
        for stream in (self.send, self.receive):
            with contextlib.suppress(Exception):  # a stream of a closed loop: nothing to wake
                stream.close()
        left, self.pending = self.pending, set()
        return left

    async def wait_idle(self) -> None:
        """Wait until every job submitted so far has finished (on the host's loop)."""
        while self.pending and not self.done.is_set():
            idle = self._idle
            if idle is None:
                idle = self._idle = anyio.Event()
            await idle.wait()

    async def close(self) -> None:
        """Cancel every job in flight and wait until the host has ended (only on its loop: the
        host of another loop is left to it, its jobs end with that loop)."""
        if self.gone() or self.loop is not running_loop()[1]:
            return
        self.send.close()
        if self.scope is not None:
            self.scope.cancel()
        await self.done.wait()

    async def _run(self) -> None:
        try:
            async with anyio.create_task_group() as tg:
                self.scope = tg.cancel_scope
                async with self.receive:
                    async for job in self.receive:
                        tg.start_soon(self._one, job)
        except Exception:  # pragma: no cover - work() catches all but cancellation
            pass  # (an exception out of a trio system task would end the whole run)
        finally:
            self.done.set()
            self._wake()

    async def _one(self, job: J) -> None:
        try:
            await self._work(job)
        finally:
            self.pending.discard(job)
            if not self.pending:
                self._wake()

    def _wake(self) -> None:
        idle, self._idle = self._idle, None
        if idle is not None:
            idle.set()


def _nothing() -> None:
    pass


def running_loop() -> tuple[str, object]:
    """The running async library's name and its loop's identity (trio's token).

    Raises:
        RuntimeError: no event loop runs in this thread.
    """
    try:
        import sniffio

        lib = sniffio.current_async_library()
    except ImportError:  # pragma: no cover - trio needs sniffio, so without it: asyncio
        lib = "asyncio"
    except Exception as exc:  # sniffio's AsyncLibraryNotFoundError
        raise RuntimeError("no event loop runs in this thread") from exc
    if lib == "trio":
        import trio

        return lib, trio.lowlevel.current_trio_token()
    import asyncio  # noqa: TID251 (which loop runs: anyio does not say)

    return lib, asyncio.get_running_loop()
