"""OpenTelemetry spans of the router.

``invoke_agent {agent}`` (INTERNAL; opened by ``async with router.session(..., agent=...)``,
ended when the block exits, its context current inside it) → ``agentroute.route`` (INTERNAL;
one per routed call, opened by :class:`RouteTelemetry`, first in the chain) → ``chat {model}``
(CLIENT; one per attempt, opened by :mod:`~agentroute.telemetry.attempt_spans`, placed after
the fallback step). Each span is a child of whatever span is current, so an implicit
session's route span is a root, or the child of the application's own span.

The library uses the OpenTelemetry API only: with no provider configured, the tracer hands out
non-recording spans and nothing below ``span.is_recording()`` runs. Message content is recorded
only when opted in, passed through :func:`~agentroute._secrets.redact`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
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

from agentroute._catalog import Catalog
from agentroute._pin_event import PinEvent
from agentroute._secrets import redact
from agentroute._types import Attempt, CallNext, Decision, ModelCall, ModelResult
from agentroute._version import __version__
from agentroute.clock import Clock, SystemClock
from agentroute.config import RouterConfig
from agentroute.errors import AllAttemptsFailed
from agentroute.session import SessionState
from agentroute.telemetry import attributes as A
from agentroute.telemetry.logs import log_session_evicted, should_log
from agentroute.telemetry.metrics import RouterMetrics

__all__ = ["AgentScope", "RouteTelemetry", "Telemetry", "error_type_of", "fail_span"]

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
        catalog: Catalog,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        clock: Clock | None = None,
        *,
        capture_content: bool | None = None,
    ) -> None:
        self.tracer = trace.get_tracer("agentroute", __version__, tracer_provider=tracer_provider)
        self.metrics = RouterMetrics(meter_provider, catalog.tiers)
        # None: follow the global provider, checked per call (an app may set it later);
        # asking for it once loads one named by OTEL_PYTHON_*_PROVIDER, as the API does
        trace.get_tracer_provider()
        otel_metrics.get_meter_provider()
        self._traces = None if tracer_provider is None else not _noop(tracer_provider)
        self._measures = None if meter_provider is None else not _noop(meter_provider)
        self.clock: Clock = clock or SystemClock()
        if capture_content is None:  # not given: the config, or the GenAI env variable
            env = os.environ.get(CAPTURE_ENV, "").strip().lower() == "true"
            capture_content = config.telemetry.capture_content or env
        self.capture_content = capture_content
        self.refusal_fallback = config.resilience.content_policy_fallback
        self.log_events = config.telemetry.log_events
        self.max_implicit = config.sessions.max_implicit
        self.prices = catalog.prices
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

    def session_evicted(self, state: SessionState, idle_s: float) -> None:
        """A live implicit session pushed out by ``sessions.max_implicit`` (its state is lost):
        counted in ``agentroute.sessions.evicted`` and logged as ``route.session_evicted``."""
        self.metrics.session_evicted()
        if should_log(self.log_events):
            log_session_evicted(state, idle_s, self.max_implicit)

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
                fail_span(span, exc, error_type_of(exc))
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
        span = (
            t.tracer.start_span(A.ROUTE_SPAN, kind=SpanKind.INTERNAL) if tracing else INVALID_SPAN
        )
        recording = span.is_recording()
        token = context.attach(trace.set_span_in_context(span)) if recording else None
        try:
            result = await call_next(call)
        except BaseException as exc:
            decision = _decision_of(state, call.step)
            attempts = exc.attempts if isinstance(exc, AllAttemptsFailed) else ()
            pin = call.progress.pin if call.progress is not None else None
            self._finish(span, call, decision, attempts or _attempts_of(state), 0.0, pin)
            if recording:
                fail_span(span, exc, error_type_of(exc))
            raise
        else:
            pin = call.progress.pin if call.progress is not None else None
            self._finish(span, call, result.decision, result.attempts, result.cost_usd, pin)
            return result
        finally:
            if token is not None:
                context.detach(token)
            span.end()

    def _finish(
        self,
        span: Span,
        call: ModelCall,
        decision: Decision | None,
        attempts: Sequence[Attempt],
        cost: float,
        pin: PinEvent | None,
    ) -> None:
        metrics = self._t.metrics
        if decision is not None:
            metrics.decision(decision)
        if pin is not None:
            metrics.pin(pin.kind, pin.model)
        if not span.is_recording():
            return
        attrs: dict[str, Any] = {
            A.OPENINFERENCE_SPAN_KIND: A.OI_CHAIN,
            A.ATTEMPT_COUNT: len(attempts),
            A.COST_USD: cost or sum(a.cost_usd for a in attempts),
        }
        state = call.session
        if state is not None:
            attrs[A.GEN_AI_CONVERSATION_ID] = state.key
            attrs[A.SESSION_STEP] = call.step
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


def _noop(provider: object) -> bool:
    return isinstance(provider, _NOOP)


def _global_on(module: object, name: str) -> bool:
    """Whether the API's global provider is a real one. Read from the API module's global
    (set once, by ``set_*_provider``): ``get_*_provider()`` costs more per call, a
    large share of the cheap path's budget."""
    provider = getattr(module, name, _UNKNOWN)
    if provider is _UNKNOWN:  # another API version: ask the public way
        provider = (
            trace.get_tracer_provider() if module is trace else otel_metrics.get_meter_provider()
        )
    return provider is not None and type(provider) not in _NOOP_TYPES


def _decision_of(state: SessionState | None, step: int) -> Decision | None:
    """The decision of the call numbered ``step``, if routing got that far (and no later call
    of the session has been routed since)."""
    if state is None or state.last_decision is None or state.last_decision.step != step:
        return None
    return state.last_decision


def _attempts_of(state: SessionState | None) -> tuple[Attempt, ...]:
    return state.last_attempts if state is not None else ()


def error_type_of(exc: BaseException) -> str:
    if isinstance(exc, anyio.get_cancelled_exc_class()):
        return A.CANCELLED
    return type(exc).__name__


def fail_span(span: Span, exc: BaseException, error_type: str) -> None:
    """ERROR status, ``error.type`` and an exception event whose message is redacted."""
    span.set_attribute(A.ERROR_TYPE, error_type)
    span.set_status(Status(StatusCode.ERROR, error_type))
    span.add_event(
        "exception",
        {"exception.type": type(exc).__qualname__, "exception.message": redact(str(exc))},
    )
