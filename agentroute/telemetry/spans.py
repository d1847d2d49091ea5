"""OpenTelemetry spans of the router (DESIGN §7).

``invoke_agent {agent}`` (INTERNAL; opened by ``async with router.session(..., agent=...)``,
ended when the block exits, its context current inside it) → ``agentroute.route`` (INTERNAL;
one per routed call, opened by :class:`RouteTelemetry`, first in the chain) → ``chat
{deployment}`` (CLIENT; one per attempt, opened by :class:`AttemptTelemetry`, placed after the
fallback step). Each span is a child of whatever span is current, so an implicit session's
route span is a root, or the child of the application's own span.

The library uses the OpenTelemetry API only: with no provider configured, the tracer hands out
non-recording spans and nothing below ``span.is_recording()`` runs. Message content is recorded
only when opted in, passed through :func:`~agentroute._secrets.redact`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import anyio
from opentelemetry import context, trace
from opentelemetry import metrics as otel_metrics
from opentelemetry.metrics import MeterProvider, NoOpMeterProvider
from opentelemetry.metrics import _internal as _metrics_globals
from opentelemetry.metrics._internal import _ProxyMeterProvider
from opentelemetry.trace import (
    INVALID_SPAN,
    NoOpTracerProvider,
    ProxyTracerProvider,
    Span,
    SpanKind,
    Status,
    StatusCode,
    TracerProvider,
)

from agentroute._secrets import redact
from agentroute._types import Attempt, CallNext, Decision, Message, ModelCall, ModelResult
from agentroute.clock import Clock, SystemClock
from agentroute.config import RouterConfig
from agentroute.errors import AllAttemptsFailed
from agentroute.session import SessionState
from agentroute.telemetry import attributes as A
from agentroute.telemetry.metrics import RouterMetrics

__all__ = ["AgentScope", "AttemptTelemetry", "RouteTelemetry", "Telemetry"]

CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"

# the global API's stand-ins until an application sets a provider (API >= 1.25)
_NOOP: tuple[type, ...] = (
    NoOpMeterProvider,
    _ProxyMeterProvider,
    NoOpTracerProvider,
    ProxyTracerProvider,
)
_NOOP_TYPES = frozenset(_NOOP)
_UNKNOWN = object()

AgentScope = tuple[Span, object]
"""An open ``invoke_agent`` span and the context token that made it current."""


class Telemetry:
    """The router's tracer, instruments and settings, shared by its middlewares and sessions."""

    def __init__(
        self,
        config: RouterConfig,
        tiers: tuple[str, ...],
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        clock: Clock | None = None,
    ) -> None:
        from agentroute import __version__

        self.tracer = trace.get_tracer("agentroute", __version__, tracer_provider=tracer_provider)
        self.metrics = RouterMetrics(meter_provider, tiers)
        # None: follow the global provider, checked per call (an app may set it later);
        # asking for it once loads one named by OTEL_PYTHON_*_PROVIDER, as the API does
        trace.get_tracer_provider()
        otel_metrics.get_meter_provider()
        self._traces = None if tracer_provider is None else not _noop(tracer_provider)
        self._measures = None if meter_provider is None else not _noop(meter_provider)
        self.clock: Clock = clock or SystemClock()
        env = os.environ.get(CAPTURE_ENV, "").strip().lower() == "true"
        self.capture_content = config.telemetry.capture_content or env
        self.refusal_fallback = config.resilience.content_policy_fallback
        self.servers: dict[str, tuple[str, int | None]] = {}
        for name, provider in config.providers.items():
            if provider.base_url:
                url = urlsplit(provider.base_url)
                if url.hostname:
                    self.servers[name] = (url.hostname, url.port)

    def tracing(self) -> bool:
        """Whether spans would be recorded: a provider other than the API's no-op ones."""
        fixed = self._traces
        return _global_on(trace, "_TRACER_PROVIDER") if fixed is None else fixed

    def measuring(self) -> bool:
        """Whether metrics would be recorded (as :meth:`tracing`)."""
        fixed = self._measures
        return _global_on(_metrics_globals, "_METER_PROVIDER") if fixed is None else fixed

    # invoke_agent --------------------------------------------------------------------------

    def enter_agent(self, state: SessionState) -> AgentScope | None:
        """Open the session's ``invoke_agent`` span and make it current (agent sessions only)."""
        if state.agent is None or not self.tracing():
            return None
        span = self.tracer.start_span(
            f"{A.AGENT_SPAN_PREFIX} {state.agent}", kind=SpanKind.INTERNAL
        )
        if span.is_recording():
            span.set_attributes(
                {
                    A.GEN_AI_OPERATION_NAME: A.AGENT_OPERATION,
                    A.GEN_AI_AGENT_NAME: state.agent,
                    A.GEN_AI_CONVERSATION_ID: state.key,
                    A.OPENINFERENCE_SPAN_KIND: A.OI_AGENT,
                }
            )
        return span, context.attach(trace.set_span_in_context(span))

    def exit_agent(self, scope: AgentScope, state: SessionState, exc: BaseException | None) -> None:
        span, token = scope
        context.detach(token)  # type: ignore[arg-type]
        if span.is_recording():
            span.set_attributes({A.SESSION_STEP: state.step, A.COST_USD: state.cost_usd})
            if exc is not None:
                _fail(span, exc, _error_type(exc))
        span.end()


