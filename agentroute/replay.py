"""Replay recorded agent runs through the routing policy: what would it have decided?

Each recorded run is a conversation; every assistant message in it is one model call, whose
prompt is everything before it. The replay sends each prompt through a real
:class:`~agentroute.Router` (the same chain, session and policy as in production) with a
provider that answers from the recording, and collects the decisions. Nothing is sent
anywhere. Two input formats:

* the τ-bench trajectory file (a JSON list of ``{task_id, trial, reward, traj}``; ``reward``
  1.0 = solved), and
* JSON Lines of runs: each line a list of messages, or ``{"messages": [...], "success": bool,
  "id": "..."}``.

Tool schemas are not in these recordings, yet real calls carry them on every step; the replay
adds a fixed number of tokens for them (``tools_tokens``) and reports the figure it assumed.
Costs are projections from the configured prices with no prompt cache (cache economics are
priced separately) — useful for comparing policies, not for a bill.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentroute._types import ModelCall, ModelResult, Usage
from agentroute.config import RouterConfig
from agentroute.errors import ConfigurationError
from agentroute.policy.tokens import EstimateCounter, message_text
from agentroute.pricing import cost_usd
from agentroute.router import Router

__all__ = [
    "RecordedRun",
    "ReplaySummary",
    "RunReplay",
    "load_runs",
    "replay_runs",
    "report_markdown",
    "summarize",
    "summary_lines",
]


@dataclass(frozen=True, slots=True)
class RecordedRun:
    id: str
    messages: tuple[dict[str, Any], ...]
    success: bool | None


@dataclass(frozen=True, slots=True)
class RunReplay:
    run: RecordedRun
    tiers: tuple[str, ...]
    causes: tuple[str, ...]
    projected_cost_usd: float
    top_tier_cost_usd: float

    @property
    def switches(self) -> int:
        return sum(1 for a, b in zip(self.tiers, self.tiers[1:], strict=False) if a != b)


def load_runs(path: str | Path) -> list[RecordedRun]:
    """Read a τ-bench trajectory file or a JSONL file of runs (see the module docstring)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"{p}: cannot read: {exc.strerror}") from None
    try:
        whole: Any = json.loads(text)
    except ValueError:
        whole = None  # not one JSON document: JSON Lines
    if (
        isinstance(whole, list)
        and whole
        and isinstance(whole[0], dict)
        and ("traj" in whole[0] or "task_id" in whole[0])
    ):
        return [_tau_run(item, i, p) for i, item in enumerate(whole)]
    if isinstance(whole, list) and whole and not isinstance(whole[0], dict):
        raise ConfigurationError(f"{p}: expected τ-bench runs or JSON Lines of message lists")
    runs = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                item = json.loads(line)
            except ValueError as exc:
                raise ConfigurationError(f"{p}:{lineno}: not valid JSON: {exc}") from None
            runs.append(_jsonl_run(item, lineno, p))
    return runs


def _tau_run(item: Any, index: int, path: Path) -> RecordedRun:
    if not isinstance(item, dict) or not isinstance(item.get("traj"), list):
        raise ConfigurationError(f"{path}: run #{index} has no 'traj' list of messages")  # τ-bench
    reward = item.get("reward")
    run_id = f"task{item.get('task_id', index)}-trial{item.get('trial', 0)}"
    success = None if reward is None else float(reward) >= 1.0
    return RecordedRun(run_id, tuple(_messages(item["traj"], path, run_id)), success)


def _jsonl_run(item: Any, lineno: int, path: Path) -> RecordedRun:
    if isinstance(item, list):
        return RecordedRun(f"line{lineno}", tuple(_messages(item, path, f"line {lineno}")), None)
    if isinstance(item, dict) and isinstance(item.get("messages"), list):
        success = item.get("success")
        return RecordedRun(
            str(item.get("id", f"line{lineno}")),
            tuple(_messages(item["messages"], path, f"line {lineno}")),
            None if success is None else bool(success),
        )
    raise ConfigurationError(
        f"{path}:{lineno}: expected a list of messages or an object with a 'messages' list"
    )


def _messages(raw: list[Any], path: Path, where: str) -> Iterator[dict[str, Any]]:
    for i, m in enumerate(raw):
        if not isinstance(m, dict) or "role" not in m:
            raise ConfigurationError(f"{path}: {where}: message {i} has no 'role'")
        yield m


def _tool_stub(tokens: int) -> list[dict[str, Any]]:
    """One placeholder tool whose schema text is about ``tokens`` tokens long."""
    if tokens <= 0:
        return []
    return [
        {
            "type": "function",
            "function": {"name": "recorded_tools", "description": "x" * (tokens * 4 - 60)},
        }
    ]


