"""The demo's traces: a compact span tree on the terminal, or OTLP/HTTP to a backend.

The OTLP tests point the demo at a tiny HTTP server on 127.0.0.1 started here, which records
every POST to ``/v1/traces``; nothing leaves the loopback interface.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentroute.cli import main
from agentroute.telemetry import attributes as A
from agentroute.telemetry.setup import format_span_tree, otlp_traces_url, tracer_provider_for

ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"


class _Collector(ThreadingHTTPServer):
    posts: list[tuple[str, str, bytes]]
    status: int


class _Handler(BaseHTTPRequestHandler):
    server: _Collector

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.posts.append((self.path, self.headers.get("Content-Type", ""), body))
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[tuple[str, _Collector]]:
    server = _Collector(("127.0.0.1", 0), _Handler)
    server.posts = []
    server.status = 200
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _trace_posts(server: _Collector) -> list[bytes]:
    return [
        body
        for path, ctype, body in server.posts
        if path == "/v1/traces" and ctype == "application/x-protobuf" and body
    ]


def test_demo_prints_a_span_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    result = CliRunner().invoke(main, ["demo"], env={"COLUMNS": "220"})
    assert result.exit_code == 0, result.output
    tree = result.output.split("spans (set --otlp URL")[1].splitlines()[1:]
    assert tree[0].startswith("invoke_agent support")
    assert any(line.startswith("  agentroute.route") and "tier=simple" in line for line in tree)
    assert any(line.startswith("    chat small-v1") and "in=" in line for line in tree)
    assert any("error.type=ProviderUnavailable" in line for line in tree)
    assert any("pin=break" in line for line in tree)


def test_without_the_sdk_the_demo_still_runs_and_says_how_to_see_spans(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """README command 1 installs agentroute without the SDK: the demo must still work."""
    import agentroute.telemetry.setup as setup
    from agentroute.errors import ConfigurationError

    def no_sdk(endpoint: str | None, **kwargs: object) -> None:
        raise ConfigurationError("tracing needs the OpenTelemetry SDK")

    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.setattr(setup, "tracer_provider_for", no_sdk)
    result = CliRunner().invoke(main, ["demo"], env={"COLUMNS": "220"})
    assert result.exit_code == 0, result.output
    assert "solved: yes" in result.output
    assert "pip install 'agentroute[otel]'" in result.output
    # asked to export without the SDK, it refuses with the reason
    refused = CliRunner().invoke(main, ["demo", "--otlp", "http://127.0.0.1:9"])
    assert refused.exit_code == 1
    assert "needs the OpenTelemetry SDK" in refused.output


def test_demo_exports_over_otlp_with_the_option(
    monkeypatch: pytest.MonkeyPatch, collector: tuple[str, _Collector]
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    url, server = collector
    result = CliRunner().invoke(main, ["demo", "--otlp", url], env={"COLUMNS": "220"})
    assert result.exit_code == 0, result.output
    sent = re.search(rf"spans: (\d+) exported over OTLP/HTTP to {url}/v1/traces", result.output)
    assert sent is not None, result.output
    assert int(sent[1]) >= 1 + 2 * 11  # the agent span, then per step a route and a chat span
    assert "spans (set --otlp" not in result.output
    bodies = _trace_posts(server)
    assert bodies
    payload = b"".join(bodies)
    for name in (b"agentroute.route", b"chat small-v1", b"invoke_agent support"):
        assert name in payload
    assert b"agentroute-demo" in payload  # service.name


def test_demo_exports_over_otlp_with_the_env_var(collector: tuple[str, _Collector]) -> None:
    url, server = collector
    result = CliRunner().invoke(main, ["demo"], env={"COLUMNS": "220", ENV: url + "/"})
    assert result.exit_code == 0, result.output
    assert f"to {url}/v1/traces" in result.output
    assert _trace_posts(server)


def test_demo_says_so_and_exits_1_when_the_backend_refuses_the_spans(
    monkeypatch: pytest.MonkeyPatch, collector: tuple[str, _Collector]
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    url, server = collector
    server.status = 400  # a refusal the exporter does not retry
    result = CliRunner().invoke(main, ["demo", "--otlp", url], env={"COLUMNS": "220"})
    assert result.exit_code == 1, result.output
    assert "solved: yes" in result.output
    assert re.search(rf"spans: (\d+) of \1 not exported to {url}/v1/traces", result.output)
    assert "exported over OTLP/HTTP" not in result.output
    assert _trace_posts(server)


def test_otlp_traces_url() -> None:
    assert otlp_traces_url("http://h:4318") == "http://h:4318/v1/traces"
    assert otlp_traces_url("http://h:4318/") == "http://h:4318/v1/traces"
    assert otlp_traces_url("http://h:4318/v1/traces") == "http://h:4318/v1/traces"


def test_tracer_provider_for_memory_keeps_spans() -> None:
    tracing = tracer_provider_for(None, service_name="svc")
    assert tracing.memory is not None
    assert tracing.tally is None
    tracing.provider.get_tracer("t").start_span("x").end()
    spans = tracing.memory.get_finished_spans()
    assert [s.name for s in spans] == ["x"]
    assert spans[0].resource.attributes["service.name"] == "svc"
    assert spans[0].resource.attributes[A.OPENINFERENCE_PROJECT_NAME] == "svc"
    tracing.provider.shutdown()


@pytest.mark.parametrize(
    ("env", "service", "project"),
    [
        ({"OTEL_SERVICE_NAME": "billing-agent"}, "billing-agent", "billing-agent"),
        ({"OTEL_RESOURCE_ATTRIBUTES": f"{A.OPENINFERENCE_PROJECT_NAME}=p%201"}, "svc", "p 1"),
        (
            {"OTEL_SERVICE_NAME": "a", "OTEL_RESOURCE_ATTRIBUTES": "service.name=b,team=x"},
            "a",  # the SDK's rule: OTEL_SERVICE_NAME wins over the attribute list
            "a",
        ),
    ],
)
def test_tracer_provider_for_takes_the_resource_from_the_otel_env_vars(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], service: str, project: str
) -> None:
    for key in ("OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    tracing = tracer_provider_for(None, service_name="svc")
    attributes = tracing.provider.resource.attributes
    tracing.provider.shutdown()
    assert attributes["service.name"] == service
    assert attributes[A.OPENINFERENCE_PROJECT_NAME] == project


def test_format_span_tree_indents_children_by_start_time() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("invoke_agent a"):
        for step, tier in ((1, "simple"), (2, "medium")):
            with tracer.start_as_current_span(A.ROUTE_SPAN) as route:
                route.set_attributes(
                    {
                        A.SESSION_STEP: step,
                        A.DECISION_TIER: tier,
                        A.DECISION_CAUSE: "start",
                        A.AFFINITY_KIND: "new",
                        A.ATTEMPT_COUNT: 2,
                        A.COST_USD: 0.0125,
                    }
                )
                with tracer.start_as_current_span("chat m-1") as chat:
                    chat.set_attributes(
                        {A.GEN_AI_OPERATION_NAME: "chat", A.ERROR_TYPE: "ProviderUnavailable"}
                    )
                with tracer.start_as_current_span("chat m-1") as chat:
                    chat.set_attributes(
                        {
                            A.GEN_AI_OPERATION_NAME: "chat",
                            A.GEN_AI_USAGE_INPUT_TOKENS: 100,
                            A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 64,
                            A.GEN_AI_USAGE_OUTPUT_TOKENS: 7,
                        }
                    )
    lines = format_span_tree(reversed(exporter.get_finished_spans()))
    provider.shutdown()
    assert len(lines) == 7
    assert lines[0].startswith("invoke_agent a  ")
    assert " ms" in lines[0]
    assert lines[1].startswith("  agentroute.route  ")
    assert lines[1].endswith("step=1 tier=simple cause=start pin=new attempts=2 cost$=0.0125")
    assert lines[2].startswith("    chat m-1  ")
    assert lines[2].endswith("error.type=ProviderUnavailable")
    assert lines[3].endswith("in=100 cached=64 out=7")
    assert "step=2 tier=medium" in lines[4]
    assert format_span_tree(exporter.get_finished_spans(), max_depth=1)[2].startswith(
        "  agentroute.route"
    )
    assert format_span_tree([]) == []
