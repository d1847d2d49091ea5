"""Scale: 10,000 and 20,000 concurrent agent sessions × 5 steps in one process (issue 14).

What is measured, for each configuration — sessions {10,000, 20,000} × explicit or implicit
sessions × the in-memory or the Redis state store — in a fresh subprocess of its own (so that
its peak RSS is its own):

* **calls/s**: every session is one task making its 5 calls in turn, and all the tasks are
  started together with no semaphore, so every session's step *k* is in flight at once (a
  session's step *k* + 1 starts as soon as its step *k* is answered; the sessions drift apart
  only as far as the event loop's order lets them). Calls/s = sessions × 5 / the wall time
  from the first task's start to the last call's answer. Explicit sessions are
  ``async with router.session(id=...)``; implicit ones have no session: each is a distinct
  conversation (its own first user message) through ``router.complete()``, its history
  growing by an answer and a tool result at each step, so the router finds its session by
  the conversation itself.
* **store errors** (goal 0): the router's ``agentroute.state.errors`` metric (operations that
  failed or were given up) and ``agentroute.state.skipped`` (operations skipped while the
  store's breaker was open), read from an OpenTelemetry SDK ``InMemoryMetricReader`` on the
  ``MeterProvider`` given to the ``Router``. The in-memory store never fails (its rows say
  0 by construction).
* **live sessions evicted** (goal 0): the ``agentroute.sessions.evicted`` metric; and
  **steps lost**: calls whose session step (the test-double provider answers with
  ``call.session.step``) was not the step the session was on — what an eviction or a session
  mixed up with another would show.
* **peak RSS**: ``VmHWM`` of ``/proc/self/status`` after the run, and what it grew by over
  the RSS before the run (interpreter, imports, router), per session.
* **retained per ended session**: Python memory (``tracemalloc``) still allocated once every
  session has ended and the caller dropped its messages, after ``gc.collect()``, per session:
  what the router (and its in-memory store) keeps of a finished run. Measured in a second
  pass of ``TRACED`` (2,000) sessions started at once, in the same subprocess after the peak
  RSS was read, on a fresh router: tracing slows every allocation several-fold, so it stays
  out of the timed pass, and what a session leaves behind does not depend on how many ran.
  It includes the high-water size of containers that grew with the burst and do not shrink
  (the event loop's task set, anyio's task states, the store's queue): bounded by the peak
  concurrency, not by the sessions that ended.

* **GC** (each configuration under each garbage-collector setting, ``--gc`` to choose):
  ``default`` is the interpreter's own (thresholds 700, 10, 10); ``freeze`` calls
  ``gc.collect()`` then ``gc.freeze()`` once the router is built and warmed up, so the
  objects of start-up (modules, the config, the router, its caches) move to the permanent
  generation and no later collection walks them again; ``threshold`` raises the thresholds to
  ``gc.set_threshold(50_000, 20, 100)`` (``RAISED_THRESHOLD``; fewer, larger young
  collections: a call's cycles and the sessions in flight are freed in bigger batches);
  ``both`` does the two. On 10,000 sessions (in-memory store) the interpreter's default
  spent 36-42% of the wall time in collections, ``freeze`` alone about the same (what the
  collector walks is the sessions in flight, not start-up's objects), a raised threshold
  9-17%, for 1.3x the calls/s; peak RSS did not move. **GC time**
  is the wall time spent in collections during the timed pass (``gc.callbacks``, start to
  stop), as a share of the pass. These are options for an application (one line at its
  start-up), measured here side by side: the library changes no GC setting itself.

The provider is a test double that yields to the event loop once (``anyio.lowlevel.checkpoint()``),
as a network call would, and answers at once: no network, no simulator, so what is measured
is the router and its state store. One model on two deployments, sticky affinity (its
``cache_read`` price is below its input price), so every call reads the store (cooldowns and
the session's pin, one round trip) and writes the session's pin (another). Log events and
tracing are off; everything else is the default config, the Redis store's pool and budgets
included (``state: {kind: redis, url: ...}``). The Redis server is this script's own:
``redis-server`` on 127.0.0.1 at a free port with ``--save ''`` (no persistence), stopped by
its PID at exit; without ``redis-server`` on PATH (or the ``redis`` package) the Redis rows are
skipped, and said so.

``--baseline REF`` also runs each configuration on git revision ``REF``'s ``agentroute``
package (``git archive`` to a temporary folder, first on the child's ``PYTHONPATH``): the same
harness, this script, only the library differs; the children alternate, before then after,
``--rounds`` times (default 2), and the table shows the medians, before and after, with the
ratios. The after side's implicit-session children also break their retained bytes down by
component (``kept_by_component()``).

    python benchmarks/scale.py            # writes benchmarks/results/scale.md
    python benchmarks/scale.py --quick    # smoke run (300 sessions), writes nothing
    python benchmarks/scale.py --baseline 0a16466 --sessions 10000 --gc default threshold
"""

