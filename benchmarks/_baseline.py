"""Before/after in one run: a benchmark's own variants, timed against another commit's
agentroute in a worker subprocess whose batches interleave with this process's rounds.

``--baseline REF`` extracts the ``agentroute`` package of git revision ``REF`` (``git archive``,
no work tree, nothing written into the checkout) to a temporary folder and re-runs the benchmark
script there as a worker (``--baseline-worker BACKEND WARMUP``) with that folder first on
``PYTHONPATH``: the same harness and the same variants, only the library differs. The worker
prints one JSON line per batch request (seconds per call of each variant), as the LiteLLM
worker does (:class:`_litellm.Worker`). Only the standard library is imported here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _litellm import Worker

ROOT = Path(__file__).resolve().parents[1]


def extract(ref: str) -> tuple[Path, str]:
    """The ``agentroute`` package at ``ref`` in a new temporary folder, and the commit's short
    id and subject (raises ``RuntimeError`` naming the ref when git does not know it)."""
    folder = Path(tempfile.mkdtemp(prefix="agentroute-baseline-"))
    git = ["git", "-C", str(ROOT)]
    try:
        described = subprocess.run(
            [*git, "log", "-1", "--format=%h %<(60,trunc)%s", ref],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        archive = subprocess.run(
            [*git, "archive", "--format=tar", ref, "agentroute"], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"--baseline {ref}: git could not read it ({exc.stderr!r})") from None
    return folder, described


def baseline_env(folder: Path) -> dict[str, str]:
    """This environment with ``folder`` first on ``PYTHONPATH`` (before the installed package)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(folder), env.get("PYTHONPATH")]))
    return env


class Baseline(Worker):
    """One worker per event-loop backend; :meth:`round` runs one batch of every variant and
    keeps the per-call seconds in :attr:`samples` (variant name → list)."""

    def __init__(self, script: str, folder: Path, backend: str, per_batch: int, warmup: int):
        super().__init__(
            Path(sys.executable),
            script,
            per_batch,
            warmup,
            env=baseline_env(folder),
            flag=("--baseline-worker", backend),
        )
        self.samples: dict[str, list[float]] = {}
        self.package: str = self.ready["package"]

    def round(self) -> None:
        batch: dict[str, Any] = self.ask()
        for name, seconds in batch.items():
            self.samples.setdefault(name, []).append(seconds)
