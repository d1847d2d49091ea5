"""Synthetic outcome tables: every model of a config run on made-up tasks, from a seed.

For tests and for a benchmark that needs no recorded runs. The same ``SyntheticSpec`` and
config always give the same table. How a row is made (all knobs are fields of the spec):

* **Tasks** ``t0000 … t{N-1}``, each given a difficulty ``d`` in [0, 1] drawn from ``mix``
  (name, share, d): by default 50% easy (0.2), 30% medium (0.5), 20% hard (0.8).
* **Models**: every model of the config's tiers, in ladder order. Each has a strength ``s``
  in [0, 1]: ``strength`` overrides; by default spread evenly from ``weakest`` (the first
  model) to ``strongest`` (the last).
* **Solved** with probability ``min(max_solve, 1 / (1 + exp(-sharpness × (s − d))))``,
  independently per (task, model): runs are correlated through the task's difficulty only.
* **Calls**: ``(base_calls + calls_per_difficulty × d) × u × scale`` with ``u`` uniform in
  [0.6, 1.4] and ``scale`` the model's ``calls_scale`` (default 1: every model's runs are as
  long), times ``fail_factor`` when the run failed — failed runs flail longer, which is what a
  step-based escalation bets on — rounded, and kept within 1 … ``max_calls``. A per-model
  scale makes ladders whose models' typical run lengths differ (``calls_scale`` of 4 on the
  cheap model and 1 on the strong one: the cheap model's runs are 4× as long); raise
  ``max_calls`` with it, or the long runs are cut at 40.
* **Cost**: ``calls × cost per call``; ``cost_per_call`` overrides, by default each model's
  configured price for ``input_tokens_per_call`` input and ``output_tokens_per_call`` output
  tokens (no prompt cache).

Draws happen in a fixed order (per task: its difficulty, then per model: solved, calls) from
one ``random.Random(seed)``.
"""

from __future__ import annotations

import math
import random

from agentroute._frozen import value_object
from agentroute.bench.outcomes import Outcome, OutcomeTable
from agentroute.config import RouterConfig
from agentroute.errors import ConfigurationError

__all__ = [
    "SyntheticSpec",
    "calls_scales",
    "costs_per_call",
    "describe",
    "generate",
    "model_strengths",
]


@value_object
class SyntheticSpec:
    """The knobs of :func:`generate` (see the module docstring for how each is used)."""

    tasks: int = 200
    seed: int = 0
    mix: tuple[tuple[str, float, float], ...] = (
        ("easy", 0.5, 0.2),
        ("medium", 0.3, 0.5),
        ("hard", 0.2, 0.8),
    )
    strength: tuple[tuple[str, float], ...] = ()
    weakest: float = 0.3
    strongest: float = 0.85
    sharpness: float = 8.0
    max_solve: float = 0.97
    base_calls: float = 3.0
    calls_per_difficulty: float = 12.0
    fail_factor: float = 2.0
    max_calls: int = 40
    calls_scale: tuple[tuple[str, float], ...] = ()
    cost_per_call: tuple[tuple[str, float], ...] = ()
    input_tokens_per_call: int = 4000
    output_tokens_per_call: int = 250


def _check(spec: SyntheticSpec, models: list[str]) -> None:
    problems = []
    if spec.tasks < 1:
        problems.append(f"tasks: at least 1, got {spec.tasks}")
    if not spec.mix or any(share <= 0 or not 0 <= d <= 1 for _, share, d in spec.mix):
        problems.append("mix: each entry needs a share > 0 and a difficulty in [0, 1]")
    if spec.max_calls < 1:
        problems.append(f"max_calls: at least 1, got {spec.max_calls}")
    for field, pairs in (
        ("strength", spec.strength),
        ("cost_per_call", spec.cost_per_call),
        ("calls_scale", spec.calls_scale),
    ):
        for model, value in pairs:
            if model not in models:
                problems.append(f"{field}.{model}: not a model of the config's tiers")
            elif field == "calls_scale" and not (value > 0 and math.isfinite(value)):
                problems.append(f"{field}.{model}: must be a number > 0, got {value:g}")
            elif value < 0:
                problems.append(f"{field}.{model}: must be >= 0")
    if problems:
        raise ConfigurationError("invalid synthetic spec: " + "; ".join(problems))