from __future__ import annotations

import argparse
import atexit
import gc
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from _report import publish

SCRIPT = Path(__file__).resolve()
STEPS = 5
SESSIONS = (10_000, 20_000)
QUICK_SESSIONS = (300,)
TRACED = 2_000
GC_MODES = ("default", "freeze", "threshold", "both")
"""Sessions of the traced pass (retained memory per ended session)."""
RAISED_THRESHOLD = (50_000, 20, 100)
"""The ``threshold`` option's generation thresholds (the interpreter's default: 700, 10, 10)."""
KINDS = ("explicit", "implicit")
STORES = ("memory", "redis")
SYSTEM = "You are an airline support agent. Look records up before you change anything."
METRICS = ("agentroute.state.errors", "agentroute.state.skipped", "agentroute.sessions.evicted")


READING = """\
* **Store errors: {errors} in all, {skipped} operations skipped, with the default settings**
  (goal 0){scope}.
  On the code before the fix that came with this benchmark (main at e9931db), the
  same runs against the same healthy local Redis failed from the first burst on: at 300
  sessions 16-60 operations timed out, three in a row opened the breaker, and ~2,700 of
  ~3,000 operations were then skipped (no pins, no cooldowns); at 1,000 sessions ~350 failed
  (operations queued behind the pool's 50 connections past `op_max_s`, and the pool's "No
  connection available") and ~7,900 were skipped. The Redis server was never the bottleneck:
  this process was. Since the fix (`agentroute/state/failopen.py`), waiting for a turn at one
  of `pool_size` connections is not the store's time, the replies of a new connection's
  handshake show the server alive, and only silence while the event loop was free gives an
  operation up; a hung store still costs one short timeout per breaker window
  (`tests/test_state_redis.py`, the SIGSTOP test). Under a burst larger than the process can
  serve, calls wait their turn for the store as they wait for the CPU.
* **Live sessions evicted: {evicted}; steps lost: {lost}** (goal 0). Each run's implicit
  sessions are far below `sessions.max_implicit` (100,000).
* **Calls/s** is the router's own CPU: the provider answers at once, so a call is routing, the
  affinity step, the fallback step and, with Redis, two round trips through redis-py (which
  cost more CPU than all the rest: a third of the calls/s of the in-memory store). On this
  shared 2-core machine absolute numbers move by tens of percent between runs: compare rows of
  one run.
* **Peak RSS growth per session** is what a session in flight costs (its task, its messages,
  the call's objects): about 15-20 KiB.
* **Retained per ended session.** An explicit session ({explicit_memory} with the in-memory
  store) leaves its pin there (~0.3 KB with its key, until the pin's idle TTL, the provider's
  `cache_ttl_s`, or the store's bound of `sessions.max_implicit` x models) and its end-of-session
  summary, so that `record_outcome()` after the block can still join its routing-log line: the
  JSON in the store (until `telemetry.outcome_ttl_s`, 7 days, at most 100,000 sessions) and the
  router's own copy (the last 10,000 sessions), ~0.7 KB together. With Redis the pin and the
  summary are in Redis, and what remains is the high-water size of containers that grew with
  the burst and caches of fixed size. An
  implicit session has no end the router can see: it stays in the implicit-session table until
  `sessions.idle_ttl_s` (3,600 s) or the `max_implicit` bound: {implicit_memory} with the
  in-memory store (its pin included), {implicit_redis} with Redis; the next section says where
  those bytes are.
"""

BEFORE_AFTER = """\
* **Before/after** (the library at `{ref}`, main before issue 19's work, against this
  checkout; the same harness, children alternating): calls/s {calls_explicit} with explicit
  sessions, {calls_implicit} with implicit ones; the share of the wall time spent in
  collections {gc}; retained per ended session {kept_explicit} (explicit) and {kept_implicit}
  (implicit). The collector's share moved by a few points at most (a ratio of two small
  shares is noisy): with every session in flight at once it walks what the burst holds (the
  tasks, their messages, the calls' objects), not the routing work that got cheaper. Implicit
  sessions gained less calls/s than explicit ones here; why is not profiled by this
  benchmark (`benchmarks/results/overhead.md` has the per-call instructions). An explicit
  session leaves the same objects on both sides (its pin and its summary); an implicit one
  keeps less since its attempts are dropped when it goes idle, its scan memory lost its
  closures and its ledger shares its first attempt's usage and cost (where the rest goes: the
  next section).
"""


