"""Outcomes: checked inputs; a span linked to the session's trace, a metric by start and highest
tier, an event and a routing-log record; found across routers through the state store; an
outcome for an unknown session kept and said so."""

from __future__ import annotations

import io
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentroute import ConfigurationError, Router, SessionState
from agentroute.state import MemoryStateStore
from agentroute.telemetry import attributes as A
from agentroute.telemetry.outcomes import MAX_LABEL, check_outcome
from agentroute.telemetry.routing_log_schema import OutcomeLine, RoutingLogLine, SessionLine
from agentroute.testing import FakeClock, ScriptedProvider, capture_logs, text_result
from tests.helpers import CONVERSATION, config_dict

pytestmark = pytest.mark.anyio


# Inputs ------------------------------------------------------------------------------------


@given(
    success=st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=3)),
    score=st.one_of(
        st.none(),
        st.booleans(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(min_value=-(10**400), max_value=10**400),
        st.text(max_size=3),
    ),
    label=st.one_of(st.none(), st.text(max_size=MAX_LABEL + 20), st.integers()),
)
def test_outcome_inputs_are_accepted_or_refused_naming_the_argument(
    success: Any, score: Any, label: Any
) -> None:
    ok_success = success is None or isinstance(success, bool)
    ok_score = score is None or (
        not isinstance(score, bool)
        and isinstance(score, int | float)
        and (isinstance(score, float) or abs(score) < 10**300)
        and math.isfinite(float(score))
        and 0.0 <= float(score) <= 1.0
    )
    ok_label = label is None or (isinstance(label, str) and len(label) <= MAX_LABEL)
    if ok_success and ok_score and ok_label:
        record = check_outcome(success, score, label)
        assert record["success"] is success and record["label"] == label
        assert record["score"] is None or record["score"] == float(score)
        return
    with pytest.raises(ConfigurationError) as caught:
        check_outcome(success, score, label)
    first_bad = "success" if not ok_success else "score" if not ok_score else "label"
    assert first_bad in str(caught.value)


def test_the_ledger_knows_the_start_and_highest_tiers_reached() -> None:
    state = SessionState("s")
    assert state.start_tier is None and state.tiers_reached == ()
    restored = SessionState.restored("r", step=3, tier="medium")
    assert restored.start_tier == "medium"


# Telemetry ---------------------------------------------------------------------------------


def traced(**kwargs: Any) -> tuple[Router, InMemorySpanExporter, InMemoryMetricReader]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    provider = ScriptedProvider(default=text_result("ok"))
    r = Router(
        config_dict(),
        providers={"alpha": provider, "beta": provider},
        tracer_provider=tracer_provider,
        meter_provider=MeterProvider(metric_readers=[reader]),
        clock=FakeClock(),
        **kwargs,
    )
    return r, exporter, reader


def outcome_points(reader: InMemoryMetricReader) -> dict[tuple[tuple[str, Any], ...], Any]:
    data = reader.get_metrics_data()
    out: dict[tuple[tuple[str, Any], ...], Any] = {}
    for rm in data.resource_metrics if data is not None else ():
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == A.METRIC_SESSION_OUTCOMES:
                    for point in metric.data.data_points:
                        out[tuple(sorted((point.attributes or {}).items()))] = point.value  # type: ignore[union-attr]
    return out


async def test_an_outcome_is_a_linked_span_a_metric_an_event_and_rides_on_the_line() -> None:
    sink = io.StringIO()
    r, exporter, reader = traced(routing_log=sink)
    with capture_logs() as events:
        async with r, r.session(id="s1", agent="bot") as s:
            await r.complete(CONVERSATION)
            s.escalate()
            await r.complete(CONVERSATION)
            s.record_outcome(success=False, score=0.2, label="wrong answer")
    spans = exporter.get_finished_spans()
    routes = [x for x in spans if x.name == A.ROUTE_SPAN]
    (outcome,) = [x for x in spans if x.name == A.OUTCOME_SPAN]
    attrs = dict(outcome.attributes or {})
    assert attrs[A.GEN_AI_CONVERSATION_ID] == "s1" and attrs[A.OUTCOME_SUCCESS] is False
    assert (attrs[A.SESSION_START_TIER], attrs[A.SESSION_HIGHEST_TIER]) == ("simple", "medium")
    assert [link.context.span_id for link in outcome.links] == [routes[-1].context.span_id]
    assert outcome_points(reader) == {
        (
            (A.OUTCOME_SESSION_KNOWN, True),
            (A.OUTCOME_SUCCESS, "false"),
            (A.SESSION_HIGHEST_TIER, "medium"),
            (A.SESSION_START_TIER, "simple"),
        ): 1
    }
    (event,) = [e for e in events if e["event"] == "route.outcome"]
    assert (event["session_id"], event["success"], event["label"]) == ("s1", False, "wrong answer")
    (line,) = [RoutingLogLine.validate_json(x) for x in sink.getvalue().splitlines()]
    assert isinstance(line, SessionLine) and line.outcome is not None
    assert line.outcome.label == "wrong answer"


