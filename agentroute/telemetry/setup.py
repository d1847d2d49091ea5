"""Tracing set-up for applications and the CLI (the library itself never calls these).

:func:`tracer_provider_for` builds an SDK ``TracerProvider`` that exports over OTLP/HTTP
(counting what it sent and lost), or keeps the spans in memory; :func:`format_span_tree`
turns finished spans into a compact, indented tree for a terminal. Both need the OpenTelemetry
SDK (``pip install 'agentroute[otel]'``), imported when called, so importing this module
costs nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentroute.errors import ConfigurationError
from agentroute.telemetry import attributes as A

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

__all__ = [
    "ExportTally",
    "Tracing",
    "format_span_tree",
    "otlp_traces_url",
    "tracer_provider_for",
]

_INSTALL = "pip install 'agentroute[otel]'"
TRACES_PATH = "/v1/traces"


def otlp_traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL for a base ``endpoint`` (``<endpoint>/v1/traces``), as the
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` convention says; a URL already ending so is kept."""
    base = endpoint.rstrip("/")
    return base if base.endswith(TRACES_PATH) else base + TRACES_PATH


class ExportTally:
    """Counts what an exporter it wraps sent and failed to send, so a command line can say
    whether the spans reached the backend (the SDK only logs a failed batch)."""

    def __init__(self) -> None:
        self.sent = 0
        self.failed = 0


def _tallied(exporter: SpanExporter, tally: ExportTally) -> SpanExporter:
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class _Tallied(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            result = exporter.export(spans)
            if result is SpanExportResult.SUCCESS:
                tally.sent += len(spans)
            else:
                tally.failed += len(spans)
            return result

        def shutdown(self) -> None:
            exporter.shutdown()

        def force_flush(self, timeout_millis: int = 30_000) -> bool:
            return exporter.force_flush(timeout_millis)

    return _Tallied()


@dataclass(frozen=True, slots=True)
class Tracing:
    """An SDK provider with where its spans go: ``memory`` (no endpoint) or OTLP/HTTP, whose
    ``tally`` counts spans sent and lost. Call ``provider.force_flush()`` and
    ``provider.shutdown()`` when done."""

    provider: TracerProvider
    memory: InMemorySpanExporter | None = None
    tally: ExportTally | None = None


def tracer_provider_for(
    otlp_endpoint: str | None, *, service_name: str = "agentroute-demo"
) -> Tracing:
    """An SDK provider exporting to ``otlp_endpoint`` over OTLP/HTTP (batched), or, with no
    endpoint, to an in-memory exporter.

    The resource names the service ``service_name`` (or ``OTEL_SERVICE_NAME``) and files the
    spans under the Phoenix project of the same name (``openinference.project.name``);
    ``OTEL_RESOURCE_ATTRIBUTES`` adds to or overrides both, as in the SDK's own set-up."""
    try:
        from opentelemetry.sdk.resources import SERVICE_NAME, OTELResourceDetector, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
            InMemorySpanExporter,
        )
    except ImportError as exc:  # pragma: no cover - the dev environment has the SDK
        raise ConfigurationError(
            f"tracing needs the OpenTelemetry SDK: {_INSTALL} ({exc})"
        ) from None
    from_env = OTELResourceDetector().detect().attributes
    service = from_env.get(SERVICE_NAME, service_name)
    defaults = {SERVICE_NAME: service, A.OPENINFERENCE_PROJECT_NAME: service}
    provider = TracerProvider(resource=Resource.create({**defaults, **from_env}))
    if otlp_endpoint:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError as exc:  # pragma: no cover - the dev environment has the exporter
            raise ConfigurationError(
                f"exporting spans over OTLP/HTTP needs opentelemetry-exporter-otlp-proto-http: "
                f"{_INSTALL} ({exc})"
            ) from None
        tally = ExportTally()
        exporter = OTLPSpanExporter(endpoint=otlp_traces_url(otlp_endpoint))
        provider.add_span_processor(BatchSpanProcessor(_tallied(exporter, tally)))
        return Tracing(provider, tally=tally)
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return Tracing(provider, memory=memory)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".") if value else "0"
    return str(value)


def _details(span: ReadableSpan) -> str:
    attrs = span.attributes or {}
    parts: list[str] = []

    def add(key: str, label: str) -> None:
        if key in attrs:
            parts.append(f"{label}={_fmt(attrs[key])}")

    if span.name == A.ROUTE_SPAN:
        add(A.SESSION_STEP, "step")
        add(A.DECISION_TIER, "tier")
        add(A.DECISION_CAUSE, "cause")
        add(A.SWITCH_EXPECTED_SAVING, "saving$")
        add(A.AFFINITY_KIND, "pin")
        add(A.ATTEMPT_COUNT, "attempts")
        add(A.COST_USD, "cost$")
    elif attrs.get(A.GEN_AI_OPERATION_NAME) == A.CHAT_OPERATION:
        add(A.DEPLOYMENT, "at")
        add(A.GEN_AI_USAGE_INPUT_TOKENS, "in")
        add(A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, "cached")
        add(A.GEN_AI_USAGE_OUTPUT_TOKENS, "out")
    add(A.ERROR_TYPE, "error.type")
    return " ".join(parts)


def format_span_tree(spans: Iterable[ReadableSpan], *, max_depth: int | None = None) -> list[str]:
    """One line per span (name, duration in ms, key attributes), children indented under
    their parent and ordered by start time; spans whose parent is absent are roots.
    ``max_depth`` (0 = roots only) cuts deeper spans."""
    items = list(spans)
    ids = {s.context.span_id for s in items if s.context is not None}
    children: dict[int | None, list[ReadableSpan]] = {}
    for s in items:
        parent = s.parent.span_id if s.parent is not None else None
        children.setdefault(parent if parent in ids else None, []).append(s)
    lines: list[str] = []

    def walk(level: Sequence[ReadableSpan], depth: int) -> None:
        for s in sorted(level, key=lambda x: x.start_time or 0):
            ms = ((s.end_time or 0) - (s.start_time or 0)) / 1e6 if s.end_time else 0.0
            details = _details(s)
            lines.append(
                f"{'  ' * depth}{s.name}  {ms:.1f} ms" + (f"  {details}" if details else "")
            )
            if (max_depth is None or depth < max_depth) and s.context is not None:
                walk(children.get(s.context.span_id, []), depth + 1)

    walk(children.get(None, []), 0)
    return lines
