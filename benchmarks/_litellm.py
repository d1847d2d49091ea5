"""LiteLLM side by side: the worker subprocess both mocked-call benchmarks run it in.

LiteLLM lives in its own virtualenv (``benchmarks/.venv-litellm``, made by
:func:`http_throughput.litellm_python`), so it runs as a subprocess: the benchmark script
re-runs itself there with ``--litellm-worker WARMUP``. The worker reads a batch size per line
on stdin and prints each batch's figures as one JSON line. This module holds what both sides of
that pipe share; it imports only the standard library at the top, since the worker's
interpreter has no agentroute.
"""

from __future__ import annotations

import argparse
import gc
import json
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from http_throughput import LITELLM_VENV, litellm_env, litellm_python

# In the worker -------------------------------------------------------------------------------


def block_network(script: str) -> list[str]:
    """Refuse every connection and DNS lookup in this process; returns the list each refused
    attempt is recorded in (the benchmark reports it: it must stay empty)."""
    connects: list[str] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        connects.append(repr(args[1:2] or args[:1])[:80])
        raise OSError(f"{script}: no network in this benchmark")

    socket.socket.connect = socket.socket.connect_ex = refuse  # type: ignore[method-assign]
    socket.getaddrinfo = refuse
    return connects


def quiet_litellm() -> Any:
    """Import LiteLLM with its telemetry and banners off; returns its background logging
    worker (to flush after each batch), or ``None`` in versions without one."""
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    try:
        from litellm.litellm_core_utils.logging_worker import GLOBAL_LOGGING_WORKER
    except ImportError:
        return None
    return GLOBAL_LOGGING_WORKER


async def timed_batch(
    call: Callable[[], Awaitable[Any]], n: int, steady: set[Any], logs: Any
) -> float:
    """Seconds per call of ``n`` calls, including the background logging they scheduled
    (tasks beyond ``steady``, the long-lived ones), so its cost counts against them."""
    import asyncio

    gc.collect()
    start = time.perf_counter()
    for _ in range(n):
        await call()
    for _ in range(5):
        if not (pending := asyncio.all_tasks() - steady):
            break
        await asyncio.wait(pending, timeout=5)
        if logs is not None:
            await logs.flush()
    return (time.perf_counter() - start) / n


# In the benchmark ----------------------------------------------------------------------------


class Worker:
    """The worker subprocess: :attr:`ready` is its first line, :meth:`ask` one batch."""

    def __init__(
        self,
        python: Path,
        script: str,
        per_batch: int,
        warmup: int,
        env: dict[str, str] | None = None,
        flag: tuple[str, ...] = ("--litellm-worker",),
    ) -> None:
        args = [str(python), script, *flag, str(warmup)]
        full_env = litellm_env() | (env or {})
        self.proc = subprocess.Popen(args, stdin=-1, stdout=-1, text=True, env=full_env)
        self.per_batch = per_batch
        self.connects: list[str] = []
        self.ready: dict[str, Any] = self._read()

    def _read(self) -> Any:
        assert self.proc.stdout is not None
        if not (line := self.proc.stdout.readline()):
            raise RuntimeError("the worker exited (see its output above)")
        return json.loads(line)

    def ask(self) -> Any:
        """Run one batch of ``per_batch`` calls; its figures as the worker printed them."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{self.per_batch}\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.connects = self._read()["connects"]
        self.proc.wait(timeout=30)


W = TypeVar("W", bound="Worker")


def start_worker(
    args: argparse.Namespace, make: Callable[[Path, int, int], W]
) -> tuple[W | None, str]:
    """``make(python, per_batch, warmup)``, or ``None`` and why not (``--no-litellm``; a quick
    run without the virtualenv, which only a full run makes; a failed install or start)."""
    python = LITELLM_VENV / "bin" / "python"
    if args.no_litellm:
        return None, "left out (--no-litellm)"
    if args.quick and not python.exists():
        return None, f"quick run and no virtualenv at {LITELLM_VENV} (a full run makes it)"
    found, why = (python, "") if args.quick else litellm_python()
    if found is None:
        return None, why
    try:
        return make(found, args.litellm_batch, 1 if args.quick else 20), ""
    except (RuntimeError, OSError, ValueError) as exc:
        return None, f"its worker failed to start: {exc}"
