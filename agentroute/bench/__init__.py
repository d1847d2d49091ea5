"""Routing-quality benchmarks: what the policy would have cost and solved on recorded runs.

``agentroute bench cascade`` (:mod:`agentroute.bench.cli`) reads an outcome table — one
recorded run per (task, model): solved or not, cost, calls (:mod:`~agentroute.bench.outcomes`)
— or makes one up (:mod:`~agentroute.bench.synthetic`), lays the config's tier ladder over it
and replays the policy's step-based escalation under a documented approximation
(:mod:`~agentroute.bench.cascade`, escalation points from :mod:`~agentroute.bench.ladder`),
against each single model and the oracle (:mod:`~agentroute.bench.report`; the plot in
:mod:`~agentroute.bench.plot` needs the ``bench`` extra).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentroute.bench.cascade import Evaluation, evaluate
    from agentroute.bench.outcomes import (
        Outcome,
        OutcomeError,
        OutcomeTable,
        load_outcomes,
        write_outcomes,
    )
    from agentroute.bench.synthetic import SyntheticSpec, generate

# The CLI imports this package at start-up (for the ``bench`` group): the names below are
# loaded on first use so that ``agentroute --help`` does not pay for them.
_HOMES = {
    "Evaluation": "cascade",
    "evaluate": "cascade",
    "Outcome": "outcomes",
    "OutcomeError": "outcomes",
    "OutcomeTable": "outcomes",
    "load_outcomes": "outcomes",
    "write_outcomes": "outcomes",
    "SyntheticSpec": "synthetic",
    "generate": "synthetic",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'agentroute.bench' has no attribute {name!r}")
    return getattr(importlib.import_module(f"agentroute.bench.{home}"), name)


__all__ = [
    "Evaluation",
    "Outcome",
    "OutcomeError",
    "OutcomeTable",
    "SyntheticSpec",
    "evaluate",
    "generate",
    "load_outcomes",
    "write_outcomes",
]
