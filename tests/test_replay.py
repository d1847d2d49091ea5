"""Replay: both input formats, clear errors, the summary, and the CLI report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from agentroute import ConfigurationError, RouterConfig
from agentroute.cli import main
from agentroute.replay import load_runs, replay_runs, summarize
from tests.helpers import config_dict

pytestmark = pytest.mark.anyio


def tool_turn(i: int, content: str) -> list[dict[str, Any]]:
    call = {
        "id": f"c{i}",
        "type": "function",
        "function": {"name": "f", "arguments": f'{{"i":{i}}}'},
    }
    return [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": f"c{i}", "content": content},
    ]


def run(errors: int, steps: int = 4) -> list[dict[str, Any]]:
    msgs: list[dict[str, Any]] = [
        {"role": "system", "content": "agent"},
        {"role": "user", "content": "task"},
    ]
    for i in range(steps):
        msgs += tool_turn(i, "Error: failed" if i < errors else '{"ok": true}')
    msgs.append({"role": "assistant", "content": "done"})
    return msgs


def write_tau(tmp_path: Path) -> Path:
    data = [
        {"task_id": 1, "trial": 0, "reward": 1.0, "info": {}, "traj": run(0)},
        {"task_id": 2, "trial": 0, "reward": 0.0, "info": {}, "traj": run(2)},
    ]
    path = tmp_path / "runs.json"
    path.write_text(json.dumps(data))
    return path


async def test_tau_format_replays_every_assistant_message(tmp_path: Path) -> None:
    config = RouterConfig.from_mapping(config_dict())
    runs = load_runs(write_tau(tmp_path))
    assert [(r.id, r.success) for r in runs] == [("task1-trial0", True), ("task2-trial0", False)]
    replays = await replay_runs(config, runs, tools_tokens=100)
    assert [len(r.tiers) for r in replays] == [5, 5]  # 4 tool turns + the final answer
    assert set(replays[0].tiers) == {"simple"}
    assert replays[1].tiers[0] == "simple" and "complex" in replays[1].tiers
    s = summarize(config, replays)
    assert (s.runs, s.calls) == (2, 10)
    assert s.escalated_failed == (1, 1) and s.escalated_succeeded == (0, 1)
    assert s.projected_cost_usd < s.top_tier_cost_usd


async def test_jsonl_format(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    path.write_text(
        json.dumps(run(0))
        + "\n\n"
        + json.dumps({"id": "x", "messages": run(1), "success": 0})
        + "\n"
    )
    runs = load_runs(path)
    assert [(r.id, r.success) for r in runs] == [("line1", None), ("x", False)]
    replays = await replay_runs(RouterConfig.from_mapping(config_dict()), runs)
    assert all(len(r.tiers) == 5 for r in replays)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[{"task_id": 1}]', "run #0 has no 'traj'"),
        ('[{"traj": [{"content": "no role"}]}]', "message 0 has no 'role'"),
        ('{"messages": 3}\n', "runs.jsonl:1: expected a list of messages"),
        ("[1, 2", "not valid JSON"),
        ("[1, 2]", "expected τ-bench runs or JSON Lines"),
    ],
)
def test_bad_recordings_name_the_place(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "runs.jsonl"
    path.write_text(text)
    with pytest.raises(ConfigurationError, match=message):
        load_runs(path)


def test_cli_writes_the_report(tmp_path: Path) -> None:
    cfg = tmp_path / "router.json.yaml"
    import yaml

    cfg.write_text(yaml.safe_dump(config_dict(), sort_keys=False))
    out = tmp_path / "report.md"
    result = CliRunner().invoke(
        main,
        ["replay", str(write_tau(tmp_path)), "--config", str(cfg), "--output", str(out)],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "Failed runs that reached a tier above `simple`: 1/1 (100%)" in result.output
    report = out.read_text()
    assert report.startswith("# Policy replay")
    assert "| task2-trial0 | no | 5 |" in report
    assert "2,100 tokens per call were assumed" in report
