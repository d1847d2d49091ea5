"""End to end: the demo agent's sessions on the simulator, outcomes recorded → a routing log →
``agentroute report`` and ``agentroute calibrate --log`` → the patch loaded → the same
sessions through the calibrated router move cost and solved the way calibrate said.

The traffic is :mod:`tests.e2e_loop`'s: N rebooking tasks, about half of them hard; on a hard
one the cheap model wanders quietly (no tool error, no repeat) and fails, so only the step
signal escalates it, and the default policy keeps it on the cheap tier for ~14 calls while an
easy task is done in 5. What calibration can learn from the log is that leaving the cheap tier
soon after 5 calls loses no solved task and saves the wandering.

The yardstick calibrate reports against is the strongest single model (solved as a share of
its solved, cost as a multiple of its cost), so the test measures that model alone too (the
same tasks with the top tier as the start tier) and compares like with like:

* the patch changes ``models.small-model.typical_steps`` (unset by default);
* calibrate's held-out cost ratio for the calibrated policy is below the default policy's, and
  the measured cost of the calibrated router is below the default router's, both as a
  multiple of the strongest model's measured cost (the direction; the sizes differ because the
  log-based replay is an approximation: restart and pro-rata costs, imputed rows);
* the calibrated router's measured solved share is at least the held-out share calibrate
  printed, less a tolerance from N only: two binomial standard errors of a share of N
  sessions at the promised share, plus one session (so a promised 100% allows one miss).

No wall-clock figures. Each router runs on a simulator of its own, so no run finds a prompt
cache another run warmed: the same config over the same tasks costs the same, and without the
patch the cost assertion fails (checked by hand: 1.20× against 1.20×).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from agentroute.cli import main
from agentroute.config import RouterConfig
from agentroute.config._files import load_config
from agentroute.config.patch import load_patched_config
from agentroute.sim.config import SimConfig
from agentroute.sim.server import run_simulator
from tests.e2e_loop import Measured, Task, make_tasks, router_data, run_sessions, sim_data

pytestmark = pytest.mark.anyio

N = 60
"""Sessions per router: enough for five folds of twelve tasks, small enough to stay fast."""
HARD_SHARE = 0.5
TARGET = 0.95
FOLDS = 5
SEED = 0

_ROW = re.compile(r"^\s*(default|calibrated) policy\s+([\d.]+)%\s+\S+\s+([\d.]+)\s", re.MULTILINE)


def _said(output: str) -> dict[str, tuple[float, float]]:
    """calibrate's printed held-out rows: policy → (solved share, cost ratio)."""
    rows = {m[1]: (float(m[2]) / 100, float(m[3])) for m in _ROW.finditer(output)}
    assert set(rows) == {"default", "calibrated"}, output
    return rows


def _tolerance(share: float, n: int) -> float:
    """Two standard errors of a share of ``n`` sessions at ``share``, plus one session."""
    return 2 * math.sqrt(share * (1 - share) / n) + 1 / n


def _write_config(folder: Path, data: dict[str, Any]) -> Path:
    """``folder/agentroute.yaml`` holding ``data`` (in its order: the tiers' order is the
    ladder's)."""
    folder.mkdir()
    path = folder / "agentroute.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _only_top(config: RouterConfig) -> RouterConfig:
    """``config`` with every session starting (and staying) on the top tier."""
    policy = config.policy.model_copy(update={"start_tier": config.tier_names[-1]})
    return config.model_copy(update={"policy": policy})


def _report(log: Path) -> dict[str, Any]:
    result = CliRunner().invoke(main, ["report", str(log), "--json"])
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    return data


def _assert_report_matches(report: dict[str, Any], measured: Measured) -> None:
    assert report["sessions"] == report["with_outcome"] == measured.sessions
    assert report["judged"] == measured.sessions
    assert report["solved"] == measured.solved
    assert report["calls"] == measured.calls
    assert report["cost_usd"] == pytest.approx(measured.cost_usd, rel=1e-9)


async def _measure(
    folder: Path,
    tasks: Sequence[Task],
    *,
    patch: Path | None = None,
    top_only: bool = False,
    log: Path | None = None,
) -> tuple[Measured, RouterConfig]:
    """One router over the tasks, on a simulator of its own (so no run finds a prompt cache
    another run warmed): its config file is written in ``folder``, ``patch`` merged in."""
    async with run_simulator(SimConfig.from_mapping(sim_data())) as sim:
        base = _write_config(folder, router_data(sim.url))
        config = load_patched_config(base, patch) if patch else load_config(base)
        measured = await run_sessions(_only_top(config) if top_only else config, tasks, log)
    return measured, config


async def test_calibrated_router_moves_the_way_calibrate_said(tmp_path: Path) -> None:
    tasks = make_tasks(N, seed=SEED, hard_share=HARD_SHARE)
    hard = sum(t.hard for t in tasks)
    assert 0 < hard < N
    log, patch = tmp_path / "routing.jsonl", tmp_path / "patch.yaml"
    default, config = await _measure(tmp_path / "default", tasks, log=log)
    strongest, _ = await _measure(tmp_path / "strongest", tasks, top_only=True)

    # the routing log holds every session with its outcome; only steps escalated
    report = _report(log)
    _assert_report_matches(report, default)
    causes = {c["cause"]: c["escalations"] for c in report["causes"]}
    assert causes == {"score:step": hard, "(no escalation)": 0}

    args = ["calibrate", "--log", str(log), "--config", str(tmp_path / "default/agentroute.yaml")]
    args += ["--target-solved", str(TARGET), "--folds", str(FOLDS), "--seed", str(SEED)]
    result = CliRunner().invoke(main, [*args, "--write", str(patch)])
    assert result.exit_code == 0, result.output
    said = _said(result.output)

    calibrated_log = tmp_path / "calibrated.jsonl"
    calibrated, calibrated_config = await _measure(
        tmp_path / "calibrated", tasks, patch=patch, log=calibrated_log
    )
    assert config.models["small-model"].typical_steps is None
    assert calibrated_config.models["small-model"].typical_steps is not None

    # what calibrate said: the calibrated policy is cheaper and meets the target
    (default_share, default_cost), (promised, promised_cost) = said["default"], said["calibrated"]
    assert promised_cost < default_cost
    assert promised >= TARGET

    # what the routers did, on the same yardstick
    def ratio(m: Measured) -> float:
        return m.cost_usd / strongest.cost_usd

    assert strongest.solved == N  # the strong model rebooks every task
    assert ratio(calibrated) < ratio(default)
    assert calibrated.solved / strongest.solved >= promised - _tolerance(promised, N)
    assert calibrated.calls < default.calls  # the wandering was cut short
    _assert_report_matches(_report(calibrated_log), calibrated)
    print(
        f"calibrate said: default {default_share:.1%} at {default_cost:.2f}x, calibrated "
        f"{promised:.1%} at {promised_cost:.2f}x (typical_steps "
        f"{calibrated_config.models['small-model'].typical_steps}); measured: default "
        f"{default.solved}/{N} at {ratio(default):.2f}x, calibrated {calibrated.solved}/{N} at "
        f"{ratio(calibrated):.2f}x, strongest {strongest.solved}/{N} ${strongest.cost_usd:.4f}"
    )