class RouteTelemetry:
    """First in the chain: one ``agentroute.route`` span per call, and decision metrics."""

    def __init__(self, telemetry: Telemetry) -> None:
        self._t = telemetry

    async def __call__(self, call: ModelCall, call_next: CallNext) -> ModelResult:
        t = self._t
        tracing = t.tracing()
        if not tracing and not t.measuring():  # telemetry off: the cheap path
            return await call_next(call)
        state = call.session
        if state is not None:
            state.last_pin = None  # set again by affinity if it acts on this call
        span = (
            t.tracer.start_span(A.ROUTE_SPAN, kind=SpanKind.INTERNAL) if tracing else INVALID_SPAN
        )
        recording = span.is_recording()
        token = context.attach(trace.set_span_in_context(span)) if recording else None
        try:
            result = await call_next(call)
        except BaseException as exc:
            decision = _decision_of(state)
            attempts = exc.attempts if isinstance(exc, AllAttemptsFailed) else ()
            self._finish(span, state, decision, attempts or _attempts_of(state), 0.0)
            if recording:
                _fail(span, exc, _error_type(exc))
            raise
        else:
            self._finish(span, state, result.decision, result.attempts, result.cost_usd)
            return result
        finally:
            if token is not None:
                context.detach(token)
            span.end()

    def _finish(
        self,
        span: Span,
        state: SessionState | None,
        decision: Decision | None,
        attempts: Sequence[Attempt],
        cost: float,
    ) -> None:
        metrics = self._t.metrics
        if decision is not None:
            metrics.decision(decision)
        pin = state.last_pin if state is not None else None
        if pin is not None:
            metrics.pin(pin.kind, pin.model)
        if not span.is_recording():
            return
        attrs: dict[str, Any] = {
            A.OPENINFERENCE_SPAN_KIND: A.OI_CHAIN,
            A.ATTEMPT_COUNT: len(attempts),
            A.COST_USD: cost or sum(a.cost_usd for a in attempts),
        }
        if state is not None:
            attrs[A.GEN_AI_CONVERSATION_ID] = state.key
            attrs[A.SESSION_STEP] = state.step
            if state.agent is not None:
                attrs[A.GEN_AI_AGENT_NAME] = state.agent
        if decision is not None:
            attrs[A.DECISION_TIER] = decision.tier
            if decision.previous_tier is not None:
                attrs[A.DECISION_PREVIOUS_TIER] = decision.previous_tier
            attrs[A.DECISION_CAUSE] = str(decision.cause)
            attrs[A.DECISION_SCORE] = decision.score
            attrs[A.DECISION_CANDIDATES] = list(decision.candidates)
            if decision.reason:
                attrs[A.DECISION_REASON] = redact(decision.reason)
            for signal, share in decision.contributions:
                attrs[A.DECISION_CONTRIBUTION_PREFIX + signal] = share
            if decision.switch is not None:
                attrs[A.SWITCH_EXPECTED_SAVING] = decision.switch.expected_saving
                attrs[A.SWITCH_CACHE_LOSS] = decision.switch.cache_loss
        if pin is not None:
            attrs[A.AFFINITY_KIND] = pin.kind
            attrs[A.AFFINITY_HIT] = pin.kind == "hit"
            attrs[A.AFFINITY_DEPLOYMENT] = pin.deployment
            if pin.previous is not None:
                attrs[A.AFFINITY_PREVIOUS] = pin.previous
            if pin.kind == "break":
                attrs[A.AFFINITY_BREAK_REASON] = redact(pin.reason)
        span.set_attributes(attrs)


