"""Every table the CLI prints, rendered at 80 columns (a terminal nobody resized, any pipe).

Each table is found by its header line (every header whole), and each row is compared with the
data it was made from: every number whole on its row's line, one line per row (no wrapped
cell), no "…" anywhere in a table, no line wider than 80 columns. Long names may fold onto a
second line, but the numbers beside them stay whole.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from click.testing import CliRunner
from rich.cells import cell_len

import agentroute.demo as demo_module
from agentroute.bench.cascade import evaluate
from agentroute.bench.report import (
    CONTENDER_COLUMNS,
    FRONTIER_COLUMNS,
    LADDER_COLUMNS,
    contender_rows,
    frontier_rows,
    ladder_rows,
)
from agentroute.bench.synthetic import SyntheticSpec, generate
from agentroute.cli import main
from agentroute.config import RouterConfig
from agentroute.config._files import load_config
from agentroute.demo import DemoReport
from agentroute.replay import load_runs, replay_runs, summarize
from tests.helpers import config_dict
from tests.test_replay import write_tau

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples"
WIDTH = 80


def at_80(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), env={"COLUMNS": str(WIDTH)})
    assert result.exit_code == 0, result.output
    return result.output


def cells(line: str) -> list[str]:
    """A table line's cells: columns are two or more spaces apart; a cell has single spaces."""
    return [c for c in re.split(r"\s{2,}", line.strip()) if c]


def table(output: str, columns: Sequence[str]) -> list[str]:
    """The body of the table whose header line is exactly ``columns`` (all checks applied to
    the header, the rule and the body: width, no "…")."""
    lines = output.splitlines()
    found = [i for i, line in enumerate(lines) if cells(line) == list(columns)]
    assert found, f"no header line {list(columns)} whole in:\n{output}"
    start = found[0]
    assert set(lines[start + 1].strip()) == {"─"}, lines[start + 1]
    body: list[str] = []
    for line in lines[start + 2 :]:
        if not line.strip() or not line.startswith(" "):
            break
        body.append(line)
    for line in lines[start : start + 2 + len(body)]:
        assert cell_len(line.rstrip()) <= WIDTH, f"wider than {WIDTH}: {line!r}"
        assert "…" not in line, f"cut: {line!r}"
    return body


def expected(rows: Sequence[Sequence[str]]) -> list[list[str]]:
    return [[c for c in row if c] for row in rows]


def numbers_whole_on_one_line(body: Sequence[str], numbers: Sequence[str]) -> bool:
    """Some line of ``body`` ends with exactly these cells, in this order."""
    pattern = re.compile(r"(^|\s{2,})" + r"\s{2,}".join(map(re.escape, numbers)) + r"\s*$")
    return any(pattern.search(line) for line in body)


# --- agentroute demo ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_run() -> tuple[str, DemoReport]:
    """`agentroute demo` at 80 columns once, with the report its table was printed from."""
    reports: list[DemoReport] = []
    real = demo_module.run_demo

    async def spy(*args: Any, **kwargs: Any) -> DemoReport:
        report = await real(*args, **kwargs)
        reports.append(report)
        return report

    demo_module.run_demo = spy  # type: ignore[assignment]
    try:
        output = at_80("demo")
    finally:
        demo_module.run_demo = real  # type: ignore[assignment]
    (report,) = reports
    return output, report


def test_demo_table_has_one_whole_line_per_step(demo_run: tuple[str, DemoReport]) -> None:
    output, report = demo_run
    columns = ("#", "tier", "model", "provider", "score", "in", "cached", "out", "cost $", "pin")
    body = table(output, columns)
    assert [cells(line) for line in body] == [
        [
            str(r.step),
            r.tier,
            r.model,
            r.provider,
            f"{r.score:.2f}",
            f"{r.usage.input_tokens:,}",
            f"{r.usage.cache_read_tokens:,}",
            f"{r.usage.output_tokens:,}",
            f"{r.cost_usd:.5f}",
            r.pin,
        ]
        for r in report.rows
    ]


