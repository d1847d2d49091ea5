"""The instruction benchmark's breakdown: reading a callgrind file with callers' chains.

``benchmarks/instructions.py`` attributes each cost of a ``--separate-callers`` callgrind file
to the nearest Python frame (a ``pyframe_<i>`` C function) up its chain of callers, skipping the
inclusive costs that follow ``calls=`` lines, and maps Python functions to components with an
explicit table. These tests feed it a small hand-written file and check the sums.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def load() -> ModuleType:
    """The benchmark script as a module (its helpers import their neighbours by name)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location(
            "instructions", BENCHMARKS / "instructions.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module


INSTRUCTIONS = load()

PROFILE = """\
# callgrind format
events: Ir
summary: 1000

ob=(1) /usr/lib/libpython3.11.so
fl=(1) ceval.c
fn=(1) _PyEval_EvalFrameDefault'pyframe_7'pyframes_hook'_PyEval_Vector
0 100
+2 20
cfn=(2) dict_subscript'_PyEval_EvalFrameDefault'pyframe_7'pyframes_hook
calls=3 0
0 999
fn=(2)
0 30
fn=(3) PyObject_Malloc'gc_collect_main'_PyObject_GC_Alloc'_PyEval_EvalFrameDefault'pyframe_7
* 5
fn=(4) pyframe_3'pyframes_hook'_PyEval_Vector'_PyEval_EvalFrameDefault'pyframe_7
0 4
fn=(5) pyframes_hook'_PyEval_Vector'_PyEval_EvalFrameDefault'pyframe_7
0 6
fn=(6) main'__libc_start_main
0 50
"""


def test_costs_go_to_the_nearest_python_frame_and_calls_lines_are_skipped() -> None:
    totals = INSTRUCTIONS.exclusive_by_slot(PROFILE.splitlines())
    assert totals == {
        "7": 150,  # the eval loop's 120 and dict_subscript's 30; not the call's inclusive 999
        INSTRUCTIONS.GC: 5,
        INSTRUCTIONS.PROFILER: 10,  # a frame's own C function and the hook
        INSTRUCTIONS.UNATTRIBUTED: 50,
    }


def test_components_come_from_the_first_matching_rule() -> None:
    component_of = INSTRUCTIONS.component_of
    assert component_of("/x/agentroute/middleware/fallback.py", "FallbackMiddleware.__call__") == (
        "fallback step (own logic, cooling reads)"
    )
    # a more specific rule (the cancel scope) comes before the backend's catch-all
    scope = "/venv/site-packages/anyio/_backends/_asyncio.py"
    assert component_of(scope, "CancelScope.__exit__") == "deadline / per-attempt cancel scope"
    assert component_of(scope, "run") == "event loop and task machinery"
    assert component_of("/elsewhere/thing.py", "f") == INSTRUCTIONS.OTHER
    assert component_of("", INSTRUCTIONS.GC) == INSTRUCTIONS.GC