class AttemptTelemetry:
    """After the fallback step: one ``chat {deployment}`` span and GenAI metrics per attempt."""

    def __init__(self, telemetry: Telemetry) -> None:
        self._t = telemetry

    async def __call__(self, call: ModelCall, call_next: CallNext) -> ModelResult:
        t = self._t
        target = call.target
        tracing = t.tracing()
        if target is None or not (tracing or t.measuring()):  # unrouted, or telemetry off
            return await call_next(call)
        span = (
            t.tracer.start_span(f"{A.CHAT_OPERATION} {target.deployment}", kind=SpanKind.CLIENT)
            if tracing
            else INVALID_SPAN
        )
        recording = span.is_recording()
        token = None
        if recording:
            span.set_attributes(self._request_attributes(call))
            token = context.attach(trace.set_span_in_context(span))
        started = t.clock.now()
        try:
            result = await call_next(call)
        except BaseException as exc:
            # a per-attempt timeout is a cancellation here too: the fallback step reports it
            error = _error_type(exc)
            t.metrics.attempt(target, call.attempt, t.clock.now() - started, None, 0.0, error)
            if recording:
                _fail(span, exc, error)
            raise
        else:
            refused = (
                result.finish_reason == "content_filter"
                and t.refusal_fallback is not None
                and t.refusal_fallback != target.model
            )
            error_type = "ContentPolicyRefusal" if refused else None
            elapsed = t.clock.now() - started
            t.metrics.attempt(
                target, call.attempt, elapsed, result.usage, result.cost_usd, error_type
            )
            if recording:
                self._set_response(span, result, error_type)
            return result
        finally:
            if token is not None:
                context.detach(token)
            span.end()

    def _request_attributes(self, call: ModelCall) -> dict[str, Any]:
        target = call.target
        assert target is not None
        attrs: dict[str, Any] = {
            A.GEN_AI_OPERATION_NAME: A.CHAT_OPERATION,
            A.GEN_AI_PROVIDER_NAME: A.PROVIDER_NAMES.get(
                target.provider_kind, target.provider_kind
            ),
            A.GEN_AI_REQUEST_MODEL: target.deployment,
            A.OPENINFERENCE_SPAN_KIND: A.OI_LLM,
            A.MODEL: target.model,
            A.DEPLOYMENT: target.key,
            A.ATTEMPT_NUMBER: call.attempt,
        }
        server = self._t.servers.get(target.provider)
        if server is not None:
            attrs[A.SERVER_ADDRESS] = server[0]
            if server[1] is not None:
                attrs[A.SERVER_PORT] = server[1]
        if call.session is not None:
            attrs[A.GEN_AI_CONVERSATION_ID] = call.session.key
        if self._t.capture_content:
            attrs[A.GEN_AI_INPUT_MESSAGES] = _dumps([_message(m) for m in call.messages])
        return attrs

    def _set_response(self, span: Span, result: ModelResult, error_type: str | None) -> None:
        usage = result.usage
        attrs: dict[str, Any] = {
            A.GEN_AI_USAGE_INPUT_TOKENS: usage.input_tokens,
            A.GEN_AI_USAGE_OUTPUT_TOKENS: usage.output_tokens,
            A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: usage.cache_read_tokens,
            A.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: usage.cache_write_tokens,
            A.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: usage.cache_write_tokens,
            A.COST_USD: result.cost_usd,
        }
        if result.response_model:
            attrs[A.GEN_AI_RESPONSE_MODEL] = result.response_model
        if result.finish_reason:
            attrs[A.GEN_AI_RESPONSE_FINISH_REASONS] = [result.finish_reason]
        if self._t.capture_content:
            parts: list[dict[str, Any]] = []
            if result.text:
                parts.append({"type": "text", "content": result.text})
            for tc in result.tool_calls:
                parts.append(
                    {"type": "tool_call", "id": tc.id, "name": tc.name, "arguments": tc.arguments}
                )
            message = {"role": "assistant", "parts": parts, "finish_reason": result.finish_reason}
            attrs[A.GEN_AI_OUTPUT_MESSAGES] = _dumps([message])
        if error_type is not None:
            attrs[A.ERROR_TYPE] = error_type
            span.set_status(Status(StatusCode.ERROR, error_type))
        span.set_attributes(attrs)


