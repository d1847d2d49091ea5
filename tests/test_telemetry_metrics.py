"""OpenTelemetry metrics: the GenAI client histograms with the spec's buckets, the
router's counters, and only low-cardinality attributes (never a session id).

A local SDK ``MeterProvider`` with an ``InMemoryMetricReader`` is passed to the Router.
"""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    HistogramDataPoint,
    InMemoryMetricReader,
    NumberDataPoint,
)

from agentroute import ProviderUnavailable, Router
from agentroute.telemetry import attributes as A
from agentroute.testing import FakeClock, ScriptedProvider
from tests.helpers import CONVERSATION, config_dict

pytestmark = pytest.mark.anyio

Points = dict[str, list[HistogramDataPoint | NumberDataPoint]]


async def run_session() -> Points:
    """Three steps: small (new pin), escalated to mid-1 (new pin), mid-1 fails → mid-b."""
    reader = InMemoryMetricReader()
    data = config_dict()
    data["models"]["mid"]["price"]["cache_read"] = 0.2
    alpha = ScriptedProvider(["one", "two", ProviderUnavailable("down")])
    beta = ScriptedProvider(["three", "four"])
    router = Router(
        data,
        providers={"alpha": alpha, "beta": beta},
        clock=FakeClock(),
        meter_provider=MeterProvider(metric_readers=[reader]),
    )
    async with router.session("sess-unbounded-id-42", agent="support") as session:
        await router.complete(CONVERSATION)
        session.escalate()
        await router.complete(CONVERSATION)
        await router.complete(CONVERSATION)
        await router.complete(CONVERSATION)  # mid-b again: an affinity hit
    metrics_data = reader.get_metrics_data()
    assert metrics_data is not None
    out: Points = {}
    for rm in metrics_data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                out.setdefault(metric.name, []).extend(metric.data.data_points)  # type: ignore[arg-type]
    return out


def total(points: Points, name: str, **attrs: Any) -> float:
    found = 0.0
    for p in points.get(name, []):
        if all(p.attributes.get(k) == v for k, v in attrs.items()):  # type: ignore[union-attr]
            found += p.sum if isinstance(p, HistogramDataPoint) else p.value
    return found


async def test_genai_histograms_use_the_spec_buckets() -> None:
    points = await run_session()
    tokens = points[A.METRIC_TOKEN_USAGE]
    durations = points[A.METRIC_OPERATION_DURATION]
    assert all(isinstance(p, HistogramDataPoint) for p in tokens + durations)
    assert {tuple(p.explicit_bounds) for p in tokens} == {tuple(map(float, A.TOKEN_USAGE_BUCKETS))}  # type: ignore[union-attr]
    assert {tuple(p.explicit_bounds) for p in durations} == {A.DURATION_BUCKETS}  # type: ignore[union-attr]
    # 4 successful attempts × 10 input / 5 output tokens
    assert total(points, A.METRIC_TOKEN_USAGE, **{A.GEN_AI_TOKEN_TYPE: "input"}) == 40
    assert total(points, A.METRIC_TOKEN_USAGE, **{A.GEN_AI_TOKEN_TYPE: "output"}) == 20
    assert sum(p.count for p in durations) == 5  # type: ignore[union-attr]
    failed = [p for p in durations if p.attributes.get(A.ERROR_TYPE)]  # type: ignore[union-attr]
    assert [p.attributes[A.ERROR_TYPE] for p in failed] == ["ProviderUnavailable"]  # type: ignore[index]


async def test_router_counters() -> None:
    points = await run_session()
    assert total(points, A.METRIC_DECISIONS) == 4
    assert total(points, A.METRIC_DECISIONS, **{A.DECISION_CAUSE: "escalation_request"}) == 1
    assert total(points, A.METRIC_ESCALATIONS) == 1
    assert total(points, A.METRIC_ESCALATIONS, **{A.DECISION_TIER: "medium"}) == 1
    assert total(points, A.METRIC_FALLBACKS) == 1
    assert total(points, A.METRIC_FALLBACKS, **{A.GEN_AI_REQUEST_MODEL: "mid-b"}) == 1
    assert total(points, A.METRIC_AFFINITY_BREAKS, **{A.MODEL: "mid"}) == 1
    assert total(points, A.METRIC_AFFINITY_HITS, **{A.MODEL: "mid"}) == 1
    assert total(points, A.METRIC_COST) > 0


async def test_metric_attributes_stay_within_the_allow_list() -> None:
    points = await run_session()
    assert points
    for name, data_points in points.items():
        for p in data_points:
            keys = set(p.attributes or {})
            assert keys <= A.METRIC_ATTRIBUTES, (name, keys - A.METRIC_ATTRIBUTES)
            assert "sess-unbounded-id-42" not in repr(p.attributes)
