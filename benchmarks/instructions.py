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

    python benchmarks/instructions.py                  # writes results/instructions.md
    python benchmarks/instructions.py --quick          # smoke run (CI), writes nothing

Skipped, said so, when valgrind is not installed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _baseline import baseline_env, extract
from _report import publish

WORKER = """
import sys, anyio
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
anyio.run(main, backend=backend)
"""
COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run; write no result file")
    parser.add_argument("--baseline", default="fc485a7", metavar="REF")
    parser.add_argument("--calls", type=int, default=1000)
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("skipped: valgrind is not installed (apt-get install valgrind)")
        return
    here = Path(__file__).resolve().parent
    folder, described = extract(args.baseline)
    # the worker lives apart from the baseline's package: a script's own folder comes first on
    # sys.path, and would shadow this checkout's agentroute in the "after" runs
    scripts = Path(tempfile.mkdtemp(prefix="agentroute-instructions-"))
    script = scripts / "instructions_worker.py"
    script.write_text(WORKER.format(bench=str(here)))
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
    ]
    publish("instructions", "\n".join(lines) + "\n", write=not args.quick)


if __name__ == "__main__":
    main()