def _noop(provider: object) -> bool:
    return isinstance(provider, _NOOP)


def _global_on(module: object, name: str) -> bool:
    """Whether the API's global provider is a real one. Read from the API module's global
    (set once, by ``set_*_provider``): ``get_*_provider()`` costs a microsecond per call,
    most of the cheap path's budget."""
    provider = getattr(module, name, _UNKNOWN)
    if provider is _UNKNOWN:  # another API version: ask the public way
        provider = (
            trace.get_tracer_provider() if module is trace else otel_metrics.get_meter_provider()
        )
    return provider is not None and type(provider) not in _NOOP_TYPES


def _decision_of(state: SessionState | None) -> Decision | None:
    """The decision of the state's current call, if routing got that far."""
    if state is None or state.last_decision is None or state.last_decision.step != state.step:
        return None
    return state.last_decision


def _attempts_of(state: SessionState | None) -> tuple[Attempt, ...]:
    return state.last_attempts if state is not None else ()


def _error_type(exc: BaseException) -> str:
    if isinstance(exc, anyio.get_cancelled_exc_class()):
        return A.CANCELLED
    return type(exc).__name__


def _fail(span: Span, exc: BaseException, error_type: str) -> None:
    """ERROR status, ``error.type`` and an exception event whose message is redacted."""
    span.set_attribute(A.ERROR_TYPE, error_type)
    span.set_status(Status(StatusCode.ERROR, error_type))
    span.add_event(
        "exception",
        {"exception.type": type(exc).__qualname__, "exception.message": redact(str(exc))},
    )


def _message(message: Message) -> dict[str, Any]:
    """One message in the GenAI input-message shape (``role`` and ``parts``)."""
    content = message.get("content")
    parts: list[Any] = []
    if isinstance(content, str):
        parts.append({"type": "text", "content": content})
    elif isinstance(content, Sequence):
        for block in content:
            if isinstance(block, Mapping) and block.get("type") == "text":
                parts.append({"type": "text", "content": block.get("text", "")})
            else:
                parts.append(block)
    for tc in message.get("tool_calls") or ():
        fn = tc.get("function", {}) if isinstance(tc, Mapping) else {}
        parts.append({"type": "tool_call", "id": tc.get("id"), "name": fn.get("name"),
                      "arguments": fn.get("arguments")})  # fmt: skip
    return {"role": message.get("role", "user"), "parts": parts}


def _dumps(value: Any) -> str:
    return redact(json.dumps(value, default=str, ensure_ascii=False))
