"""Telemetry as an application sets it up: its own tracer and meter providers, its structlog.

The library only emits: it never configures structlog or a global OpenTelemetry provider.
Here the application builds an SDK ``TracerProvider`` (spans kept in memory; swap in an
OTLP exporter to send them to a backend) and a ``MeterProvider`` with an in-memory reader,
hands both to the ``Router``, and configures structlog, so the router's ``route.*`` events
appear. One agent session of three steps: a start on ``small``, an escalation asked for by
the application, then a failing deployment and a fallback, which breaks the session's pin.

Needs the OpenTelemetry SDK (``pip install 'agentroute[otel]'``); runs offline on agentroute's
test doubles::

    python examples/traces_and_metrics.py
"""

from __future__ import annotations

import logging
import sys

import anyio
import structlog

import agentroute
from agentroute.testing import ScriptedProvider, text_result

try:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
except ImportError:  # pragma: no cover - the dev install has the SDK
    sys.exit("this example needs the OpenTelemetry SDK: pip install 'agentroute[otel]'")

from agentroute.telemetry.setup import format_span_tree

CONFIG = {
    "providers": {"east": {"kind": "openai"}, "west": {"kind": "anthropic"}},
    "models": {
        "small": {
            "context_window": 32_000,
            "price": {"input": 0.15, "output": 0.6, "cache_read": 0.075},
            "deployments": [{"provider": "east", "name": "small-v1"}],
        },
        "large": {
            "context_window": 200_000,
            "price": {"input": 3.0, "output": 15.0, "cache_read": 0.3},
            "deployments": [
                {"provider": "east", "name": "large-v1"},
                {"provider": "west", "name": "large-v1"},
            ],
        },
    },
    "tiers": {"simple": ["small"], "complex": ["large"]},
    "resilience": {"max_retries": 0},
}


async def main() -> None:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    metrics = InMemoryMetricReader()
    structlog.configure(  # the application's choice: here, the router's events at info and up
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stdout),
    )

    east = ScriptedProvider(
        [
            text_result("Let me look that up.", usage=agentroute.Usage(1200, 12)),
            text_result("Here is a careful answer.", usage=agentroute.Usage(1400, 40)),
            agentroute.ProviderUnavailable("overloaded", status_code=529),
        ]
    )
    west = ScriptedProvider([text_result("Done.", usage=agentroute.Usage(1600, 8))])
    router = agentroute.Router(
        CONFIG,
        providers={"east": east, "west": west},
        tracer_provider=tracer_provider,
        meter_provider=MeterProvider(metric_readers=[metrics]),
    )
    messages = [
        {"role": "system", "content": "You are a support agent."},
        {"role": "user", "content": "Why was I charged twice?"},
    ]
    print("structlog events:")
    async with router.session("ticket-7", agent="support") as session:
        await router.complete(messages)
        session.escalate("the customer is upset")
        await router.complete(messages)
        await router.complete(messages)  # east fails: west serves, the pin moves

    print("\nspans:")
    for line in format_span_tree(spans.get_finished_spans()):
        print(" ", line)

    print("\nmetrics (sums over all attribute sets):")
    data = metrics.get_metrics_data()
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                points = list(metric.data.data_points)
                total = sum(getattr(p, "sum", getattr(p, "value", 0)) for p in points)
                print(f"  {metric.name}: {total:g} {metric.unit}".rstrip())
    tracer_provider.shutdown()


if __name__ == "__main__":
    anyio.run(main)