def spread(values: list[float]) -> str:
    """``1.28x`` or ``1.28-1.35x`` (the ratios of several rows); ``-`` when there are none."""
    if not values:
        return "-"
    lo, hi = f"{min(values):.2f}", f"{max(values):.2f}"
    return f"{lo}x" if lo == hi else f"{lo}-{hi}x"


BREAKDOWN = """\
Bytes per idle implicit session after the traced pass (at most 2,000 sessions, the after side's
first round), by component: a deep `sys.getsizeof` walk, in the same process with tracing
still on, that counts each object allocated during the pass once (objects made before it —
the config's strings, interned names — are shared, not a session's) and gives it to the first
component that reaches it, in this order: **ledger** (each `SessionState` and what only it
reaches: its key, its usage and cost), **table** (its implicit-session table branch, and what
the table's dicts grew by), **decision** (the last `Decision`, its `Signals`, its
contributions), **memories** (every `SessionMemory` value kept for the session — the signal
extractor's `ScanState`, the turn anchor, the scored policy's calm run — with its weak
reference, and what those dicts grew by), **pin** (the in-memory store's pin of the session
and what its pin table grew by), **key cache** (the session-key cache's entries and growth:
bounded at 4,096 conversations' openings, so a per-session cost only below that), **timer**
(cancelled timers still in the event loop's heap, what they hold, and the heap's growth),
**other** (tracemalloc's total less all of the above: the containers that grew with the burst
of 2,000 concurrent sessions and do not shrink — the loop's task set, anyio's task states —
and allocator rounding the walk cannot see). A component's walk stops at the others' roots (a
table branch does not reach into its `SessionState`), so the order only decides objects
reached from two. The sum is tracemalloc's total by construction; `other` is the check: what
the walk could not place. Objects the pass took from CPython's free lists (small tuples,
floats) were not allocated then: neither tracemalloc's total nor the walk counts them. The
key cache is bounded: once full (as after a timed pass of 10,000 sessions) each entry the
pass made replaced one made before it, whose freeing tracemalloc does not see, so its share
is no cost per session in a steady state. `tests/test_soak.py` measures one call at a time
instead (200 sessions, no burst; there the loop never runs between the calls, so each
session's cancelled timer is still in its heap).
"""


# One configuration (the subprocess) --------------------------------------------------------


def router_config(store: str, url: str | None) -> dict[str, Any]:
    """One model on two deployments, sticky (cache reads are cheaper), defaults elsewhere."""
    data: dict[str, Any] = {
        "providers": {
            name: {"kind": "openai", "api_key": "k", "cache_ttl_s": 300} for name in ("d1", "d2")
        },
        "models": {
            "m": {
                "context_window": 128_000,
                "price": {"input": 2.0, "output": 8.0, "cache_read": 0.5},
                "deployments": [{"provider": d, "name": "m"} for d in ("d1", "d2")],
            }
        },
        "tiers": {"only": ["m"]},
        "telemetry": {"log_events": False},
    }
    if store == "redis":
        data["state"] = {"kind": "redis", "url": url, "namespace": f"scale-{uuid.uuid4().hex}"}
    return data


class Answers:
    """Yields to the event loop once, as a network call would, then answers with the call's
    session step (what the session's task checks)."""

    async def send(self, call: Any, /) -> Any:
        from anyio.lowlevel import checkpoint

        from agentroute.testing import text_result

        await checkpoint()
        return text_result(str(call.session.step if call.session is not None else 0))


