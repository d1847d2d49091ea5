"""Routed-call cost in CPU instructions, this checkout against another commit: before/after
figures that do not move with the machine's load.

Wall-clock timings on this shared 2-core machine swing by tens of percent between runs, so a
10% before/after budget cannot be judged from them alone. ``valgrind --tool=callgrind`` counts
the instructions a process executes, the same for the same code and inputs whatever else the
machine does (every process runs with ``PYTHONHASHSEED=0``: a random hash seed changes dict and
set layouts, and the counts by a few tenths of a percent, from one process to the next). Each
figure is the difference between a process making ``--calls`` + 200 routed
calls and one making 200 (imports, set-up and warm-up cancel out), divided by ``--calls``: the
instructions of one routed call, for ``complete()`` and ``wrap()`` (the overhead benchmark's own
variants: the same config, messages and test double, see ``overhead.py``) on asyncio and trio,
with this checkout's ``agentroute`` and with the one of git revision ``--baseline`` (extracted
by :mod:`_baseline`; default ``fc485a7``, the commit before issue 13's and 14's work).

Then, unless ``--quick`` (or ``--no-breakdown``), where the instructions of one call of this
checkout go: each variant is profiled again under callgrind with a frame-evaluation hook that
gives every Python function a C function of its own (:data:`FRAMES_C`, compiled for the run;
needs a C compiler and CPython 3.11's headers), the exclusive cost per Python function is
summed into components by the explicit :data:`RULES` table, and converted to µs with an
instructions-per-µs rate timed outside valgrind in the same run (:func:`where_it_goes`).

    python benchmarks/instructions.py                  # writes results/instructions.md
    python benchmarks/instructions.py --quick          # smoke run (CI), writes nothing
    python benchmarks/instructions.py --quick --breakdown   # ... with a 5-call breakdown

Skipped, said so, when valgrind is not installed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _baseline import baseline_env, extract
from _report import publish

WORKER = """
import os, sys, anyio
import agentroute
print("agentroute from", agentroute.__file__, file=sys.stderr)
sys.path.insert(0, {bench!r})
from overhead import CONFIG, MESSAGES
from agentroute import Router
from agentroute.testing import ScriptedProvider, openai_response, text_result
mode, backend, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
provider = ScriptedProvider(default=text_result("ok"))
router = Router({{**CONFIG, "telemetry": {{"log_events": False}}}}, providers={{"p": provider}})
response = openai_response("ok", prompt_tokens=3000, completion_tokens=20, cached_tokens=2048)
async def call_llm(messages, *, model, **kw):
    return response
wrapped = router.wrap(call_llm)
async def main():
    fn = wrapped if mode == "wrap" else router.complete
    for _ in range(n):
        provider.calls.clear()
        await fn(MESSAGES)
async def timed():
    import time
    fn = wrapped if mode == "wrap" else router.complete
    for _ in range(200):
        provider.calls.clear()
        await fn(MESSAGES)
    for _ in range(int(sys.argv[4])):
        start = time.perf_counter()
        for _ in range(n):
            provider.calls.clear()
            await fn(MESSAGES)
        print((time.perf_counter() - start) / n * 1e6)
frames = os.environ.get("AGENTROUTE_FRAMES")
if frames:
    # every Python frame from here on runs under a C function named after it (see FRAMES_C)
    sys.path.insert(0, os.path.dirname(frames))
    import json, _cgframes
    names = {{}}
    def classify(code):
        key = (code.co_filename, code.co_qualname)
        if code.co_filename.startswith("<"):
            # a generated function (a dataclass's __init__): named after its class and module
            import gc
            for f in gc.get_referrers(code):
                if getattr(f, "__code__", None) is code:
                    key = (code.co_filename, f.__qualname__)
                    for cls in gc.get_referrers(f):
                        types = [c for c in gc.get_referrers(cls) if isinstance(c, type)]
                        owner = types[0] if types else None
                        if owner is not None and vars(owner).get(code.co_name) is f:
                            key = (owner.__module__.replace(".", "/") + ".py", f.__qualname__)
                    break
        return names.setdefault(key, min(len(names), {slots} - 1))
    _cgframes.install(classify)
