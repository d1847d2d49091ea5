"""OpenTelemetry spans: ``invoke_agent`` → ``agentroute.route`` → ``chat``.

A local SDK ``TracerProvider`` with an in-memory exporter is passed to the Router (the global
provider is never set). The main scenario is one agent session of three steps: a new pin on
``small``, an escalation to ``medium`` (a new pin on ``alpha/mid-1``), and a step where the
pinned ``mid-1`` fails and ``beta/mid-b`` serves (a fallback and a pin break).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from agentroute import AllAttemptsFailed, ModelCall, ModelResult, ProviderUnavailable, Router
from agentroute.telemetry import attributes as A
from agentroute.telemetry.spans import CAPTURE_ENV
from agentroute.testing import FakeClock, ScriptedProvider, capture_logs, text_result
from tests.helpers import CONVERSATION, config_dict

pytestmark = pytest.mark.anyio

KEY_ENV = "AGENTROUTE_TELEMETRY_TEST_KEY"
KEY = "sk-telemetry-test-0123456789"


def traced(
    provider: TracerProvider | None = None, capture_content: bool | None = None, **config: Any
) -> tuple[Router, InMemorySpanExporter, ScriptedProvider, ScriptedProvider]:
    exporter = InMemorySpanExporter()
    provider = provider or TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    data = config_dict(**config)
    data["providers"]["alpha"]["api_key"] = f"env:{KEY_ENV}"
    data["models"]["mid"]["price"]["cache_read"] = 0.2  # sticky: pins apply
    alpha, beta = ScriptedProvider(), ScriptedProvider()
    router = Router(
        data,
        providers={"alpha": alpha, "beta": beta},
        clock=FakeClock(),
        tracer_provider=provider,
        capture_content=capture_content,
    )
    return router, exporter, alpha, beta


async def three_steps(router: Router, alpha: ScriptedProvider, beta: ScriptedProvider) -> None:
    """Step 1: small (new pin); 2: escalated to mid-1 (new pin); 3: mid-1 fails, mid-b serves."""
    secret = router.config.providers["alpha"].api_key
    assert secret is not None
    leaked = secret.resolve()  # as an HTTP provider would: now known to redact()
    alpha.push("first answer", "second answer", ProviderUnavailable(f"bad gateway, key={leaked}"))
    beta.push("third answer")
    async with router.session("s-1", agent="support") as session:
        await router.complete(CONVERSATION)
        session.escalate("the user asked for a better answer")
        await router.complete(CONVERSATION)
        await router.complete(CONVERSATION)


def by_name(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def span_id(span: ReadableSpan) -> int:
    ctx = span.context
    assert ctx is not None
    return ctx.span_id


def everything(spans: tuple[ReadableSpan, ...]) -> str:
    """Every name, attribute and event of the spans, as one string."""
    out = []
    for s in spans:
        out.append(s.name)
        out.append(repr(dict(s.attributes or {})))
        for e in s.events:
            out.append(e.name + repr(dict(e.attributes or {})))
        out.append(repr(s.status.description))
    return "\n".join(out)


async def test_a_session_with_an_escalation_a_fallback_and_a_pin_break(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.delenv(CAPTURE_ENV, raising=False)
    router, exporter, alpha, beta = traced()
    with capture_logs() as logs:
        await three_steps(router, alpha, beta)
    spans = exporter.get_finished_spans()
    assert sorted(s.name for s in spans) == sorted(
        ["invoke_agent support"]
        + ["agentroute.route"] * 3
        + ["chat small-1", "chat mid-1", "chat mid-1", "chat mid-b"]
    )
    (agent,) = by_name(spans, "invoke_agent support")
    routes = sorted(by_name(spans, "agentroute.route"), key=lambda s: s.start_time or 0)
    chats = sorted(
        (s for s in spans if s.name.startswith("chat ")), key=lambda s: s.start_time or 0
    )

    # kinds, parents, openinference kinds
    assert agent.kind is SpanKind.INTERNAL and agent.parent is None
    assert agent.attributes is not None
    assert agent.attributes[A.OPENINFERENCE_SPAN_KIND] == "AGENT"
    assert agent.attributes[A.GEN_AI_AGENT_NAME] == "support"
    assert agent.attributes[A.GEN_AI_CONVERSATION_ID] == "s-1"
    assert agent.attributes[A.SESSION_STEP] == 3
    for route in routes:
        assert route.kind is SpanKind.INTERNAL
        assert parent_id(route) == span_id(agent)
        assert route.attributes is not None
        assert route.attributes[A.OPENINFERENCE_SPAN_KIND] == "CHAIN"
        assert route.attributes[A.GEN_AI_CONVERSATION_ID] == "s-1"
        # a backend must not count the route span as a model call
        assert A.GEN_AI_OPERATION_NAME not in route.attributes
        assert A.GEN_AI_REQUEST_MODEL not in route.attributes
    parents = [parent_id(c) for c in chats]
    assert parents == [span_id(routes[0]), span_id(routes[1]), *[span_id(routes[2])] * 2]
    for chat in chats:
        assert chat.kind is SpanKind.CLIENT
        assert chat.attributes is not None
        assert chat.attributes[A.OPENINFERENCE_SPAN_KIND] == "LLM"
        assert chat.attributes[A.GEN_AI_OPERATION_NAME] == "chat"

    # route spans: the decisions and what affinity did
    first, second, third = (dict(r.attributes or {}) for r in routes)
    assert first[A.DECISION_TIER] == "simple" and first[A.DECISION_CAUSE] == "start"
    assert first[A.AFFINITY_KIND] == "new" and first[A.SESSION_STEP] == 1
    assert first[A.ATTEMPT_COUNT] == 1
    assert second[A.DECISION_TIER] == "medium"
    assert second[A.DECISION_PREVIOUS_TIER] == "simple"
    assert second[A.DECISION_CAUSE] == "escalation_request"
    assert second[A.DECISION_CANDIDATES] == ("mid",)
    assert third[A.DECISION_TIER] == "medium" and third[A.ATTEMPT_COUNT] == 2
    assert third[A.AFFINITY_KIND] == "break" and third[A.AFFINITY_HIT] is False
    assert third[A.AFFINITY_PREVIOUS] == "alpha/mid-1"
    assert third[A.AFFINITY_DEPLOYMENT] == "beta/mid-b"
    assert "ProviderUnavailable" in str(third[A.AFFINITY_BREAK_REASON])
    assert float(third[A.COST_USD]) > 0  # type: ignore[arg-type]
    assert all(r.status.status_code is StatusCode.UNSET for r in routes)

    # chat spans: GenAI attributes; the failed attempt is an error with an exception event
    small, mid1, failed, served = (dict(c.attributes or {}) for c in chats)
    assert small[A.GEN_AI_PROVIDER_NAME] == "openai"
    assert small[A.GEN_AI_REQUEST_MODEL] == "small-1"
    assert small[A.SERVER_ADDRESS] == "127.0.0.1" and small[A.SERVER_PORT] == 9
    assert small[A.GEN_AI_USAGE_INPUT_TOKENS] == 10
    assert small[A.GEN_AI_USAGE_OUTPUT_TOKENS] == 5
    assert small[A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 0
    assert failed[A.ERROR_TYPE] == "ProviderUnavailable"
    assert (failed[A.DEPLOYMENT], served[A.DEPLOYMENT]) == ("alpha/mid-1", "beta/mid-b")
    assert failed[A.MODEL] == served[A.MODEL] == "mid"
    assert chats[2].status.status_code is StatusCode.ERROR
    assert [e.name for e in chats[2].events] == ["exception"]
    assert served[A.GEN_AI_PROVIDER_NAME] == "anthropic"
    assert A.SERVER_ADDRESS not in served  # no base_url configured: not guessed
    assert A.ERROR_TYPE not in served and chats[3].status.status_code is StatusCode.UNSET

    # no content by default, no secret anywhere
    text = everything(spans)
    assert A.GEN_AI_INPUT_MESSAGES not in text and A.GEN_AI_OUTPUT_MESSAGES not in text
    assert "Book me a flight" not in text and "third answer" not in text
    assert KEY not in text
    assert KEY not in repr(logs)
    assert mid1[A.GEN_AI_REQUEST_MODEL] == "mid-1"

    # the structlog events tell the same story, each with the session id and the step
    assert {(e["session_id"], type(e["step"])) for e in logs} == {("s-1", int)}
    decisions = [e for e in logs if e["event"] == "route.decision"]
    assert [(e["step"], e["tier"], e["cause"], e["score"]) for e in decisions] == [
        (r[A.SESSION_STEP], r[A.DECISION_TIER], r[A.DECISION_CAUSE], r[A.DECISION_SCORE])
        for r in (first, second, third)
    ]
    attempts = [e for e in logs if e["event"] == "route.attempt"]
    assert [(e["step"], e["deployment"]) for e in attempts] == [
        (1, "alpha/small-1"),
        (2, "alpha/mid-1"),
        (3, "alpha/mid-1"),
        (3, "beta/mid-b"),
    ]
    assert [e.get("error_type") for e in attempts] == [None, None, "ProviderUnavailable", None]
    pins = [(e["event"], e["step"], e["pin"], e["deployment"]) for e in logs if "pin" in e]
    assert pins == [
        ("route.affinity", 1, "new", "alpha/small-1"),
        ("route.affinity", 2, "new", "alpha/mid-1"),
        ("route.affinity_break", 3, "break", "beta/mid-b"),
    ]
    (fallback,) = [e for e in logs if e["event"] == "route.fallback"]
    assert (fallback["step"], fallback["deployment"], fallback["to_deployment"]) == (
        3,
        "alpha/mid-1",
        "beta/mid-b",
    )
    assert fallback["error_type"] == "ProviderUnavailable"
    assert fallback["action"] == "next_deployment"


@pytest.mark.parametrize("how", ["config", "env", "parameter"])
async def test_content_is_recorded_only_when_opted_in(
    how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    if how == "env":
        monkeypatch.setenv(CAPTURE_ENV, "true")
        router, exporter, alpha, beta = traced()
    elif how == "parameter":
        monkeypatch.delenv(CAPTURE_ENV, raising=False)
        router, exporter, alpha, beta = traced(capture_content=True)
    else:
        monkeypatch.delenv(CAPTURE_ENV, raising=False)
        router, exporter, alpha, beta = traced(telemetry={"capture_content": True})
    await three_steps(router, alpha, beta)
    spans = exporter.get_finished_spans()
    chats = [s for s in spans if s.name.startswith("chat ")]
    assert len(chats) == 4
    for chat in chats:
        attrs = dict(chat.attributes or {})
        inputs = json.loads(str(attrs[A.GEN_AI_INPUT_MESSAGES]))
        assert inputs[1] == {
            "role": "user",
            "parts": [{"type": "text", "content": "Book me a flight."}],
        }
    served = dict(chats[-1].attributes or {})
    (output,) = json.loads(str(served[A.GEN_AI_OUTPUT_MESSAGES]))
    assert output["parts"] == [{"type": "text", "content": "third answer"}]
    for span in spans:
        if not span.name.startswith("chat "):
            assert A.GEN_AI_INPUT_MESSAGES not in (span.attributes or {})
    assert KEY not in everything(spans)


async def test_the_parameter_turns_capture_off_whatever_the_env_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.setenv(CAPTURE_ENV, "true")
    opted_in = {"capture_content": True}
    router, exporter, alpha, beta = traced(capture_content=False, telemetry=opted_in)
    await three_steps(router, alpha, beta)
    text = everything(exporter.get_finished_spans())
    assert A.GEN_AI_INPUT_MESSAGES not in text
    assert A.GEN_AI_OUTPUT_MESSAGES not in text


async def test_secrets_in_captured_content_are_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    router, exporter, alpha, _ = traced(telemetry={"capture_content": True})
    secret = router.config.providers["alpha"].api_key
    assert secret is not None
    secret.resolve()
    alpha.push(text_result(f"the key is {KEY}"))
    await router.complete([{"role": "user", "content": f"my key: {KEY}"}])
    text = everything(exporter.get_finished_spans())
    assert A.GEN_AI_INPUT_MESSAGES in text and KEY not in text


async def test_an_implicit_session_route_span_is_a_root_or_the_current_spans_child() -> None:
    provider = TracerProvider()
    router, exporter, alpha, _ = traced(provider)
    alpha.push("one", "two")
    await router.complete(CONVERSATION)
    tracer = trace.get_tracer("app", tracer_provider=provider)
    with tracer.start_as_current_span("app work") as app_span:
        await router.complete(CONVERSATION)
    spans = exporter.get_finished_spans()
    routes = sorted(by_name(spans, "agentroute.route"), key=lambda s: s.start_time or 0)
    assert routes[0].parent is None
    assert parent_id(routes[1]) == app_span.get_span_context().span_id
    assert not by_name(spans, "invoke_agent support")


async def test_a_failed_call_marks_the_route_span_and_the_agent_span(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    router, exporter, alpha, _ = traced()
    alpha.push(ProviderUnavailable("down"))
    with pytest.raises(AllAttemptsFailed):
        async with router.session("s-2", agent="support"):
            await router.complete(CONVERSATION)
    spans = exporter.get_finished_spans()
    (route,) = by_name(spans, "agentroute.route")
    (agent,) = by_name(spans, "invoke_agent support")
    (chat,) = by_name(spans, "chat small-1")
    for span in (route, agent, chat):
        assert span.status.status_code is StatusCode.ERROR
        assert [e.name for e in span.events] == ["exception"]
    assert (route.attributes or {})[A.ERROR_TYPE] == "AllAttemptsFailed"
    assert (route.attributes or {})[A.DECISION_TIER] == "simple"
    assert (route.attributes or {})[A.ATTEMPT_COUNT] == 1
    assert (chat.attributes or {})[A.ERROR_TYPE] == "ProviderUnavailable"


async def test_a_session_without_an_agent_name_has_no_agent_span() -> None:
    router, exporter, alpha, _ = traced()
    alpha.push("one")
    async with router.session("s-3"):
        await router.complete(CONVERSATION)
    names = [s.name for s in exporter.get_finished_spans()]
    assert sorted(names) == ["agentroute.route", "chat small-1"]


class Hangs:
    """A provider that never answers (until cancelled)."""

    async def send(self, call: ModelCall, /) -> ModelResult:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")


async def test_a_cancelled_attempt_ends_its_span_as_cancelled() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    router = Router(
        config_dict(resilience={"attempt_timeout_s": None, "deadline_s": None}),
        providers={"alpha": Hangs()},
        clock=FakeClock(),
        tracer_provider=provider,
    )
    with anyio.move_on_after(0.05):
        await router.complete(CONVERSATION)
    spans = exporter.get_finished_spans()
    (chat,) = by_name(spans, "chat small-1")
    (route,) = by_name(spans, "agentroute.route")
    for span in (chat, route):
        assert (span.attributes or {})[A.ERROR_TYPE] == "cancelled"
        assert span.status.status_code is StatusCode.ERROR
    assert parent_id(chat) == span_id(route)


NEVER_CONFIGURES = """
import anyio, structlog
from opentelemetry import metrics, trace
from agentroute import Router
from agentroute.testing import ScriptedProvider
from tests.helpers import CONVERSATION, config_dict

async def main() -> None:
    config = config_dict(telemetry={"log_events": None})  # the default
    router = Router(config, providers={"alpha": ScriptedProvider(default="ok")})
    async with router.session("s", agent="a"):
        await router.complete(CONVERSATION)

anyio.run(main)
# still the API's stand-ins: the proxies get_*_provider() return while no provider is set
print(
    structlog.is_configured(),
    type(trace.get_tracer_provider()).__name__,
    type(metrics.get_meter_provider()).__name__,
)
"""


def test_the_library_never_configures_structlog_or_a_global_otel_provider() -> None:
    # in a fresh interpreter: this test process configures both for other tests
    done = subprocess.run(
        [sys.executable, "-c", NEVER_CONFIGURES],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "ProxyTracerProvider", "_ProxyMeterProvider"]
