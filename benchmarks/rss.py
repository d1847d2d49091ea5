"""Resident memory after ``import agentroute`` and ``Router(config)``, and which packages hold it.

Each measurement is a fresh subprocess of this interpreter (``/proc/self/status``: VmRSS and
its high-water mark VmHWM), with this checkout's ``agentroute`` first on ``PYTHONPATH``; the
config is the overhead benchmark's (:data:`overhead.CONFIG`: one OpenAI-kind provider, two
models, default providers, so the Router builds its HTTP client).

* **Totals**: VmRSS and the module count (``len(sys.modules)``) after ``import agentroute`` and
  after ``Router(config)``, and a bare interpreter's VmRSS.
* **Breakdown**: the same in one subprocess that first imports the heavy packages one at a
  time, in dependency order (asyncio and ssl, anyio, pydantic, pydantic's first model, the
  OpenTelemetry API, httpx's command-line dependencies — click, rich, pygments, which
  ``httpx/__init__`` imports whenever they are installed — httpx, structlog, PyYAML, tomllib),
  then ``agentroute`` (what is left: its own modules and what only they import), then the
  Router: the VmRSS each step adds. A package is in the chain only if ``import agentroute``
  + ``Router(config)`` loads it; the ones it no longer loads are then measured on top, as
  "on first use" (what an application that uses them pays, and would pay without agentroute).
  Shared dependencies count in the first step that loads them.

``--baseline REF`` measures the ``agentroute`` of git revision ``REF`` too (:mod:`_baseline`:
the package extracted to a temporary folder, first on ``PYTHONPATH``), before and after
interleaved round by round; each figure is the median over the rounds.

    python benchmarks/rss.py --baseline 0a16466   # writes benchmarks/results/rss.md
    python benchmarks/rss.py --quick              # smoke run (CI), writes nothing

Only the standard library is imported here.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from _baseline import ROOT, baseline_env, extract
from _report import publish
from overhead import CONFIG

GOAL_MIB = 45.0

STDLIB = "standard library (the modules this version loads; ssl and hashlib map OpenSSL)"
WITH_ASYNCIO = "import agentroute + Router(config) + `import asyncio` (an asyncio application)"
STDLIB_GONE = "standard library modules only the baseline loads"
FIRST_MODEL = "pydantic's first model (schema machinery, plugin entry-point scan)"

STEPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (STDLIB, ()),  # filled per version: every standard-library module it loads
    ("anyio (+ sniffio)", ("anyio",)),
    ("pydantic (+ pydantic_core, annotated_types, typing_inspection)", ("pydantic",)),
    (FIRST_MODEL, ()),
    ("OpenTelemetry API (trace, metrics)", ("opentelemetry.trace", "opentelemetry.metrics")),
    (
        "click + rich + pygments (httpx's CLI, imported by httpx/__init__)",
        (
            "click",
            "pygments.lexers",
            "pygments.util",
            "rich.console",
            "rich.markup",
            "rich.progress",
            "rich.syntax",
            "rich.table",
        ),
    ),
    ("httpx (+ httpcore, h11, idna, certifi, zstandard)", ("httpx",)),
    ("structlog (+ attrs, rich's traceback renderer)", ("structlog",)),
    ("PyYAML", ("yaml",)),
)
"""The breakdown's steps before ``agentroute``: a label and the modules it imports."""

NOTES = """
## Notes

- Deferred by `import agentroute` since the baseline: PyYAML and tomllib (imported when a
  config file is read), structlog (at the first event emitted; with the default
  `log_events: null` none is emitted before the application has configured structlog, which
  needs it imported), the Anthropic provider and its cache-marker conversion (when a config
  has an Anthropic provider), `anyio.to_thread` (when a file routing log closes). structlog
  had also brought asyncio, concurrent.futures and subprocess in.
- click + rich + pygments are loaded by `httpx/__init__`, which imports its command-line
  client whenever they are installed, and they are installed because agentroute's own CLI
  depends on click and rich. Only moving them to an extra (`agentroute[cli]`) would drop
  them from a library-only install: a packaging change, not made here.
- The standard library row is mostly OpenSSL (ssl and hashlib, which httpx needs), and
  `email`/`http.client` (httpx's cookies), `importlib.metadata` + `zipfile` + `csv`
  (pydantic's plugin scan). pydantic's rows are the config schema's validators. Neither
  the asyncio event loop nor anyio's asyncio backend is in the import + Router figure: an
  application running the router loads them (the "+ `import asyncio`" row is the first).
"""