anyio.run(timed if len(sys.argv) > 4 else main, backend=backend)
if frames:
    with open(frames, "w") as out:
        json.dump([[i, f, q] for (f, q), i in list(names.items())], out)
"""
COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")

# Callgrind sees C functions only: on CPython 3.11 the whole bytecode interpreter is one
# function, _PyEval_EvalFrameDefault. To see Python functions, the breakdown's worker installs a
# frame-evaluation hook (PEP 523) from this small extension: every Python frame is evaluated by
# one of SLOTS C functions, ``pyframe_<i>``, <i> given once per (file, qualified name).
# With ``--separate-callers`` each C function's cost is recorded with its chain of callers, so
# an instruction belongs to the Python function whose ``pyframe_`` is nearest up its chain
# (exclusive cost per Python function, C callees such as dict or JSON code included).
SLOTS = 4096
FRAMES_C = """
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define Py_BUILD_CORE 1
#include "internal/pycore_frame.h"
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#else
#define CALLGRIND_START_INSTRUMENTATION
#endif
typedef PyObject *(*eval_fn)(PyThreadState *, struct _PyInterpreterFrame *, int);
static volatile long sink;
%(slots)s
static eval_fn table[%(n)d] = {%(table)s};
static Py_ssize_t extra_index = -1;
static PyObject *classify = NULL;
static int busy = 0;
static PyObject *pyframes_hook(PyThreadState *t, struct _PyInterpreterFrame *f, int x) {
    PyObject *code = (PyObject *)f->f_code;
    void *extra = NULL;
    if (_PyCode_GetExtra(code, extra_index, &extra) < 0) { PyErr_Clear(); extra = NULL; }
    if (extra == NULL) {
        if (busy) return _PyEval_EvalFrameDefault(t, f, x);
        PyObject *et, *ev, *tb;
        PyErr_Fetch(&et, &ev, &tb);
        busy = 1;
        PyObject *r = PyObject_CallOneArg(classify, code);
        busy = 0;
        long i = 0;
        if (r == NULL) { PyErr_Clear(); }
        else {
            i = PyLong_AsLong(r);
            Py_DECREF(r);
            if (i < 0 || i >= %(n)d) { PyErr_Clear(); i = 0; }
        }
        PyErr_Restore(et, ev, tb);
        extra = (void *)(i + 1);
        _PyCode_SetExtra(code, extra_index, extra);
    }
    return table[(long)extra - 1](t, f, x);
}
static PyObject *install(PyObject *self, PyObject *fn) {
    Py_INCREF(fn);
    classify = fn;
    extra_index = _PyEval_RequestCodeExtraIndex(NULL);
    if (extra_index < 0) return PyErr_Format(PyExc_RuntimeError, "no code extra slot");
    _PyInterpreterState_SetEvalFrameFunc(PyInterpreterState_Get(), pyframes_hook);
    CALLGRIND_START_INSTRUMENTATION;
    Py_RETURN_NONE;
}
static PyMethodDef methods[] = {{"install", install, METH_O, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "_cgframes", NULL, -1, methods};
PyMODINIT_FUNC PyInit__cgframes(void) { return PyModule_Create(&mod); }
"""
# one C function per slot: not inlined, not folded together, not left by a tail call (each
# must stay on the C stack under its frame's callees)
SLOT_C = (
    "__attribute__((noinline)) static PyObject *pyframe_%(i)d(PyThreadState *t, "
    "struct _PyInterpreterFrame *f, int x) "
    "{ PyObject *r = _PyEval_EvalFrameDefault(t, f, x); sink += %(i)d; return r; }"
)
CALLERS = 12  # --separate-callers: enough for C code under one Python frame (see "unattributed")
GC_FUNCTIONS = frozenset({"gc_collect_main", "gc_collect_with_callback", "gc_collect_generations"})


def build_frames(folder: Path) -> Path | None:
    """Compile the frame hook into ``folder``; ``None`` (said) without a C compiler or headers."""
    import sysconfig

    include = sysconfig.get_paths()["include"]
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None or not (Path(include) / "internal" / "pycore_frame.h").exists():
        print("breakdown skipped: needs a C compiler and CPython's headers")
        return None
    if sys.version_info[:2] != (3, 11):
        print("breakdown skipped: the frame hook is written for CPython 3.11's frame layout")
        return None
    source = folder / "_cgframes.c"
    source.write_text(
        FRAMES_C
        % {
            "slots": "\n".join(SLOT_C % {"i": i} for i in range(SLOTS)),
            "n": SLOTS,
            "table": ", ".join(f"pyframe_{i}" for i in range(SLOTS)),
        }
    )
    target = folder / f"_cgframes{sysconfig.get_config_var('EXT_SUFFIX')}"
    flags = ["-O1", "-fno-optimize-sibling-calls", "-fno-ipa-icf", "-fno-inline"]
    subprocess.run(
        [compiler, "-shared", "-fPIC", *flags, f"-I{include}", str(source), "-o", str(target)],
        check=True,
    )
    return folder / "frames.json"


PROFILER = "(profiler hook)"
EXIT = "(worker's exit)"
GC = "(garbage collector)"
UNATTRIBUTED = "(unattributed)"


def exclusive_by_slot(lines: Iterable[str]) -> dict[str, int]:
    """Instructions of a callgrind file (``--separate-callers``) by the nearest ``pyframe_<i>`` up
    each cost's chain of callers: ``"<i>"``, or :data:`GC` when the garbage collector runs
    between, :data:`PROFILER` for the hook's own code, :data:`UNATTRIBUTED` without one in
    reach. Costs after ``calls=`` lines are inclusive costs of a call, and skipped."""
    names: dict[str, str] = {}
    totals: dict[str, int] = {}
    owner = UNATTRIBUTED
    after_call = False
    for line in lines:
        if line.startswith(("fn=", "cfn=")):
            key, _, rest = line.partition("=")[2].strip().partition(" ")
            if rest:
                names[key] = rest
            if line.startswith("fn="):
                owner = owner_of(names.get(key, key).split("'"))
            continue
        if line.startswith("calls="):
            after_call = True
            continue
        if line[:1].isdigit() or line[:1] in ("+", "-", "*"):
            if after_call:
                after_call = False
                continue
            totals[owner] = totals.get(owner, 0) + int(line.split()[-1])
    return totals


def owner_of(chain: list[str]) -> str:
    """Who owns the cost of a callgrind context ``[function, caller, caller's caller, ...]``."""
    for i, function in enumerate(chain):
        if function.startswith("pyframe_"):
            if i == 0:
                return PROFILER
            return function[len("pyframe_") :]
        if function == "pyframes_hook":
            return PROFILER
        if function in GC_FUNCTIONS:
            return GC
    return UNATTRIBUTED


def instructions(script: Path, mode: str, backend: str, calls: int, env: dict[str, str]) -> int:
    """Instructions executed by one worker process making ``calls`` routed calls."""
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            str(script),
            mode,
            backend,
            str(calls),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    found = COLLECTED.search(done.stderr)
    if found is None:
        raise RuntimeError(f"callgrind printed no total:\n{done.stderr[-2000:]}")
    return int(found.group(1))


# Components of one routed call: (component, a part of the file's path, the start of the
# qualified name); the first rule that matches a Python function takes its exclusive cost.
OTHER = "other"
RULES: tuple[tuple[str, str, str], ...] = (
    ("deadline / per-attempt cancel scope", "agentroute/_deadline.py", ""),
    ("deadline / per-attempt cancel scope", "agentroute/clock.py", ""),
    ("deadline / per-attempt cancel scope", "anyio/_backends/_asyncio.py", "CancelScope"),
    (
        "deadline / per-attempt cancel scope",
        "anyio/_backends/_asyncio.py",
        "AsyncIOBackend.current_time",
    ),
    ("deadline / per-attempt cancel scope", "anyio/_backends/_trio.py", "CancelScope"),
    ("deadline / per-attempt cancel scope", "anyio/_backends/_trio.py", "TrioBackend.current_time"),
    ("deadline / per-attempt cancel scope", "anyio/_core/_eventloop.py", ""),
    ("deadline / per-attempt cancel scope", "sniffio/", ""),
    ("deadline / per-attempt cancel scope", "asyncio/events.py", ""),
    ("deadline / per-attempt cancel scope", "asyncio/base_events.py", "BaseEventLoop.call_at"),
    ("deadline / per-attempt cancel scope", "asyncio/base_events.py", "BaseEventLoop.time"),
    (
        "deadline / per-attempt cancel scope",
        "asyncio/base_events.py",
        "BaseEventLoop._timer_handle",
    ),
    ("deadline / per-attempt cancel scope", "asyncio/base_events.py", "BaseEventLoop.get_debug"),
    ("deadline / per-attempt cancel scope", "asyncio/tasks.py", "current_task"),
    ("deadline / per-attempt cancel scope", "/weakref.py", "WeakKeyDictionary"),
    ("deadline / per-attempt cancel scope", "trio/_core/_run.py", "CancelScope"),
    ("deadline / per-attempt cancel scope", "trio/_core/_run.py", "CancelStatus"),
    ("deadline / per-attempt cancel scope", "trio/_core/_run.py", "Deadlines"),
    ("deadline / per-attempt cancel scope", "trio/_core/_run.py", "current_time"),
    ("deadline / per-attempt cancel scope", "trio/_core/_run.py", "Runner.current_time"),
    ("deadline / per-attempt cancel scope", "trio/_timeouts.py", ""),
    ("deadline / per-attempt cancel scope", "trio/_core/_ki.py", ""),
    ("deadline / per-attempt cancel scope", "trio/_core/_local.py", ""),
    ("deadline / per-attempt cancel scope", "trio/_deprecate.py", ""),
    ("deadline / per-attempt cancel scope", "trio/_core/_generated_run.py", "current_time"),
    ("deadline / per-attempt cancel scope", "trio/_core/_run.py", "SystemClock.current_time"),
    ("deadline / per-attempt cancel scope", "trio/_core/_run.py", "current_task"),
    ("deadline / per-attempt cancel scope", "trio/_core/_run.py", "Task._activate_cancel_status"),
    # trio's CancelScope: its attrs-made __init__ (a generated file name), and its deadline
    # registration, a @contextmanager (``_might_change_registered_deadline``); contextlib costs
    # nothing else in this workload (asyncio's "other" is ~0.5k instructions)
    ("deadline / per-attempt cancel scope", "", "CancelScope.__init__"),
    ("deadline / per-attempt cancel scope", "/contextlib.py", "_GeneratorContextManager"),
    ("deadline / per-attempt cancel scope", "/contextlib.py", "contextmanager.<locals>.helper"),
    ("deadline / per-attempt cancel scope", "sortedcontainers/", ""),
    ("deadline / per-attempt cancel scope", "/heapq.py", ""),
    ("event loop and task machinery", "asyncio/", ""),
    ("event loop and task machinery", "trio/", ""),
    ("event loop and task machinery", "anyio/", ""),
    ("event loop and task machinery", "outcome/", ""),
    ("finding the session", "agentroute/implicit_sessions.py", ""),
    ("finding the session", "agentroute/session.py", ""),
    ("finding the session", "agentroute/_types.py", "SessionState.begin_step"),
    ("finding the session", "agentroute/_types.py", "SessionState.idle"),
    ("finding the session", "agentroute/_types.py", "SessionState.touch"),
    ("finding the session", "agentroute/_types.py", "SessionState.__init__"),
    ("signal scan", "agentroute/policy/signals.py", ""),
    ("signal scan", "agentroute/policy/tool_errors.py", ""),
    ("signal scan", "agentroute/policy/tokens.py", ""),
    ("signal scan", "agentroute/policy/session_memory.py", ""),
    ("signal scan", "agentroute/_history_marks.py", ""),
    ("signal scan", "agentroute/messages.py", ""),
    ("signal scan", "agentroute/_types.py", "Signals."),
    ("policy score / decision", "agentroute/policy/", ""),
    ("policy score / decision", "agentroute/middleware/routing.py", ""),
    ("policy score / decision", "agentroute/_catalog.py", ""),
    ("policy score / decision", "agentroute/_types.py", "SessionState.record"),
    ("policy score / decision", "agentroute/_types.py", "Decision."),
    ("policy score / decision", "agentroute/_types.py", "SwitchCost."),
    ("affinity step (pin get/set)", "agentroute/middleware/affinity.py", ""),
    ("affinity step (pin get/set)", "agentroute/state/memory.py", "MemoryStateStore.get_pin"),
    ("affinity step (pin get/set)", "agentroute/state/memory.py", "MemoryStateStore.set_pin"),
    ("affinity step (pin get/set)", "agentroute/_pin_event.py", ""),
    ("fallback step (own logic, cooling reads)", "agentroute/middleware/fallback.py", ""),
    ("fallback step (own logic, cooling reads)", "agentroute/middleware/next_attempt.py", ""),
    ("fallback step (own logic, cooling reads)", "agentroute/middleware/recovery.py", ""),
    ("fallback step (own logic, cooling reads)", "agentroute/state/", ""),
    ("fallback step (own logic, cooling reads)", "agentroute/_types.py", "Attempt."),
    ("telemetry / span steps (off)", "agentroute/telemetry/", ""),
    ("budget step", "agentroute/middleware/budget.py", ""),
    ("charging the session (usage, price)", "agentroute/pricing.py", ""),
    ("charging the session (usage, price)", "agentroute/_types.py", "SessionState.charge"),
    ("charging the session (usage, price)", "agentroute/_types.py", "Usage."),
    ("charging the session (usage, price)", "agentroute/middleware/stream_charge.py", ""),
    ("building ModelCall / ModelResult", "agentroute/_types.py", "ModelCall."),
    ("building ModelCall / ModelResult", "agentroute/_types.py", "ModelResult."),
    ("building ModelCall / ModelResult", "agentroute/_types.py", "Target."),
    ("building ModelCall / ModelResult", "agentroute/_types.py", "CallProgress."),
    ("building ModelCall / ModelResult", "agentroute/_call_shape.py", ""),
    ("provider test double and wrapped function", "agentroute/testing.py", ""),
    ("provider test double and wrapped function", "instructions_worker.py", "call_llm"),
    ("provider adapter (terminal step, usage read)", "agentroute/providers/", ""),
    ("router entry and middleware chain", "agentroute/router.py", ""),
    ("router entry and middleware chain", "agentroute/_routed_function.py", ""),
    ("router entry and middleware chain", "agentroute/_chain.py", ""),
    ("router entry and middleware chain", "agentroute/_steps.py", ""),
    ("router entry and middleware chain", "agentroute/_call_checks.py", ""),
    ("router entry and middleware chain", "agentroute/_async_callable.py", ""),
    ("benchmark loop (not the library)", "instructions_worker.py", ""),
)


def component_of(filename: str, qualname: str) -> str:
    """The component a Python function's cost belongs to (:data:`RULES`; buckets of
    :func:`owner_of` have no file and keep their name); :data:`OTHER` when no rule matches."""
    if not filename:
        return qualname
    for component, path_part, prefix in RULES:
        if path_part in filename and qualname.startswith(prefix):
            return component
    return OTHER


def frame_profile(
    script: Path, mode: str, backend: str, calls: int, frames: Path
) -> dict[tuple[str, str], int]:
    """Exclusive instructions by Python function (file, qualified name), and by the buckets of
    :func:`owner_of` (file ``""``), of one hooked worker process making ``calls`` calls."""
    tag = f"{mode}-{backend}-{calls}"
    out = frames.with_name(f"callgrind-{tag}.out")
    names = frames.with_name(f"frames-{tag}.json")
    subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--dump-instr=no",
            "--dump-line=no",
            f"--separate-callers={CALLERS}",
            "--separate-recs=1",
            # start-up and imports run uninstrumented (fast) until the hook is installed
            "--instr-atstart=no",
            f"--callgrind-out-file={out}",
            sys.executable,
            str(script),
            mode,
            backend,
            str(calls),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "0", "AGENTROUTE_FRAMES": str(names)},
        check=True,
    )
    with out.open(encoding="utf-8", errors="replace") as lines:
        by_slot = exclusive_by_slot(lines)
    out.unlink()
    slots: dict[str, list[tuple[str, str]]] = {}
    for index, filename, qualname in json.loads(names.read_text()):
        slots.setdefault(str(index), []).append((filename, qualname))
    names.unlink()
    profile: dict[tuple[str, str], int] = {}
    for slot, cost in by_slot.items():
        # slots handed out after the names were written: the worker's exit
        found = slots.get(slot, [("", EXIT)])
        key = found[0] if len(found) == 1 else ("", "(slots overflowed)")
        profile[key] = profile.get(key, 0) + cost
    return profile