def memory_kib(field: str) -> int:
    """A ``/proc/self/status`` field in KiB (``VmHWM``: peak RSS; ``VmRSS``: RSS now)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def counters(reader: Any) -> dict[str, float]:
    """Each counter in ``METRICS``, summed over its attributes (0 when never added to)."""
    found = dict.fromkeys(METRICS, 0.0)
    data = reader.get_metrics_data()
    for rm in data.resource_metrics if data is not None else ():
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name in found:
                    found[metric.name] += sum(p.value for p in metric.data.data_points)
    return found


def error_types(reader: Any) -> dict[str, float]:
    """``agentroute.state.errors`` by ``error.type`` (what failed, when something did)."""
    out: dict[str, float] = {}
    data = reader.get_metrics_data()
    for rm in data.resource_metrics if data is not None else ():
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == "agentroute.state.errors":
                    for p in metric.data.data_points:
                        kind = str((p.attributes or {}).get("error.type"))
                        out[kind] = out.get(kind, 0.0) + p.value
    return out


async def run_sessions(router: Any, kind: str, first: int, count: int) -> int:
    """``count`` sessions × ``STEPS`` steps, all started at once; the steps lost (calls whose
    session step was not the session's own step number)."""
    import anyio

    lost = 0

    async def steps() -> None:
        nonlocal lost
        i = next(ids)
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"Customer {i}: change my flight to Friday."},
        ]
        for step in range(1, STEPS + 1):
            result = await router.complete(messages)
            lost += result.text != str(step)
            messages.append({"role": "assistant", "content": f"Looking up booking {i}."})
            messages.append({"role": "user", "content": f"Tool result {step}: booking {i} ok."})

    async def explicit() -> None:
        async with router.session(id=f"s{next(names)}"):
            await steps()

    ids, names = iter(range(first, first + count)), iter(range(first, first + count))
    task: Callable[[], Any] = explicit if kind == "explicit" else steps
    async with anyio.create_task_group() as tg:
        for _ in range(count):
            tg.start_soon(task)
    return lost