SHOWN = {"import agentroute": "agentroute itself (its own modules + what only they import)"}

_PROBE = """
import json, sys

def status():
    text = open("/proc/self/status").read()
    return [int(text.split(key)[1].split()[0]) for key in ("VmRSS:", "VmHWM:")]

config, steps = json.loads(sys.argv[1]), json.loads(sys.argv[2])
rows = [("interpreter", *status(), len(sys.modules))]
for label, modules in steps:
    if label == "FIRST_MODEL":
        import pydantic

        class _First(pydantic.BaseModel):
            x: int = 0
    for name in modules:
        try:
            __import__(name)
        except ImportError:  # a private module of the standard library's own packages
            pass
    rows.append((label, *status(), len(sys.modules)))
import agentroute
rows.append(("import agentroute", *status(), len(sys.modules)))
router = agentroute.Router(config)
rows.append(("Router(config)", *status(), len(sys.modules)))
loaded = sorted(sys.modules)
for label, modules in json.loads(sys.argv[3]):
    for name in modules:
        __import__(name)
    rows.append((label, *status(), len(sys.modules)))
print(json.dumps({"rows": rows, "loaded": loaded}))
""".replace("FIRST_MODEL", FIRST_MODEL.replace('"', '\\"'))

KIB = 1024


def probe(
    env: dict[str, str],
    steps: list[tuple[str, tuple[str, ...]]],
    after: list[tuple[str, tuple[str, ...]]] | None = None,
) -> dict[str, Any]:
    """One fresh interpreter: ``steps``, ``import agentroute``, ``Router(CONFIG)``, then
    ``after``; each row ``(label, VmRSS KiB, VmHWM KiB, modules)``, and the top-level packages
    loaded after the Router."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _PROBE,
            json.dumps(CONFIG),
            json.dumps(steps),
            json.dumps(after or []),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the probe failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def bare_rss(env: dict[str, str]) -> int:
    code = "print(int(open('/proc/self/status').read().split('VmRSS:')[1].split()[0]))"
    return int(subprocess.run([sys.executable, "-c", code], capture_output=True, env=env).stdout)


class Version:
    """One ``agentroute`` (this checkout's or a baseline's): its environment, the steps of its
    breakdown (the packages it loads) and the samples of every round."""

    def __init__(self, name: str, env: dict[str, str], baseline: Version | None = None) -> None:
        self.name, self.env = name, env
        modules: list[str] = probe(env, [])["loaded"]
        self.module_names = modules
        self.loaded = {name.split(".")[0] for name in modules}
        self.stdlib = sorted(
            name for name in self.loaded if name in sys.stdlib_module_names and name != "__main__"
        )
        steps = [
            (label, tuple(m for m in modules if m.split(".")[0] in self.stdlib))
            if label == STDLIB
            else (label, mods)
            for label, mods in STEPS
        ]
        self.chain = [(label, mods) for label, mods in steps if self._loads(label, mods)]
        self.deferred = [(label, mods) for label, mods in steps if (label, mods) not in self.chain]
        # the standard-library modules only the baseline loads: measured on first use too
        self.stdlib_gone = (
            sorted(
                {
                    m.split(".")[0]
                    for m in baseline.module_names
                    if m.split(".")[0] in sys.stdlib_module_names
                }
                - self.loaded
            )
            if baseline is not None
            else []
        )
        if baseline is not None:
            gone = tuple(m for m in baseline.module_names if m.split(".")[0] in self.stdlib_gone)
            self.deferred.insert(0, (STDLIB_GONE, gone))  # before structlog, which loads some
        self.totals: dict[str, list[float]] = {}
        self.steps: dict[str, list[float]] = {}
        self.modules: dict[str, list[int]] = {}

    def _loads(self, label: str, modules: tuple[str, ...]) -> bool:
        if label == FIRST_MODEL:
            return "pydantic" in self.loaded
        if label == STDLIB:
            return True
        return all(m.split(".")[0] in self.loaded for m in modules)

    def round(self) -> None:
        """One sample of everything: the plain totals, the bare interpreter, the breakdown."""
        rows = probe(self.env, [], [("asyncio", ("asyncio",))])["rows"]
        (_, start, _, _), imp, made, loop = rows
        for key, value in (
            ("interpreter + json (the probe's start)", start),
            ("import agentroute", imp[1]),
            ("import agentroute + Router(config)", made[1]),
            ("high-water mark (VmHWM)", made[2]),
            (WITH_ASYNCIO, loop[1]),
            ("bare interpreter (`python -c`)", bare_rss(self.env)),
        ):
            self.totals.setdefault(key, []).append(value / KIB)
        self.modules.setdefault("import agentroute", []).append(imp[3])
        self.modules.setdefault("import agentroute + Router(config)", []).append(made[3])
        chain = probe(self.env, self.chain, self.deferred)["rows"]
        for (label, rss, _, count), (_, before, _, count_before) in zip(
            chain[1:], chain, strict=False
        ):
            self.steps.setdefault(label, []).append((rss - before) / KIB)
            self.modules.setdefault(f"step: {label}", []).append(count - count_before)
        self.steps.setdefault("interpreter", []).append(chain[0][1] / KIB)
        self.modules.setdefault("step: interpreter", []).append(chain[0][3])

    def total(self, key: str) -> float:
        return statistics.median(self.totals[key])

    def step(self, label: str) -> float | None:
        samples = self.steps.get(label)
        return statistics.median(samples) if samples else None

    def count(self, key: str) -> int | None:
        samples = self.modules.get(key)
        return round(statistics.median(samples)) if samples else None


def _mib(value: float | None, sign: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+.2f}" if sign else f"{value:.2f}"


def report(after: Version, before: Version | None, args: argparse.Namespace, load: str) -> str:
    rounds = args.rounds
    lines = [
        "# RSS after `import agentroute` and `Router(config)`",
        "",
        f"Command: `python benchmarks/rss.py{' --baseline ' + args.baseline if before else ''}"
        f"{' --rounds ' + str(rounds) if rounds != DEFAULT_ROUNDS else ''}`",
        "",
        f"Machine: {platform.machine()}, Python {platform.python_version()}, "
        f"{platform.system()}; load average {load}. Each figure is the median of {rounds} "
        f"fresh subprocesses{' per version, before and after interleaved' if before else ''}; "
        "VmRSS from `/proc/self/status`, in MiB. The config: `benchmarks/overhead.py`'s "
        "(one OpenAI-kind provider, two models, default providers).",
        "",
    ]
    versions = [v for v in (before, after) if v is not None]
    head = " | ".join(v.name for v in versions)
    lines += [f"| measure | {head} |" + (" after − before | after / before |" if before else "")]
    lines += ["|---|" + "---:|" * (len(versions) + (2 if before else 0))]
    keys = [
        "bare interpreter (`python -c`)",
        "interpreter + json (the probe's start)",
        "import agentroute",
        "import agentroute + Router(config)",
        "high-water mark (VmHWM)",
        WITH_ASYNCIO,
    ]
    for key in keys:
        cells = [_mib(v.total(key)) for v in versions]
        if before:
            a, b = after.total(key), before.total(key)
            cells += [_mib(a - b, sign=True), f"{a / b:.3f}"]
        lines.append(f"| VmRSS, {key} | " + " | ".join(cells) + " |")
    for key in ("import agentroute", "import agentroute + Router(config)"):
        counts = [v.count(key) or 0 for v in versions]
        cells = [str(c) for c in counts]
        if before:
            cells += [f"{counts[1] - counts[0]:+d}", f"{counts[1] / counts[0]:.3f}"]
        lines.append(f"| modules, {key} | " + " | ".join(cells) + " |")
    final = after.total("import agentroute + Router(config)")
    lines += [
        "",
        f"Goal: ≤ {GOAL_MIB:.0f} MiB after import + Router: "
        f"**{'met' if final <= GOAL_MIB else 'not met'}** ({final:.2f} MiB"
        + (
            f"; before {before.total('import agentroute + Router(config)'):.2f} MiB)."
            if before
            else ")."
        )
        + f" With asyncio loaded too, as in any application running the router on asyncio "
        f"(the baseline loaded it at import, through structlog): {after.total(WITH_ASYNCIO):.2f} "
        f"MiB{f' (before {before.total(WITH_ASYNCIO):.2f})' if before else ''}.",
        "",
        "## Breakdown: VmRSS added by each package, imported one at a time in dependency order",
        "",
        "One subprocess per version and round imports the steps below in order, then "
        "`agentroute`, then builds the Router; each row is the VmRSS that step added (median "
        "over rounds) and the modules it loaded. A step is in a version's chain only when "
        "`import agentroute` + `Router(config)` loads that package; shared dependencies count "
        'where they are first loaded. "on first use": a package this version no longer '
        "loads, imported after the Router (what an application using it pays; it would pay "
        "that without agentroute too).",
        "",
        f"| step | {' | '.join(f'{v.name} MiB | {v.name} modules' for v in versions)} |",
        "|---|" + "---:|---:|" * len(versions),
    ]
    labels = ["interpreter", *(label for label, _ in STEPS), "import agentroute", "Router(config)"]
    if before is not None:
        labels.insert(2, STDLIB_GONE)
    for label in labels:
        cells = []
        for v in versions:
            value, count = v.step(label), v.count(f"step: {label}")
            first_use = any(label == d for d, _ in v.deferred)
            cells += [
                ("on first use: " if first_use and value is not None else "") + _mib(value),
                "—" if count is None else str(count),
            ]
        shown = SHOWN.get(label, label)
        if label == STDLIB_GONE:
            shown += f" ({', '.join(after.stdlib_gone)})"
        lines.append(f"| {shown} | " + " | ".join(cells) + " |")
    rows = [(after.step(label) or 0.0, label) for label in labels if label != "interpreter"]
    rows = [r for r in rows if not any(r[1] == d for d, _ in after.deferred)]
    top = sorted(rows, reverse=True)
    lines += [
        "",
        "Where the remainder is (after, largest first): "
        + "; ".join(f"{SHOWN.get(label, label)} {value:.2f}" for value, label in top[:6])
        + f"; the interpreter {after.step('interpreter') or 0.0:.2f} MiB.",
    ]
    lines += ["", *NOTES.strip().splitlines()]
    return "\n".join(lines) + "\n"


DEFAULT_ROUNDS = 7


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run; write no result file")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    parser.add_argument("--baseline", metavar="REF", help="also measure git revision REF")
    args = parser.parse_args()
    if args.quick:
        args.rounds = 1
    folder: Path | None = None
    before: Version | None = None
    load0 = os.getloadavg()[0]
    try:
        if args.baseline:
            folder, described = extract(args.baseline)
            before = Version(f"before ({described.split()[0]})", baseline_env(folder))
            print(f"baseline {described}")
        after = Version("after", baseline_env(ROOT), before)
        for _ in range(args.rounds):
            for version in (before, after) if before is not None else (after,):
                version.round()
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    load = f"{load0:.2f} at the start, {os.getloadavg()[0]:.2f} at the end (2 cores)"
    publish("rss", report(after, before, args, load), write=not args.quick)


if __name__ == "__main__":
    main()