def per_call_us(script: Path, mode: str, backend: str, calls: int, rounds: int) -> float:
    """Median wall-clock µs of one routed call, outside valgrind (``rounds`` batches of
    ``calls`` after 200 warm-up calls, in one worker process)."""
    done = subprocess.run(
        [sys.executable, str(script), mode, backend, str(calls), str(rounds)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
        check=True,
    )
    return statistics.median(float(x) for x in done.stdout.split())


def where_it_goes(
    script: Path, frames: Path, after: dict[tuple[str, str], float], calls: int
) -> list[str]:
    """The breakdown's section of the result: per variant, the components' instructions per
    call (from the hooked profile, scaled to the unhooked count), share and µs."""
    base = 20
    jobs = [(mode, backend, n) for mode, backend in after for n in (base, base + calls)]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        profiles = dict(
            zip(
                jobs,
                pool.map(lambda j: frame_profile(script, j[0], j[1], j[2], frames), jobs),
                strict=True,
            )
        )
    load = os.getloadavg()[0]
    timing_calls, rounds = (2000, 7) if calls > 5 else (50, 3)
    rates = {
        variant: count / per_call_us(script, *variant, timing_calls, rounds)
        for variant, count in after.items()
    }
    load = max(load, os.getloadavg()[0])
    rate = statistics.median(rates.values())
    goal = 10 * rate
    tables: dict[tuple[str, str], dict[str, float]] = {}
    functions: dict[tuple[str, str], dict[tuple[str, str], float]] = {}
    hooked: dict[tuple[str, str], float] = {}
    for mode, backend in after:
        small, big = profiles[(mode, backend, base)], profiles[(mode, backend, base + calls)]
        diff = {k: (big.get(k, 0) - small.get(k, 0)) / calls for k in small.keys() | big.keys()}
        hooked[(mode, backend)] = sum(diff.values())
        diff.pop(("", PROFILER), None)
        diff.pop(("", EXIT), None)
        # the hook's own code is left out; the rest is scaled to the unhooked count (the hook
        # also turns 3.11's inlined Python-to-Python calls into C calls, spread over all)
        scale = after[(mode, backend)] / sum(diff.values())
        functions[(mode, backend)] = {k: v * scale for k, v in diff.items()}
        table: dict[str, float] = {}
        for (filename, qualname), cost in diff.items():
            name = component_of(filename, qualname)
            table[name] = table.get(name, 0.0) + cost * scale
        tables[(mode, backend)] = table
    variants = list(after)
    order = sorted(tables[variants[0]], key=lambda c: -tables[variants[0]][c])
    order += sorted({c for t in tables.values() for c in t} - set(order))
    head = " | ".join(f"{m}() {b}" for m, b in variants)
    lines = [
        "",
        "## Where the instructions of one call go",
        "",
        f"Command: the same (breakdown on: `--breakdown-calls {calls}`). This checkout only. "
        "Callgrind counts C functions, and on CPython 3.11 all bytecode runs in one of them, so "
        "the breakdown's worker installs a frame-evaluation hook (PEP 523, a small C extension "
        "compiled for the run) that evaluates each Python function's frames under a C function "
        "of its own; `--separate-callers="
        f"{CALLERS} --dump-instr=no` then gives each cost its chain of callers, and an "
        "instruction belongs to the nearest Python function up its chain: **exclusive** cost per "
        "Python function, the C code it calls (dict, str, JSON, allocation) included. "
        "Inclusive costs are not used (they would count nested components twice). "
        "Per call = (profile of "
        f"{base + calls} calls − profile of {base}) / {calls}. The hook's own code is left out "
        "and the rest scaled to the unhooked count of the first table (the hooked run counts "
        + ", ".join(f"{hooked[v] / after[v]:.2f}×" for v in variants)
        + " as many: 3.11 no longer inlines Python-to-Python calls under a hook), so the "
        'components add up to the first table\'s "after" exactly. Functions are mapped to '
        "components by the explicit `RULES` table in the script (first match wins).",
        "",
        f"µs: instructions per µs measured in the same run outside valgrind — {timing_calls} "
        f"calls × {rounds} batches per variant after 200 warm-up calls, median batch; load "
        f"average ≤ {load:.2f} on 2 cores — "
        + ", ".join(f"{m}() {b} {rates[(m, b)]:,.0f}" for m, b in variants)
        + f" instructions/µs; the median, {rate:,.0f}, converts every column.",
        "",
        f"| component | {head} | share (first) | µs (first) |",
        "|---|" + "---:|" * (len(variants) + 2),
    ]
    first = variants[0]
    for name in order:
        cells = " | ".join(f"{tables[v].get(name, 0):,.0f}" for v in variants)
        cost = tables[first].get(name, 0)
        lines.append(f"| {name} | {cells} | {cost / after[first]:.1%} | {cost / rate:.1f} |")
    totals = " | ".join(f"**{after[v]:,.0f}**" for v in variants)
    lines.append(f"| **total** | {totals} | 100% | {after[first] / rate:.1f} |")
    top = sorted(functions[first].items(), key=lambda kv: -kv[1])[:25]
    lines += [
        "",
        f"The 25 costliest Python functions of {first[0]}() on {first[1]} (exclusive, "
        "scaled as above):",
        "",
        "| function | component | instructions | share |",
        "|---|---|---:|---:|",
    ]
    for (filename, qualname), cost in top:
        where = filename.rsplit("site-packages/", 1)[-1].rsplit("python3.11/", 1)[-1]
        where = where.split("/agentroute/", 1)[-1] if "/agentroute/" in where else where
        lines.append(
            f"| `{where}:{qualname}` | {component_of(filename, qualname)} | {cost:,.0f} | "
            f"{cost / after[first]:.1%} |"
        )
    lines += [
        "",
        f"Against the 10 µs goal: 10 µs is {goal:,.0f} instructions at {rate:,.0f}/µs; "
        + "; ".join(
            f"{m}() {b} is {after[(m, b)]:,.0f} ({after[(m, b)] / rate:.1f} µs), "
            f"{after[(m, b)] - goal:,.0f} over"
            for m, b in variants
        )
        + ".",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run; write no result file")
    parser.add_argument("--baseline", default="fc485a7", metavar="REF")
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument(
        "--breakdown",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="where one call's instructions go (default: on, off with --quick)",
    )
    parser.add_argument("--breakdown-calls", type=int, default=100, metavar="N")
    args = parser.parse_args()
    breakdown = not args.quick if args.breakdown is None else args.breakdown
    if shutil.which("valgrind") is None:
        print("skipped: valgrind is not installed (apt-get install valgrind)")
        return
    here = Path(__file__).resolve().parent
    folder, described = extract(args.baseline)
    # the worker lives apart from the baseline's package: a script's own folder comes first on
    # sys.path, and would shadow this checkout's agentroute in the "after" runs
    scripts = Path(tempfile.mkdtemp(prefix="agentroute-instructions-"))
    script = scripts / "instructions_worker.py"
    script.write_text(WORKER.format(bench=str(here), slots=SLOTS))
    # a fixed hash seed: with a random one, str hashes (and so dict and set layouts) differ from
    # process to process, and the counts with them by a few tenths of a percent
    envs = {
        "before": {**baseline_env(folder), "PYTHONHASHSEED": "0"},
        "after": {**os.environ, "PYTHONHASHSEED": "0"},
    }
    modes = ("complete",) if args.quick else ("complete", "wrap")
    backends = ("asyncio",) if args.quick else ("asyncio", "trio")
    calls, base = (5, 0) if args.quick else (args.calls, 200)
    jobs = [
        (version, mode, backend, n)
        for version in envs
        for mode in modes
        for backend in backends
        for n in {base, base + calls}
    ]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        counts = dict(
            zip(
                jobs,
                pool.map(lambda j: instructions(script, j[1], j[2], j[3], envs[j[0]]), jobs),
                strict=True,
            )
        )
    shutil.rmtree(folder, ignore_errors=True)
    after = {
        (mode, backend): (
            counts[("after", mode, backend, base + calls)] - counts[("after", mode, backend, base)]
        )
        / calls
        for mode in modes
        for backend in backends
    }
    frames = build_frames(scripts) if breakdown else None
    found = ["", "Breakdown: not run (`--breakdown`)."] if frames is None else []
    if frames is not None:
        found = where_it_goes(script, frames, after, args.breakdown_calls if not args.quick else 5)
    shutil.rmtree(scripts, ignore_errors=True)
    command = "python " + " ".join(["benchmarks/instructions.py", *sys.argv[1:]])
    lines = [
        "# Routed-call cost in CPU instructions, before/after",
        "",
        f"Command: `{command}`",
        "",
        f"Before: `{described}`; after: this checkout. Instructions of one routed call "
        f"(callgrind, ({base + calls} calls − {base} calls) / {calls}); no network, the "
        "overhead benchmark's config, messages and test double.",
        "",
        "| variant | backend | before | after | after/before |",
        "|---|---|---:|---:|---:|",
    ]
    for mode in modes:
        for backend in backends:
            per = {
                v: (counts[(v, mode, backend, base + calls)] - counts[(v, mode, backend, base)])
                / calls
                for v in envs
            }
            lines.append(
                f"| {mode}() | {backend} | {per['before']:,.0f} | {per['after']:,.0f} | "
                f"{per['after'] / per['before']:.3f} |"
            )
    lines += [
        "",
        "The same code and inputs (and hash seed: `PYTHONHASHSEED=0`) give the same count",
        "whatever the machine's load, so this is",
        "the before/after figure to judge a budget by; `overhead.py --baseline` gives the",
        "wall-clock times, measured side by side but noisy on this shared machine.",
        *found,
    ]
    publish("instructions", "\n".join(lines) + "\n", write=not args.quick)


if __name__ == "__main__":
    main()