def test_demo_details_and_summary_fit_80_columns(demo_run: tuple[str, DemoReport]) -> None:
    output, report = demo_run
    shown = output.split("\nspans")[0]  # the span tree after it is not a table
    lines = shown.splitlines()
    for line in lines:
        assert cell_len(line.rstrip()) <= WIDTH, f"wider than {WIDTH}: {line!r}"
    assert "…" not in shown
    for r in report.rows:
        # each step's cause, attempts, switch price and broken pin, every figure whole
        assert any(r.attempts in line and r.cause in line for line in lines), r
        for figure in re.findall(r"\$\d+\.\d+", r.switch):
            assert any(figure in line for line in lines), figure
        if r.pin == "break":
            assert any(r.pin_reason in line for line in lines)
    assert f"cost: ${report.total_cost_usd:.5f}" in shown


def test_readme_shows_what_the_demo_prints(demo_run: tuple[str, DemoReport]) -> None:
    """README "What the demo shows": its table is the demo's, line for line; every other line
    it shows (it leaves some steps out, marked "…") is printed by the demo, in that order."""
    output, _ = demo_run
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## What the demo shows", 1)[1]
    block = section.split("```\n", 2)[1].splitlines()
    printed = [line.rstrip() for line in output.splitlines()]
    table_end = block.index("")
    start = printed.index(block[0])
    assert printed[start : start + table_end] == block[:table_end]
    rest = iter(printed[start + table_end :])
    for line in block[table_end:]:
        if line.strip() != "…":
            assert any(line == p for p in rest), f"README line not printed (in order): {line!r}"


# --- agentroute config check ----------------------------------------------------------------


def _provider_rows(cfg: RouterConfig) -> list[list[str]]:
    rows = []
    for name, p in cfg.providers.items():
        key = "(no api key)"
        if p.api_key is not None:
            key = p.api_key.display + ("" if p.api_key.is_available() else " (not set)")
        rows.append([name, p.kind, f"{p.cache_ttl_s:g}", p.base_url or "(default base_url)"])
        rows.append([key])
    return rows


def _tier_rows(cfg: RouterConfig) -> list[list[str]]:
    rows = []
    for tier, models in cfg.tiers.items():
        for i, name in enumerate(models):
            m = cfg.models[name]
            starts = "start" if tier == cfg.start_tier else f"{cfg.thresholds[tier]:g}"
            rows.append(
                [
                    tier if i == 0 else "",
                    starts if i == 0 else "",
                    name,
                    f"{m.context_window:,}",
                    f"{m.price.input:g}",
                    f"{m.price.output:g}",
                    f"{m.price.cache_read_or_input:g}",
                ]
            )
    return expected(rows)


def _deployment_rows(cfg: RouterConfig) -> list[list[str]]:
    return expected(
        [
            [name if i == 0 else "", d.provider, d.name, f"{d.weight:g}"]
            for name, m in cfg.models.items()
            for i, d in enumerate(m.deployments)
        ]
    )


TIER_COLUMNS = ("tier", "from score", "model", "window", "$/M in", "$/M out", "$/M cached")


@pytest.mark.parametrize("name", ["agentroute.yaml", "agentroute.toml"])
def test_config_check_tables_at_80_columns(name: str) -> None:
    path = EXAMPLES / name
    cfg = load_config(path)
    output = at_80("config", "check", str(path))
    providers = table(output, ("name", "kind", "cache TTL s", "base_url, api key"))
    assert [cells(line) for line in providers] == _provider_rows(cfg)
    assert [cells(line) for line in table(output, TIER_COLUMNS)] == _tier_rows(cfg)
    deployments = table(output, ("model", "provider", "name", "weight"))
    assert [cells(line) for line in deployments] == _deployment_rows(cfg)


