"""What the routed-SDK and LiteLLM integration tests share: the simulator (the airline agent on
an OpenAI-compatible and an Anthropic instance, and a flaky twin of each), a two-tier router
config over one wire format, the spans, and the checks every agent loop must pass.

The loop: the cheap model (``small-model``, skill 0) reads the reservation, searches flights and
asks for a basic economy change, which the tool refuses (``Error: …``); the tool error lifts the
next step to the top tier (``big-model``, skill 2), which asks for economy and then answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentroute.sim.faults import RequestRecord
from agentroute.sim.scenario import SYSTEM_PROMPT, TOOLS, USER_REQUEST
from agentroute.sim.server import Simulator
from agentroute.telemetry import attributes as A

__all__ = [
    "CHAT_TOOLS",
    "EXPECTED",
    "SECRET",
    "SIM_CONFIG",
    "SYSTEM_PROMPT",
    "USER_REQUEST",
    "Spans",
    "check_loop",
    "check_usage",
    "router_config",
]

SECRET = "sk-sim-4f2a9c1e-never-shown"
"""The providers' API key: it must never show in a repr, an error or a span."""

_AIRLINE = {"kind": "airline", "skills": {"small-model": 0, "big-model": 2}}
SIM_CONFIG: dict[str, Any] = {
    "instances": {
        "cheap": {"kind": "openai", "scenario": _AIRLINE},
        "claude": {"kind": "anthropic", "scenario": _AIRLINE},
        "flaky": {
            "kind": "openai",
            "scenario": _AIRLINE,
            "faults": {"schedule": {1: "rate_limit"}},
        },
        "flaky-claude": {
            "kind": "anthropic",
            "scenario": _AIRLINE,
            "faults": {"schedule": {1: "overloaded"}},
        },
    }
}

CHAT_TOOLS = [t for t in TOOLS if t["function"]["name"] != "send_confirmation"]
"""The three tools the agent offers, in the Chat Completions shape."""

EXPECTED = [
    ("simple", "small-model"),
    ("simple", "small-model"),
    ("simple", "small-model"),  # asks for basic economy: the tool refuses
    ("complex", "big-model"),  # escalated by the tool error
    ("complex", "big-model"),
]
"""Each step's tier and the model the simulator was asked for."""


def router_config(
    sim: Simulator,
    kind: str,
    *,
    flaky: bool = False,
    provider_kwargs: Mapping[str, Any] | None = None,
    names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Both tiers on one instance of wire format ``kind`` (``cheap`` or ``claude``), which
    serves both models. ``flaky``: ``small-model``'s first deployment is the flaky twin (its
    first request fails), the second the healthy instance. ``names``: each model's deployment
    name (default: the model's)."""
    main = "cheap" if kind == "openai" else "claude"
    twin = "flaky" if kind == "openai" else "flaky-claude"

    def provider(instance: str) -> dict[str, Any]:
        spec = {"kind": kind, "base_url": sim.base_url(instance), "api_key": SECRET}
        if provider_kwargs:
            spec["kwargs"] = dict(provider_kwargs)
        return spec

    def model(name: str, *providers: str) -> dict[str, Any]:
        dep = (names or {}).get(name, name)
        return {
            "context_window": 128_000,
            "price": {"input": 1.0, "output": 4.0, "cache_read": 0.1, "cache_write": 1.25},
            "deployments": [{"provider": p, "name": dep} for p in providers],
        }

    return {
        "providers": {"main": provider(main), "twin": provider(twin)},
        "models": {
            "small-model": model("small-model", *(("twin", "main") if flaky else ("main",))),
            "big-model": model("big-model", "main"),
        },
        "tiers": {"simple": ["small-model"], "complex": ["big-model"]},
        "policy": {"start_tier": "simple", "thresholds": {"complex": 0.4}},
        "resilience": {"max_retries": 0},
        "telemetry": {"log_events": False},
    }


class Spans:
    """An in-memory tracer provider for a router, and its spans."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def named(self, prefix: str) -> list[ReadableSpan]:
        spans = [s for s in self.exporter.get_finished_spans() if s.name.startswith(prefix)]
        return sorted(spans, key=lambda s: s.start_time or 0)

    @property
    def routes(self) -> list[ReadableSpan]:
        return self.named("agentroute.route")

    @property
    def chats(self) -> list[ReadableSpan]:
        return self.named("chat")

    def text(self) -> str:
        """Every span's name and attributes, as text (to look for a secret in)."""
        return "\n".join(
            f"{s.name} {dict(s.attributes or {})} {s.events} {s.status}"
            for s in self.exporter.get_finished_spans()
        )


def check_usage(spans: Sequence[ReadableSpan], records: Sequence[RequestRecord], kind: str) -> None:
    """Each answered attempt's span carries exactly the usage the simulator reported for it
    (never the router's estimate). OpenAI reports cache reads only (its caching is automatic);
    Anthropic reports the writes too."""
    answered = [r for r in records if r.status == 200]
    ok = [s for s in spans if A.ERROR_TYPE not in (s.attributes or {})]
    assert len(ok) == len(answered)
    for span, record in zip(ok, answered, strict=True):
        attrs = span.attributes or {}
        assert A.USAGE_ESTIMATED not in attrs
        assert record.usage is not None
        assert attrs[A.GEN_AI_USAGE_INPUT_TOKENS] == record.usage.prompt_tokens
        assert attrs[A.GEN_AI_USAGE_OUTPUT_TOKENS] == record.output_tokens
        assert attrs[A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == record.usage.read_tokens
        written = record.usage.written_tokens if kind == "anthropic" else 0
        assert attrs[A.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] == written


def check_loop(
    spans: Spans,
    records: Sequence[RequestRecord],
    calls: int,
    kind: str,
    *,
    session: str | None = None,
) -> None:
    """One route span per model call, the escalation after the tool error, the model the
    router chose in every request, exact usage, and one session for the whole loop (named
    ``session``, if given)."""
    routes = spans.routes
    assert len(routes) == calls == len(EXPECTED)
    steps = [(r.attributes or {})[A.SESSION_STEP] for r in routes]
    assert steps == list(range(1, calls + 1))
    tiers = [(r.attributes or {})[A.DECISION_TIER] for r in routes]
    assert tiers == [tier for tier, _ in EXPECTED]
    causes = [(r.attributes or {})[A.DECISION_CAUSE] for r in routes]
    assert causes[0] == "start"
    assert causes[3] == "score"  # the tool error's score, over the top tier's threshold
    assert [r.model for r in records] == [model for _, model in EXPECTED]
    sessions = {(r.attributes or {})[A.GEN_AI_CONVERSATION_ID] for r in routes}
    assert len(sessions) == 1
    if session is not None:
        assert sessions == {session}
    check_usage(spans.chats, records, kind)