async def test_an_outcome_after_the_line_was_written_references_it() -> None:
    sink = io.StringIO()
    r, _, _ = traced(routing_log=sink)
    async with r:
        async with r.session(id="s1") as s:
            await r.complete(CONVERSATION)
        s.record_outcome(success=True)  # on the handle, after the block
        await r.record_outcome("s1", score=1.0)  # by id, later
    session, *outcomes = [RoutingLogLine.validate_json(x) for x in sink.getvalue().splitlines()]
    assert isinstance(session, SessionLine) and session.outcome is None
    assert len(outcomes) == 2
    for line in outcomes:
        assert isinstance(line, OutcomeLine)
        assert line.session_known and line.session_record == session.record_id
        assert line.start_tier == "simple"


async def test_an_outcome_for_an_unknown_session_is_kept_and_said_so() -> None:
    sink = io.StringIO()
    r, exporter, reader = traced(routing_log=sink)
    with capture_logs() as events:
        async with r:
            await r.record_outcome("never-seen", success=True, label="ok")
    (line,) = [RoutingLogLine.validate_json(x) for x in sink.getvalue().splitlines()]
    assert isinstance(line, OutcomeLine)
    assert (line.session_known, line.session_record, line.outcome.success) == (False, None, True)
    assert any(e["event"] == "route.outcome_unknown_session" for e in events)
    (span,) = [x for x in exporter.get_finished_spans() if x.name == A.OUTCOME_SPAN]
    assert span.links == () or not span.links
    assert dict(span.attributes or {})[A.OUTCOME_SESSION_KNOWN] is False
    assert list(outcome_points(reader).values()) == [1]
    with pytest.raises(ConfigurationError, match="session_id"):
        await r.record_outcome("")
    with pytest.raises(ConfigurationError, match="score"):
        await r.record_outcome("x", score=2.0)


async def test_a_second_router_on_the_same_store_finds_the_session() -> None:
    """Another process is simulated by a second Router sharing the store: it finds the ended
    session's summary, links its span to the first router's route span."""
    store = MemoryStateStore()
    first, exporter, _ = traced(state_store=store)
    async with first, first.session(id="shared") as s:
        await first.complete(CONVERSATION)
        s.escalate()
        await first.complete(CONVERSATION)
    route = [x for x in exporter.get_finished_spans() if x.name == A.ROUTE_SPAN][-1]
    sink = io.StringIO()
    second, exporter2, reader2 = traced(state_store=store, routing_log=sink)
    async with second:
        await second.record_outcome("shared", success=True)
    (span,) = [x for x in exporter2.get_finished_spans() if x.name == A.OUTCOME_SPAN]
    assert [link.context.span_id for link in span.links] == [route.context.span_id]
    assert [link.context.trace_id for link in span.links] == [route.context.trace_id]
    (line,) = [RoutingLogLine.validate_json(x) for x in sink.getvalue().splitlines()]
    assert isinstance(line, OutcomeLine) and line.session_known
    assert (line.start_tier, line.highest_tier) == ("simple", "medium")
    assert line.session_record is None  # the first router kept no routing log
    ((key, _),) = outcome_points(reader2).items()
    assert dict(key)[A.SESSION_HIGHEST_TIER] == "medium"


async def test_an_outcome_for_a_live_implicit_session_rides_on_its_line() -> None:
    sink = io.StringIO()
    r, _, _ = traced(routing_log=sink)
    async with r:
        await r.complete(CONVERSATION)
        (state,) = r._outcomes.log.open_sessions()  # type: ignore[union-attr]
        await r.record_outcome(state.key, success=True)
    (line,) = [RoutingLogLine.validate_json(x) for x in sink.getvalue().splitlines()]
    assert isinstance(line, SessionLine) and line.outcome is not None and line.outcome.success