def test_config_check_folds_long_values_and_keeps_numbers_whole(tmp_path: Path) -> None:
    long_model = "a-model-with-a-very-long-name-2026-01-01-preview-thinking"
    long_url = "https://" + "very-long-subdomain." * 4 + "example.com/openai/deployments/v1"
    data = {
        "providers": {
            "azure-europe-west": {"kind": "openai", "base_url": long_url},
            "anthropic": {"kind": "anthropic", "api_key": "env:AGENTROUTE_TEST_UNSET_KEY_1"},
        },
        "models": {
            "small": {
                "context_window": 128_000,
                "price": {"input": 0.15, "output": 0.6, "cache_read": 0.075},
                "deployments": [{"provider": "azure-europe-west", "name": "gpt-4o-mini"}],
            },
            long_model: {
                "context_window": 1_000_000,
                "price": {"input": 1.25, "output": 10, "cache_read": 0.125},
                "deployments": [
                    {"provider": "anthropic", "name": long_model + "-deployment-eu-2026"},
                    {"provider": "azure-europe-west", "name": "x", "weight": 2.5},
                ],
            },
        },
        "tiers": {"simple": ["small"], "reasoning-and-planning": [long_model]},
    }
    path = tmp_path / "long.yaml"
    path.write_text(yaml.safe_dump(data))
    output = at_80("config", "check", str(path))
    cfg = load_config(path)
    providers = table(output, ("name", "kind", "cache TTL s", "base_url, api key"))
    # the URL folds at the end of its lines, never cut: its pieces put back together are whole
    assert long_url in "".join(line.strip() for line in providers)
    tiers = table(output, TIER_COLUMNS)
    for row in _tier_rows(cfg):
        assert numbers_whole_on_one_line(tiers, row[-4:]), row
    deployments = table(output, ("model", "provider", "name", "weight"))
    assert numbers_whole_on_one_line(deployments, ["2.5"])


# --- agentroute bench cascade ---------------------------------------------------------------


def test_cascade_tables_at_80_columns() -> None:
    path = EXAMPLES / "agentroute.yaml"
    cfg = load_config(path)
    ev = evaluate(cfg, generate(cfg, SyntheticSpec(tasks=40, seed=5)))
    output = at_80(
        "bench", "cascade", "--synthetic", "--tasks", "40", "--seed", "5", "--config", str(path)
    )
    for columns, rows in (
        (LADDER_COLUMNS, ladder_rows(ev)),
        (FRONTIER_COLUMNS, frontier_rows(ev)),
        (CONTENDER_COLUMNS, contender_rows(ev)),
    ):
        assert [cells(line) for line in table(output, columns)] == expected(rows)


LONG_NAMES = (
    "gpt-4o-mini-2024-07-18",
    "claude-3-5-sonnet-20241022",
    "claude-opus-4-1-20250805-thinking",
)


def test_cascade_with_long_model_names_keeps_numbers_whole(tmp_path: Path) -> None:
    """Long model names fold onto a second line; no header or number is cut to "…"."""
    data = {
        "providers": {"p": {"kind": "openai"}},
        "models": {
            name: {
                "context_window": 200_000,
                "price": {"input": 0.15 * 10**i, "output": 0.6 * 10**i},
                "deployments": [{"provider": "p", "name": name}],
            }
            for i, name in enumerate(LONG_NAMES)
        },
        "tiers": {
            tier: [name]
            for tier, name in zip(("simple", "complex", "reasoning"), LONG_NAMES, strict=True)
        },
    }
    path = tmp_path / "long.yaml"
    path.write_text(yaml.safe_dump(data))
    cfg = load_config(path)
    ev = evaluate(cfg, generate(cfg, SyntheticSpec(tasks=30, seed=0)))
    output = at_80("bench", "cascade", "--synthetic", "--tasks", "30", "--config", str(path))
    contenders = table(output, CONTENDER_COLUMNS)
    for row in contender_rows(ev):
        assert numbers_whole_on_one_line(contenders, row[2:]), row
    ladder = table(output, LADDER_COLUMNS)
    for row in ladder_rows(ev):
        assert any(row[2] in cells(line) for line in ladder), row
    frontier = table(output, FRONTIER_COLUMNS)
    assert [cells(line) for line in frontier] == expected(frontier_rows(ev))


# --- agentroute replay ----------------------------------------------------------------------


def test_replay_table_at_80_columns(tmp_path: Path) -> None:
    config_path = tmp_path / "router.yaml"
    config_path.write_text(yaml.safe_dump(config_dict(), sort_keys=False))
    runs_path = write_tau(tmp_path)
    output = at_80("replay", str(runs_path), "--config", str(config_path))
    cfg = load_config(config_path)
    replays = anyio.run(lambda: replay_runs(cfg, load_runs(runs_path), tools_tokens=2100))
    s = summarize(cfg, replays)
    assert f"policy replay: {s.runs:,} runs, {s.calls:,} calls" in output
    assert [cells(line) for line in table(output, ("tier", "calls", "share"))] == [
        [tier, f"{n:,}", f"{n / s.calls:.1%}"] for tier, n in s.tier_calls.items()
    ]
