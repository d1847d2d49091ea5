"""Spans and metrics of streamed calls (``Router.stream()``).

A streamed attempt's ``chat`` span and its GenAI metrics wait for the stream's end, so they
carry the usage and cost of the last chunk; a failure before the first chunk ends the span at
once, like any failed attempt; a stream left early ends it as ``cancelled``; a stream broken
after output ends it with the error.
"""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from agentroute import (
    ProviderConnectionError,
    ProviderUnavailable,
    Router,
    StreamChunk,
    StreamInterrupted,
    ToolCallDelta,
    Usage,
)
from agentroute.telemetry import attributes as A
from agentroute.testing import FakeClock, StreamingProvider, StreamPiece
from tests.helpers import CONVERSATION, config_dict

pytestmark = pytest.mark.anyio

MEDIUM = {"min_tier": "medium"}  # tier "medium": model mid on alpha/mid-1, then beta/mid-b
USAGE = Usage(input_tokens=1000, output_tokens=20)
ANSWER = [
    StreamChunk(text="Hel"),
    StreamChunk(text="lo"),
    StreamChunk(tool_calls=(ToolCallDelta(0, id="call_1", name="lookup", arguments='{"q"'),)),
    StreamChunk(tool_calls=(ToolCallDelta(0, arguments=': "x"}'),)),
    StreamChunk(finish_reason="tool_calls"),
    StreamChunk(usage=USAGE),
]


class Traced:
    """A router over two streaming providers with an in-memory span exporter and metric
    reader (no global provider is set)."""

    def __init__(self, alpha: StreamingProvider, beta: StreamingProvider, **telemetry: Any):
        self.spans = InMemorySpanExporter()
        self.reader = InMemoryMetricReader()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        data = config_dict()
        data["resilience"] = {"max_retries": 0}
        data["telemetry"] = telemetry
        self.router = Router(
            data,
            providers={"alpha": alpha, "beta": beta},
            clock=FakeClock(),
            tracer_provider=tracer_provider,
            meter_provider=MeterProvider(metric_readers=[self.reader]),
        )

    async def read_all(self) -> None:
        async with self.router.session("s1"), self.router.stream(CONVERSATION, hints=MEDIUM) as s:
            async for _ in s:
                pass

    def chats(self) -> list[ReadableSpan]:
        spans = self.spans.get_finished_spans()
        return [s for s in spans if (s.attributes or {}).get(A.GEN_AI_OPERATION_NAME) == "chat"]

    def input_tokens(self) -> float:
        data = self.reader.get_metrics_data()
        assert data is not None
        found = 0.0
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name != A.METRIC_TOKEN_USAGE:
                        continue
                    for p in metric.data.data_points:
                        assert isinstance(p, HistogramDataPoint)
                        if p.attributes and p.attributes.get(A.GEN_AI_TOKEN_TYPE) == "input":
                            found += p.sum
        return found


async def test_a_streamed_chat_span_ends_with_the_stream_and_carries_its_usage() -> None:
    t = Traced(StreamingProvider(ProviderUnavailable("busy", status_code=503)),
               StreamingProvider(ANSWER))  # fmt: skip
    async with t.router.session("s1"), t.router.stream(CONVERSATION, hints=MEDIUM) as stream:
        # open: the failed attempt's span has ended, the serving one is still open
        assert [s.attributes[A.DEPLOYMENT] for s in t.chats()] == ["alpha/mid-1"]  # type: ignore[index]
        assert t.input_tokens() == 0
        chunks = [chunk async for chunk in stream]
    assert len(chunks) == len(ANSWER)
    failed, served = t.chats()
    assert failed.status.status_code is StatusCode.ERROR
    assert (failed.attributes or {})[A.ERROR_TYPE] == "ProviderUnavailable"
    attrs = served.attributes or {}
    assert attrs[A.DEPLOYMENT] == "beta/mid-b"
    assert served.status.status_code is StatusCode.UNSET
    assert A.ERROR_TYPE not in attrs
    assert attrs[A.GEN_AI_USAGE_INPUT_TOKENS] == USAGE.input_tokens
    assert attrs[A.GEN_AI_USAGE_OUTPUT_TOKENS] == USAGE.output_tokens
    assert attrs[A.COST_USD] == pytest.approx(stream.result.cost_usd) == pytest.approx(0.00208)
    assert attrs[A.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_calls",)
    assert A.GEN_AI_OUTPUT_MESSAGES not in attrs  # content is opt-in
    assert t.input_tokens() == USAGE.input_tokens
    route = next(s for s in t.spans.get_finished_spans() if s.name == A.ROUTE_SPAN)
    assert served.parent is not None and route.context is not None
    assert served.parent.span_id == route.context.span_id


async def test_a_stream_left_early_ends_its_span_as_cancelled_without_an_exception_event() -> None:
    t = Traced(StreamingProvider(ANSWER), StreamingProvider())
    async with t.router.session("s1"), t.router.stream(CONVERSATION, hints=MEDIUM) as stream:
        async for _ in stream:
            break
    (chat,) = t.chats()
    assert chat.end_time is not None
    assert (chat.attributes or {})[A.ERROR_TYPE] == A.CANCELLED
    assert chat.status.status_code is StatusCode.ERROR
    assert [e.name for e in chat.events] == []
    assert A.GEN_AI_USAGE_INPUT_TOKENS not in (chat.attributes or {})  # no usage had arrived


async def test_a_stream_broken_after_output_ends_its_span_with_the_error() -> None:
    broken: list[StreamPiece] = [
        StreamChunk(text="Hel"),
        ProviderConnectionError("connection reset"),
    ]
    t = Traced(StreamingProvider(broken), StreamingProvider())
    with pytest.raises(StreamInterrupted):
        await t.read_all()
    (chat,) = t.chats()
    assert (chat.attributes or {})[A.ERROR_TYPE] == "ProviderConnectionError"
    assert chat.status.status_code is StatusCode.ERROR
    assert [e.name for e in chat.events] == ["exception"]


async def test_captured_content_of_a_stream_is_the_assembled_text() -> None:
    t = Traced(StreamingProvider(ANSWER), StreamingProvider(), capture_content=True)
    await t.read_all()
    (chat,) = t.chats()
    attrs = chat.attributes or {}
    assert A.GEN_AI_INPUT_MESSAGES in attrs
    output = str(attrs[A.GEN_AI_OUTPUT_MESSAGES])
    assert '"content": "Hello"' in output
    assert '"finish_reason": "tool_calls"' in output