def model_strengths(config: RouterConfig, spec: SyntheticSpec) -> dict[str, float]:
    """Each tier model's strength: the spec's override, else spread weakest → strongest."""
    models = [m for ms in config.tiers.values() for m in ms]
    n = len(models)
    spread = {
        m: spec.strongest
        if n == 1
        else spec.weakest + (spec.strongest - spec.weakest) * i / (n - 1)
        for i, m in enumerate(models)
    }
    return spread | dict(spec.strength)


def costs_per_call(config: RouterConfig, spec: SyntheticSpec) -> dict[str, float]:
    """USD per call of each tier model: the spec's override, else from the configured price."""
    out = {}
    for ms in config.tiers.values():
        for m in ms:
            price = config.models[m].price
            out[m] = (
                spec.input_tokens_per_call * price.input
                + spec.output_tokens_per_call * price.output
            ) * 1e-6
    return out | dict(spec.cost_per_call)


def calls_scales(config: RouterConfig, spec: SyntheticSpec) -> dict[str, float]:
    """Each tier model's run-length factor: the spec's ``calls_scale``, else 1."""
    return {m: 1.0 for ms in config.tiers.values() for m in ms} | dict(spec.calls_scale)


def describe(config: RouterConfig, spec: SyntheticSpec) -> list[str]:
    """The spec as sentences, for a report: what the made-up table assumed."""
    strength = model_strengths(config, spec)
    per_call = costs_per_call(config, spec)
    mix = ", ".join(
        f"{share / sum(s for _, s, _ in spec.mix):.0%} {name} (d={d:g})"
        for name, share, d in spec.mix
    )
    lines = [
        f"Synthetic table: {spec.tasks} tasks, seed {spec.seed}; difficulty mix {mix}.",
        "Models (strength s; USD per call): "
        + ", ".join(f"{m} (s={strength[m]:.2f}; ${per_call[m]:.5f})" for m in strength)
        + f". Costs per call: {spec.input_tokens_per_call:,} input + "
        f"{spec.output_tokens_per_call:,} output tokens at the configured prices, no cache.",
        f"P(solved) = min({spec.max_solve:g}, 1/(1+exp(-{spec.sharpness:g}·(s-d)))), independent "
        f"per run; calls = ({spec.base_calls:g} + {spec.calls_per_difficulty:g}·d) × U(0.6, 1.4),"
        f" × {spec.fail_factor:g} for a failed run, within 1 … {spec.max_calls}.",
    ]
    if spec.calls_scale:  # said only when set, so a default table's description stays as it was
        scale = calls_scales(config, spec)
        lines.append(
            "Calls scale (each model's run length, × the calls above): "
            + ", ".join(f"{m} ×{scale[m]:g}" for m in scale)
            + "."
        )
    return lines


def generate(config: RouterConfig, spec: SyntheticSpec | None = None) -> OutcomeTable:
    """A synthetic table for every model of ``config``'s tiers (deterministic given the seed).

    Raises :class:`~agentroute.errors.ConfigurationError` for a spec that cannot be used.
    """
    spec = spec or SyntheticSpec()
    models = [m for ms in config.tiers.values() for m in ms]
    _check(spec, models)
    strength = model_strengths(config, spec)
    per_call = costs_per_call(config, spec)
    scale = calls_scales(config, spec)
    total = sum(share for _, share, _ in spec.mix)
    rng = random.Random(spec.seed)
    rows: list[Outcome] = []
    width = max(4, len(str(spec.tasks - 1)))
    for t in range(spec.tasks):
        d = _difficulty(rng.random() * total, spec.mix)
        task = f"t{t:0{width}d}"
        for model in models:
            p = 1.0 / (1.0 + math.exp(-spec.sharpness * (strength[model] - d)))
            solved = rng.random() < min(spec.max_solve, p)
            mean = spec.base_calls + spec.calls_per_difficulty * d
            raw = mean * rng.uniform(0.6, 1.4) * (1.0 if solved else spec.fail_factor)
            raw *= scale[model]  # × 1.0 by default: the same float, so default tables stay put
            calls = min(spec.max_calls, max(1, round(raw)))
            cost = round(calls * per_call[model], 9)
            rows.append(Outcome(task, model, solved, cost, calls, len(rows) + 1))
    return OutcomeTable(tuple(rows), f"synthetic(tasks={spec.tasks}, seed={spec.seed})")


def _difficulty(point: float, mix: tuple[tuple[str, float, float], ...]) -> float:
    for _, share, d in mix:
        if point < share:
            return d
        point -= share
    return mix[-1][2]
