"""Spans a sampler drops: the router's still carry the trace context.

A route or ``chat`` span the sampler drops records nothing (the router builds none of its
attributes), but it is still the current span while the call runs, so the application's own
spans made inside the routed function parent to it: a parent-based sampler then drops them
with it, and a sampler that keeps them keeps them in the router's trace, below the router's
spans, as with recorded ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
)
from opentelemetry.trace import Link, SpanKind, TraceState
from opentelemetry.util.types import Attributes

from agentroute import Router
from agentroute.testing import FakeClock, ScriptedProvider, openai_response
from tests.helpers import CONVERSATION, config_dict

pytestmark = pytest.mark.anyio


class DropTheRoutersSpans(Sampler):
    """Drops the router's spans (by name), keeps every other; notes each span's parent."""

    def __init__(self) -> None:
        self.parents: dict[str, int | None] = {}
        """span name → the span id of the parent it was started under (None: a root)."""

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        parent = trace.get_current_span(parent_context).get_span_context()
        self.parents[name] = parent.span_id if parent.is_valid else None
        routers = name == "agentroute.route" or name.startswith("chat ")
        return SamplingResult(Decision.DROP if routers else Decision.RECORD_AND_SAMPLE)

    def get_description(self) -> str:
        return "DropTheRoutersSpans"


def _router(provider: TracerProvider) -> Router:
    return Router(
        config_dict(telemetry={"log_events": False}),
        providers={"alpha": ScriptedProvider(), "beta": ScriptedProvider()},
        tracer_provider=provider,
        clock=FakeClock(),
    )


async def test_a_users_span_parents_to_the_routers_sampled_out_spans() -> None:
    sampler = DropTheRoutersSpans()
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampler)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("app")
    seen: dict[str, Any] = {}

    async def call_llm(messages: list[dict[str, Any]], *, model: str) -> dict[str, Any]:
        current = trace.get_current_span()
        seen["recording"] = current.is_recording()
        seen["current"] = current.get_span_context()
        with tracer.start_as_current_span("user.work"):
            pass
        return openai_response("ok")

    routed = _router(provider).wrap(call_llm)
    with tracer.start_as_current_span("app.run") as app:
        await routed(CONVERSATION)
    app_context = app.get_span_context()

    # only the application's spans were recorded: the router's were dropped
    assert sorted(s.name for s in exporter.get_finished_spans()) == ["app.run", "user.work"]
    (work,) = (s for s in exporter.get_finished_spans() if s.name == "user.work")
    chat = next(name for name in sampler.parents if name.startswith("chat "))
    # the function ran under the router's (not recording) chat span, in the app's trace
    assert seen["recording"] is False
    assert seen["current"].is_valid and seen["current"].trace_id == app_context.trace_id
    # app.run → agentroute.route → chat → user.work, the dropped spans in between
    assert sampler.parents["agentroute.route"] == app_context.span_id
    route_id = sampler.parents[chat]  # (a dropped span's id is only seen by its children)
    assert route_id not in (None, app_context.span_id, seen["current"].span_id)
    assert sampler.parents["user.work"] == seen["current"].span_id  # the chat span's
    assert seen["current"].span_id != app_context.span_id
    assert work.parent is not None and work.parent.span_id == seen["current"].span_id
    assert work.context.trace_id == app_context.trace_id


async def test_a_parent_based_sampler_drops_the_users_spans_with_the_routers() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ParentBased(ALWAYS_OFF))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("app")

    async def call_llm(messages: list[dict[str, Any]], *, model: str) -> dict[str, Any]:
        with tracer.start_as_current_span("user.work") as work:
            assert not work.is_recording()
        return openai_response("ok")

    routed = _router(provider).wrap(call_llm)
    assert (await routed(CONVERSATION))["choices"][0]["message"]["content"] == "ok"
    assert exporter.get_finished_spans() == ()