async def replay_runs(
    config: RouterConfig,
    runs: Sequence[RecordedRun],
    *,
    tools_tokens: int = 2100,
    progress: Callable[[int], None] | None = None,
) -> list[RunReplay]:
    """Route every model call of every run; one :class:`RunReplay` per run."""
    top_tier = config.tier_names[-1]
    top_price = config.models[config.tiers[top_tier][0]].price
    tools = _tool_stub(tools_tokens)
    provider = _RecordedProvider()
    quiet = config.telemetry.model_copy(update={"log_events": False})
    router = Router(
        config.model_copy(update={"telemetry": quiet}),
        providers=dict.fromkeys(config.providers, provider),
    )
    out: list[RunReplay] = []
    for done, run in enumerate(runs, start=1):
        tiers: list[str] = []
        causes: list[str] = []
        cost = top = 0.0
        async with router.session(id=run.id):
            for i, m in enumerate(run.messages):
                if m.get("role") != "assistant":
                    continue
                provider.answer = m
                result = await router.complete(list(run.messages[:i]), tools=tools)
                decision, target = result.decision, result.target
                if decision is None or target is None:  # pragma: no cover - the chain sets both
                    raise RuntimeError("routed result without decision or target")
                tiers.append(decision.tier)
                causes.append(str(decision.cause))
                prompt = decision.signals.context_tokens if decision.signals else 0
                usage = Usage(prompt, result.usage.output_tokens)
                cost += cost_usd(usage, config.models[target.model].price)
                top += cost_usd(usage, top_price)
        out.append(RunReplay(run, tuple(tiers), tuple(causes), cost, top))
        if progress is not None:
            progress(done)
    return out


class _RecordedProvider:
    """Answers every call with the recorded assistant message's size as output tokens."""

    def __init__(self) -> None:
        self.answer: dict[str, Any] = {}
        self._counter = EstimateCounter()

    async def send(self, call: ModelCall, /) -> ModelResult:
        tokens = self._counter.count(message_text(self.answer)) + 4
        return ModelResult(text="", usage=Usage(0, tokens))


@dataclass(frozen=True, slots=True)
class ReplaySummary:
    runs: int
    calls: int
    tier_calls: dict[str, int]
    mean_switches: float
    escalated_failed: tuple[int, int]
    escalated_succeeded: tuple[int, int]
    projected_cost_usd: float
    top_tier_cost_usd: float


def summarize(config: RouterConfig, replays: Sequence[RunReplay]) -> ReplaySummary:
    """Tier distribution, switches, and how often failed vs successful runs went above start."""
    start = config.tier_names.index(config.start_tier)
    order = {t: i for i, t in enumerate(config.tier_names)}
    counts: Counter[str] = Counter(t for r in replays for t in r.tiers)

    def escalated(runs: list[RunReplay]) -> tuple[int, int]:
        return sum(1 for r in runs if any(order[t] > start for t in r.tiers)), len(runs)

    return ReplaySummary(
        runs=len(replays),
        calls=sum(len(r.tiers) for r in replays),
        tier_calls={t: counts.get(t, 0) for t in config.tier_names},
        mean_switches=sum(r.switches for r in replays) / len(replays) if replays else 0.0,
        escalated_failed=escalated([r for r in replays if r.run.success is False]),
        escalated_succeeded=escalated([r for r in replays if r.run.success is True]),
        projected_cost_usd=sum(r.projected_cost_usd for r in replays),
        top_tier_cost_usd=sum(r.top_tier_cost_usd for r in replays),
    )


def summary_lines(config: RouterConfig, s: ReplaySummary) -> list[str]:
    """The headline figures, one sentence each."""

    def share(pair: tuple[int, int]) -> str:
        up, n = pair
        return f"{up}/{n} ({up / n:.0%})" if n else "n/a (no labels)"

    return [
        f"Mean tier switches per run: {s.mean_switches:.2f}",
        f"Failed runs that reached a tier above `{config.start_tier}`: "
        + share(s.escalated_failed),
        f"Successful runs that reached a tier above `{config.start_tier}`: "
        + share(s.escalated_succeeded),
        f"Projected cost without prompt caching: ${s.projected_cost_usd:.2f} routed vs "
        f"${s.top_tier_cost_usd:.2f} with every call on the top tier's first model",
    ]


def report_markdown(
    config: RouterConfig,
    replays: Sequence[RunReplay],
    *,
    command: str,
    source: str,
    tools_tokens: int,
    max_rows: int = 40,
) -> str:
    """The replay as a markdown page: summary, tier distribution, per-run tier sequences."""
    s = summarize(config, replays)
    letters = {t: t[0].upper() for t in config.tier_names}
    lines = [
        "# Policy replay",
        "",
        f"Command: `{command}`",
        "",
        f"Source: {source} — {s.runs} runs, {s.calls} model calls. Tool schemas are not in the "
        f"recording: {tools_tokens:,} tokens per call were assumed for them.",
        "",
        "| tier | calls | share |",
        "|---|---:|---:|",
    ]
    for tier, n in s.tier_calls.items():
        lines.append(f"| {tier} | {n} | {n / s.calls:.1%} |" if s.calls else f"| {tier} | 0 | - |")
    lines += ["", *(f"- {line}" for line in summary_lines(config, s)), ""]
    lines += [
        "Tier sequence per run (one letter per call: "
        + ", ".join(f"{v} = {k}" for k, v in letters.items())
        + "):",
        "",
        "| run | solved | calls | switches | tiers |",
        "|---|---|---:|---:|---|",
    ]
    for r in replays[:max_rows]:
        solved = {True: "yes", False: "no", None: "?"}[r.run.success]
        seq = "".join(letters[t] for t in r.tiers)
        lines.append(f"| {r.run.id} | {solved} | {len(r.tiers)} | {r.switches} | `{seq}` |")
    if len(replays) > max_rows:
        lines.append(f"| … {len(replays) - max_rows} more runs | | | | |")
    return "\n".join(lines) + "\n"