async def child(spec: dict[str, Any]) -> dict[str, Any]:
    """One configuration: the timed pass, the peak RSS, then the traced pass."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from agentroute import Router

    sessions, kind, store = spec["sessions"], spec["kind"], spec["store"]
    provider = Answers()
    providers = {"d1": provider, "d2": provider}
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader])
    out: dict[str, Any] = {}
    async with Router(
        router_config(store, spec.get("url")), providers=providers, meter_provider=meter
    ) as router:
        await run_sessions(router, kind, -10, 10)  # warm-up: connections, scripts, caches
        before = counters(reader)
        gc.collect()
        rss = memory_kib("VmRSS")
        with gc_setting(spec.get("gc", "default")) as gc_seconds:
            started = time.perf_counter()
            lost = await run_sessions(router, kind, 0, sessions)
            seconds = time.perf_counter() - started
        peak = memory_kib("VmHWM")
        after = counters(reader)
    out.update(
        calls=sessions * STEPS,
        seconds=seconds,
        gc_s=gc_seconds[0],
        lost=lost,
        rss_before_kib=rss,
        peak_kib=peak,
        **{name: after[name] - before[name] for name in METRICS},
        error_types=error_types(reader),
    )
    del router
    gc.collect()
    out["retained_b"], out["kept_by"] = await retained_per_session(spec)
    out["package"] = str(Path(sys.modules["agentroute"].__file__ or "?").parent)
    return out


@contextmanager
def gc_setting(mode: str) -> Iterator[list[float]]:
    """Run the block under the GC option ``mode`` (see ``GC_MODES``), then restore the
    interpreter's settings; yields a one-item list that holds, once the block is done, the wall
    time the collections took while it ran."""
    if mode not in GC_MODES:
        raise ValueError(f"unknown GC mode {mode!r} (one of {', '.join(GC_MODES)})")
    spent = [0.0]
    began = [0.0]

    def clock(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            spent[0] += time.perf_counter() - began[0]

    thresholds = gc.get_threshold()
    if mode in ("freeze", "both"):
        gc.collect()
        gc.freeze()
    if mode in ("threshold", "both"):
        gc.set_threshold(*RAISED_THRESHOLD)
    gc.callbacks.append(clock)
    try:
        yield spent
    finally:
        gc.callbacks.remove(clock)
        gc.set_threshold(*thresholds)
        gc.unfreeze()


async def retained_per_session(spec: dict[str, Any]) -> tuple[float, dict[str, float] | None]:
    """Traced bytes still allocated per session once ``TRACED`` sessions (at most the
    configuration's) have ended (a fresh router; its warm-up is not counted); with
    ``spec["breakdown"]``, also those bytes by component (``kept_by_component()``)."""
    from agentroute import Router

    provider = Answers()
    router = Router(
        router_config(spec["store"], spec.get("url")), providers={"d1": provider, "d2": provider}
    )
    sessions = min(TRACED, spec["sessions"])
    parts: dict[str, float] | None = None
    try:
        await run_sessions(router, spec["kind"], -10, 10)
        gc.collect()
        grown = Containers() if spec.get("breakdown") else None
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            await run_sessions(router, spec["kind"], 0, sessions)
            gc.collect()
            kept = tracemalloc.get_traced_memory()[0] - before
            if grown is not None:
                parts = {k: v / sessions for k, v in kept_by_component(grown, kept).items()}
        finally:
            tracemalloc.stop()
    finally:
        await router.aclose()
    return kept / sessions, parts


# What an idle session keeps, by component -----------------------------------------------------

COMPONENTS = ("ledger", "table", "decision", "memories", "pin", "key cache", "timer", "other")
"""The components of :func:`kept_by_component`, in the order they claim what they reach."""


def _live(type_name: str) -> list[Any]:
    """The live objects whose type is named ``type_name`` (this process has one router)."""
    return [o for o in gc.get_objects() if type(o).__name__ == type_name]


def _key_cache() -> dict[Any, Any]:
    """The session-key cache (``agentroute.session._key_cache``; empty where there is none)."""
    from agentroute import session

    cache: dict[Any, Any] = getattr(session, "_key_cache", {})
    return cache


class Containers:
    """The long-lived containers that grow with the sessions (the implicit-session table's
    dicts, every ``SessionMemory``'s two dicts, the in-memory store's pins, the event loop's
    timer heap), by component, with their sizes before the traced pass: they were made before
    tracing, so their growth is what the pass added to them (their entries' slots)."""

    def __init__(self) -> None:
        import asyncio

        self.by_component: dict[str, list[Any]] = {
            "table": [
                getattr(t, name)
                for t in _live("SessionTable")
                for name in ("_items", "_named", "_forks", "_tips")
                if hasattr(t, name)
            ],
            "memories": [
                getattr(m, name)
                for m in _live("SessionMemory")
                for name in ("by_id", "_alive")
                if hasattr(m, name)
            ],
            "pin": [s._pins for s in _live("MemoryStateStore") if hasattr(s, "_pins")],
            "key cache": [_key_cache()],
            "timer": [getattr(asyncio.get_running_loop(), "_scheduled", [])],
        }
        self.sizes = {id(c): sys.getsizeof(c) for cs in self.by_component.values() for c in cs}

    def growth(self, component: str) -> int:
        """What ``component``'s containers grew by since this was made (bytes)."""
        return sum(sys.getsizeof(c) - self.sizes[id(c)] for c in self.by_component[component])


def kept_by_component(containers: Containers, kept: int) -> dict[str, int]:
    """The bytes ``kept`` after the traced pass (tracemalloc's total; tracing still on), by
    component: a deep ``sys.getsizeof`` walk that counts each object allocated during the pass
    (``tracemalloc.get_object_traceback`` is not ``None``: the config's strings, interned
    names and everything made before the pass are shared, not a session's) once, and gives it
    to the first component that reaches it, in the order of ``COMPONENTS``. Objects the pass
    took from CPython's free lists (small tuples, floats) were not allocated then: neither
    tracemalloc's total nor the walk counts them (the walk looks into such tuples).

    1. ``ledger``: each session's ``SessionState`` and what only it reaches (its key, totals);
    2. ``table``: each implicit session's table branch, and the growth of the table's dicts;
    3. ``decision``: the session's last ``Decision``, its ``Signals`` and contributions;
    4. ``memories``: each ``SessionMemory`` value kept for a live session (the signal
       extractor's ``ScanState``, its turn anchor, the scored policy's calm run) with its weak
       reference, and the growth of those memories' dicts;
    5. ``pin``: the in-memory store's pins of these sessions and the growth of its pin table;
    6. ``key cache``: the session-key cache's entries made during the pass and its growth
       (bounded: 4,096 conversations' openings, so per session only below that);
    7. ``timer``: cancelled timers still in the event loop's heap (what they hold) and the
       heap's growth;
    8. ``other``: tracemalloc's total less all of the above: the containers that grew with the
       burst and do not shrink (the loop's task set, anyio's task states, the store's queue)
       and what the walk cannot see (allocator rounding, free lists).

    Each component's walk stops at the roots of the others (a table branch does not reach
    into its ``SessionState``): only objects below two roots are claimed by order."""
    import asyncio

    tables = _live("SessionTable")
    branches = [
        b for t in tables for name in ("_items", "_named") for b in getattr(t, name, {}).values()
    ]
    states = [b.state for b in branches] + [
        s for s in _live("SessionState") if tracemalloc.get_object_traceback(s) is not None
    ]
    keys = {s.key for s in states}
    decisions = [getattr(s, "_last_decision", None) for s in states]
    memories: list[Any] = []
    for memory in _live("SessionMemory"):
        memories += memory.by_id.values()
        memories += memory._alive.values()
    pins = [
        part
        for store in _live("MemoryStateStore")
        for key, value in getattr(store, "_pins", {}).items()
        if key[0] in keys
        for part in (key, value)
    ]
    timers = [
        h
        for h in getattr(asyncio.get_running_loop(), "_scheduled", [])
        if h.cancelled() and tracemalloc.get_object_traceback(h) is not None
    ]
    roots: dict[str, list[Any]] = {
        "ledger": states,
        "table": branches,
        "decision": [d for d in decisions if d is not None],
        "memories": memories,
        "pin": pins,
        "key cache": [*_key_cache().keys(), *_key_cache().values()],
        "timer": timers,
    }
    owner = {id(o): name for name, objects in roots.items() for o in objects}
    seen: set[int] = set()
    out: dict[str, int] = {}
    for name, objects in roots.items():
        total = 0
        stack = list(objects)
        while stack:
            o = stack.pop()
            i = id(o)
            if i in seen or owner.get(i, name) != name or isinstance(o, type):
                continue
            seen.add(i)
            if tracemalloc.get_object_traceback(o) is not None:
                total += sys.getsizeof(o)
            elif type(o) is not tuple:
                continue  # made before the pass: shared, not a session's
            # (an untraced tuple may be one the pass took from CPython's free list: what it
            # holds may be the pass's own)
            stack += gc.get_referents(o)
        out[name] = total + (containers.growth(name) if name in containers.by_component else 0)
    out["other"] = kept - sum(out.values())
    return out


def child_main(raw: str) -> None:
    import anyio

    spec = json.loads(raw)
    print(json.dumps(anyio.run(child, spec)))


# The run (the parent) -----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def redis_server() -> Iterator[tuple[str | None, str]]:
    """``(url, version)`` of a ``redis-server`` of our own (loopback, a free port, no
    persistence), stopped by its PID when the block ends or the script exits; ``(None,
    reason)`` when there is none to start."""
    binary = shutil.which("redis-server")
    if binary is None:
        yield None, "redis-server is not on PATH"
        return
    try:
        import redis  # noqa: F401
    except ImportError:
        yield None, "the 'redis' package is not installed (pip install 'agentroute[redis]')"
        return
    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
    with tempfile.TemporaryDirectory(prefix="agentroute-scale-") as workdir:
        proc: subprocess.Popen[bytes] | None = None
        for _ in range(3):  # a free port may be taken between the probe and the start
            port = _free_port()
            args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
            args += ["--appendonly", "no", "--dir", workdir, "--logfile", f"{workdir}/redis.log"]
            proc = subprocess.Popen(args, cwd=workdir, stdout=subprocess.DEVNULL)
            deadline = time.monotonic() + 10.0
            while proc.poll() is None and time.monotonic() < deadline and not _listening(port):
                time.sleep(0.02)
            if proc.poll() is None and _listening(port):
                break
            _stop(proc)
            proc = None
        if proc is None:
            yield None, "redis-server did not start"
            return
        atexit.register(_stop, proc)  # also on an exception or Ctrl-C in the block
        try:
            yield f"redis://127.0.0.1:{port}/0", version.split(" v=")[-1].split()[0]
        finally:
            _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_child(spec: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, Any]:
    """One configuration in a fresh interpreter (``env``: its environment, e.g. the baseline's
    package first on ``PYTHONPATH``); its result (the last line it prints)."""
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
        env=env,
    )
    if done.returncode != 0:
        raise RuntimeError(f"configuration {spec} failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


SUMMED = ("lost", *METRICS)
"""Counts added up over a configuration's rounds (goal 0); every other number is a median."""


def combine(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One configuration's rounds as one result: the counts of ``SUMMED`` added up, the
    other numbers (calls/s, GC share, memory) as the median of the rounds; the error types
    added up; the breakdown of the first round that has one."""
    out: dict[str, Any] = {}
    for name, value in runs[0].items():
        if name in SUMMED:
            out[name] = sum(r[name] for r in runs)
        elif isinstance(value, int | float):
            out[name] = statistics.median(r[name] for r in runs)
        else:
            out[name] = value
    out["calls_s"] = statistics.median(r["calls"] / r["seconds"] for r in runs)
    out["gc_share"] = statistics.median(
        r["gc_s"] / r["seconds"] if r["seconds"] else 0.0 for r in runs
    )
    kinds: dict[str, float] = {}
    for r in runs:
        for kind, n in r["error_types"].items():
            kinds[kind] = kinds.get(kind, 0.0) + n
    out["error_types"] = kinds
    out["kept_by"] = next((r["kept_by"] for r in runs if r.get("kept_by")), None)
    out["rounds"] = len(runs)
    return out


def ratio(after: float, before: float) -> str:
    return f"{after / before:.2f}x" if before else "-"


def row(spec: dict[str, Any], r: dict[str, Any], b: dict[str, Any] | None = None) -> str:
    """One configuration's table row (``b``: the baseline's, for the before/after columns)."""
    grown = (r["peak_kib"] - r["rss_before_kib"]) * 1024 / spec["sessions"]
    errors = int(r["agentroute.state.errors"])
    kinds = ", ".join(f"{k}: {int(v)}" for k, v in sorted(r["error_types"].items()))
    calls = f"{r['calls_s']:,.0f}"
    share = f"{r['gc_share']:.0%}"
    kept = f"{r['retained_b']:,.0f} B"
    if b is not None:
        calls = f"{b['calls_s']:,.0f} | {calls} | {ratio(r['calls_s'], b['calls_s'])}"
        share = f"{b['gc_share']:.0%} | {share} | {ratio(r['gc_share'], b['gc_share'])}"
        kept = f"{b['retained_b']:,.0f} B | {kept} | {ratio(r['retained_b'], b['retained_b'])}"
    return (
        f"| {spec['sessions']:,} | {spec['kind']} | {spec['store']} | {spec['gc']} | "
        f"{int(r['calls']):,} | {calls} | {share} | "
        f"{errors}{f' ({kinds})' if errors else ''} | "
        f"{int(r['agentroute.state.skipped'])} | {int(r['agentroute.sessions.evicted'])} | "
        f"{int(r['lost'])} | {r['peak_kib'] / 1024:.0f} MiB | {grown / 1024:.1f} KiB | {kept} |"
    )


def header(baseline: bool) -> list[str]:
    """The main table's header (with ``baseline``: before, after and after/before columns for
    calls/s, the GC share and the retained bytes)."""

    def cell(name: str) -> str:
        return f" {name} before | {name} | after/before |" if baseline else f" {name} |"

    names = (
        "| sessions | sessions are | store | GC | calls |"
        + cell("calls/s")
        + cell("GC time")
        + " store errors | store ops skipped | live sessions evicted | steps lost | peak RSS |"
        " peak RSS growth per session |" + cell("retained per ended session")
    )
    n = names.count("|") - 1
    aligns = ["---:"] * n
    aligns[1] = aligns[2] = aligns[3] = "---"
    return [names, "|" + "|".join(aligns) + "|"]


BREAKDOWN_HEADER = [
    "| sessions | store | GC | " + " | ".join(COMPONENTS) + " | sum (tracemalloc) |",
    "|---:|---|---|" + "---:|" * (len(COMPONENTS) + 1),
]


def breakdown_row(spec: dict[str, Any], r: dict[str, Any]) -> str:
    parts = r["kept_by"]
    cells = " | ".join(f"{parts[name]:,.0f}" for name in COMPONENTS)
    return (
        f"| {spec['sessions']:,} | {spec['store']} | {spec['gc']} | {cells} | "
        f"{sum(parts.values()):,.0f} B |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run; write no result file")
    parser.add_argument(
        "--sessions", type=int, nargs="+", help="session counts (default: 10,000 and 20,000)"
    )
    parser.add_argument(
        "--gc",
        nargs="+",
        choices=GC_MODES,
        default=list(GC_MODES),
        help="GC options to measure side by side (default: all)",
    )
    parser.add_argument(
        "--stores", nargs="+", choices=STORES, default=list(STORES), help="(default: both)"
    )
    parser.add_argument(
        "--baseline",
        metavar="REF",
        help="also run each configuration on git revision REF's agentroute (same harness)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        help="runs of each configuration, alternating with the baseline's "
        "(default: 2 with --baseline, else 1)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child_main(args.child)
        return
    sizes = args.sessions or (QUICK_SESSIONS if args.quick else SESSIONS)
    rounds = args.rounds or (2 if args.baseline else 1)
    baseline_env: dict[str, str] | None = None
    notes: list[str] = []
    if args.baseline:
        from _baseline import baseline_env as env_of
        from _baseline import extract

        folder, described = extract(args.baseline)
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        baseline_env = env_of(folder)
        notes.append(
            f"Before: `{described}` (its `agentroute` package, this script as the harness); "
            f"after: this checkout. Each configuration ran {rounds} times before and {rounds} "
            "times after, alternating (before, after, ...); the table gives the median of the "
            "rounds (calls/s, GC time, memory) and the sum of their counts (errors, skipped, "
            "evicted, lost: the after side's)."
        )
    lines = header(baseline_env is not None)
    parts = BREAKDOWN_HEADER[:]
    totals: dict[str, float] = {}
    kept: dict[tuple[str, str], list[float]] = {}
    ratios: dict[str, list[float]] = {
        name: []
        for name in ("calls_explicit", "calls_implicit", "gc", "kept_explicit", "kept_implicit")
    }
    started, load = time.perf_counter(), os.getloadavg()[0]
    with redis_server() if "redis" in args.stores else nullcontext((None, "")) as (url, about):
        if "redis" not in args.stores:
            notes.append("Redis rows not run (`--stores memory`).")
        elif url is None:
            print(f"Redis rows skipped: {about}")
            notes.append(f"Redis rows skipped: {about}.")
        else:
            notes.append(f"Redis: redis-server {about} on 127.0.0.1, `--save ''`.")
        for sessions in sizes:
            for store in args.stores:
                if store == "redis" and url is None:
                    continue
                for kind in KINDS:
                    for mode in args.gc:
                        spec = {
                            "sessions": sessions,
                            "kind": kind,
                            "store": store,
                            "url": url,
                            "gc": mode,
                        }
                        before: list[dict[str, Any]] = []
                        after: list[dict[str, Any]] = []
                        for _ in range(rounds):
                            if baseline_env is not None:
                                before.append(run_child(spec, baseline_env))
                            after.append(run_child({**spec, "breakdown": kind == "implicit"}))
                        result = combine(after)
                        base = combine(before) if before else None
                        for name in SUMMED:
                            totals[name] = totals.get(name, 0) + result[name]
                            if base is not None:
                                totals["before " + name] = (
                                    totals.get("before " + name, 0) + base[name]
                                )
                        kept.setdefault((kind, store), []).append(result["retained_b"])
                        lines.append(row(spec, result, base))
                        if base is not None:
                            for name, key in (("calls_" + kind, "calls_s"), ("gc", "gc_share")):
                                if base[key]:
                                    ratios[name].append(result[key] / base[key])
                            ratios["kept_" + kind].append(result["retained_b"] / base["retained_b"])
                        print(lines[-1], flush=True)
                        if result["kept_by"] is not None:
                            parts.append(breakdown_row(spec, result))
    seconds = time.perf_counter() - started
    if baseline_env is not None:
        notes.append(
            "Before's counts in all: "
            + ", ".join(f"{n}: {int(totals.get('before ' + n, 0))}" for n in SUMMED)
            + "."
        )

    def about_kept(kind: str, store: str) -> str:
        found = kept.get((kind, store))
        if not found:
            return "(not measured)"
        lo, hi = f"{min(found):,.0f}", f"{max(found):,.0f}"
        return f"{lo} B" if lo == hi else f"{lo}-{hi} B"

    scope = (
        ""
        if url is not None
        else " — this run measured the in-memory store only, whose rows are 0 by construction; "
        "the last run with Redis (10,000 and 20,000 sessions, commit 9f37b5a's table) had 0 "
        "errors and 0 skipped"
    )
    reading = READING.format(
        scope=scope,
        errors=int(totals.get("agentroute.state.errors", 0)),
        skipped=int(totals.get("agentroute.state.skipped", 0)),
        evicted=int(totals.get("agentroute.sessions.evicted", 0)),
        lost=int(totals.get("lost", 0)),
        explicit_memory=about_kept("explicit", "memory"),
        implicit_memory=about_kept("implicit", "memory"),
        implicit_redis=about_kept("implicit", "redis"),
    )
    if baseline_env is not None:
        reading += BEFORE_AFTER.format(
            ref=args.baseline,
            **{name: spread(values) for name, values in ratios.items()},
        )
    notes += ["", "## Reading the table", "", reading]
    if len(parts) > 2:
        notes += ["", "## What an idle implicit session keeps", "", *parts, "", BREAKDOWN]
    command = "python " + " ".join(["benchmarks/scale.py", *sys.argv[1:]])
    doc = (__doc__ or "").split("\n\n", 1)[1].rsplit("\n\n", 1)[0]
    text = "\n".join(
        [
            "# Scale: concurrent sessions, memory and Redis",
            "",
            f"Command: `{command}` ({seconds:.0f} s in all; Python "
            f"{sys.version.split()[0]}, {os.cpu_count()} cores shared with other work; 1-minute "
            f"load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end)",
            "",
            *lines,
            "",
            *notes,
            "",
            "## Method",
            "",
            doc.replace("``", "`"),
        ]
    )
    publish("scale", text + "\n", write=not args.quick)


if __name__ == "__main__":
    main()
