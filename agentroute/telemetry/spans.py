"""OpenTelemetry spans of the router.

``invoke_agent {agent}`` (INTERNAL; opened by ``async with router.session(..., agent=...)``,
ended when the block exits, its context current inside it) → ``agentroute.route`` (INTERNAL;
one per routed call, opened by :class:`RouteTelemetry`, first in the chain) → ``chat {model}``
(CLIENT; one per attempt, opened by :mod:`~agentroute.telemetry.attempt_spans`, placed after
the fallback step). Each span is a child of whatever span is current, so an implicit
session's route span is a root, or the child of the application's own span.

The library uses the OpenTelemetry API only, its public names only: with no provider
configured, the tracer hands out non-recording spans and nothing below ``span.is_recording()``
runs. Message content is recorded only when opted in, passed through
:func:`~agentroute._secrets.redact`.

**Telemetry off costs next to nothing.** A router given providers knows once, when it is built,
whether they record. One that follows the API's global providers (the default) asks the API
when it is built and at its first call, then, while no global provider is set, at most once
per :data:`RECHECK_S` of its clock (``get_tracer_provider()`` costs as much as a good share of
a routed call's overhead, so it is not asked per call): an application that sets its global
providers after building its router is traced from its first call, or, if it sets them later
still, within a second. A global provider, once set, cannot be replaced (the API refuses), so
a router that has seen one stops asking.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import anyio
from opentelemetry import context, trace
from opentelemetry import metrics as otel_metrics
from opentelemetry.metrics import MeterProvider, NoOpMeterProvider
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
from agentroute._error_translation import error_text
from agentroute._pin_event import PinEvent
from agentroute._secrets import redact
from agentroute._types import Attempt, CallNext, Decision, ModelCall, ModelResult
from agentroute._version import __version__
from agentroute.clock import Clock, SystemClock
from agentroute.config import RouterConfig
from agentroute.errors import AllAttemptsFailed
from agentroute.session import SessionState
from agentroute.telemetry import attributes as A
from agentroute.telemetry.logs import RouteEvents
from agentroute.telemetry.metrics import RouterMetrics

__all__ = ["RECHECK_S", "AgentScope", "RouteTelemetry", "Telemetry", "error_type_of", "fail_span"]

CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"

RECHECK_S = 1.0
"""While a router follows a global provider that is not set, how often (at most, in seconds of
the router's clock) it asks the API again."""

_STAND_INS = (NoOpTracerProvider, ProxyTracerProvider, NoOpMeterProvider)
_API_PACKAGES = ("opentelemetry.trace", "opentelemetry.metrics")

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
        events: RouteEvents | None = None,
    ) -> None:
        self.tracer = trace.get_tracer("agentroute", __version__, tracer_provider=tracer_provider)
        self.metrics = RouterMetrics(meter_provider, catalog.tiers)
        self.clock: Clock = clock or SystemClock()
        self._now = self.clock.now  # (the system clock's is time.monotonic itself)
        self.events = events or RouteEvents(config.telemetry.log_events)
        # a provider given is judged once; None follows the global one (module docstring)
        self._follow_traces = tracer_provider is None
        self._follow_meters = meter_provider is None
        self._traces = tracer_provider is not None and _records(tracer_provider)
        self._measures = meter_provider is not None and _records(meter_provider)
        self._waiting = self._follow_traces or self._follow_meters
        """A global provider this router follows is not set yet: look again when due."""
        self._look_again()  # also loads a provider named by OTEL_PYTHON_*_PROVIDER, as the API does
        self._look_at = -math.inf  # and once more at the first call (an app set it up since)
        if capture_content is None:  # not given: the config, or the GenAI env variable
            env = os.environ.get(CAPTURE_ENV, "").strip().lower() == "true"
            capture_content = config.telemetry.capture_content or env
        self.capture_content = capture_content
        self.refusal_fallback = config.resilience.content_policy_fallback
        self.max_implicit = config.sessions.max_implicit
        self.prices = catalog.prices
        self.servers: dict[str, tuple[str, int | None]] = {}
        for name, provider in config.providers.items():
            if provider.base_url:
                url = urlsplit(provider.base_url)
                if url.hostname:
                    self.servers[name] = (url.hostname, url.port)

    def tracing(self) -> bool:
        """Whether spans would be recorded: a provider other than the API's stand-ins."""
        if self._traces:
            return True
        if self._waiting and self._now() >= self._look_at:
            self._look_again()
        return self._traces

    def measuring(self) -> bool:
        """Whether metrics would be recorded (as :meth:`tracing`)."""
        if self._measures:
            return True
        if self._waiting and self._now() >= self._look_at:
            self._look_again()
        return self._measures

    def observing(self) -> bool:
        """Whether spans or metrics would be recorded (:meth:`tracing` or :meth:`measuring`,
        asked at once): the router leaves its telemetry steps out of a call when neither
        would."""
        if self._traces or self._measures:
            return True
        if self._waiting and self._now() >= self._look_at:
            self._look_again()
        return self._traces or self._measures

    def _look_again(self) -> None:
        """Ask the API for the global providers this router follows and has not seen set."""
        self._look_at = self._now() + RECHECK_S
        if self._follow_traces and not self._traces:
            self._traces = _records(trace.get_tracer_provider())
        if self._follow_meters and not self._measures:
            self._measures = _records(otel_metrics.get_meter_provider())
        self._waiting = (self._follow_traces and not self._traces) or (
            self._follow_meters and not self._measures
        )

    def session_evicted(self, state: SessionState, idle_s: float) -> None:
        """A live implicit session pushed out by ``sessions.max_implicit`` (its state is lost):
        counted in ``agentroute.sessions.evicted`` and logged as ``route.session_evicted``."""
        self.metrics.session_evicted()
        self.events.session_evicted(state, idle_s, self.max_implicit)

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
        recording = span.is_recording()  # asked once: nothing below it is built when not
        if recording and call.progress is not None:
            call.progress.route_span = span.get_span_context()  # a shadow span links to it
        # current even when sampled out: the spans made inside the call parent to it (a
        # parent-based sampler drops them with it)
        token = context.attach(trace.set_span_in_context(span)) if tracing else None
        try:
            result = await call_next(call)
        except BaseException as exc:
            decision = _decision_of(state, call.step)
            attempts = exc.attempts if isinstance(exc, AllAttemptsFailed) else ()
            pin = call.progress.pin if call.progress is not None else None
            self._finish(span, recording, call, decision, attempts or _attempts_of(call), 0.0, pin)
            if recording:
                fail_span(span, exc, error_type_of(exc))
            raise
        else:
            pin = call.progress.pin if call.progress is not None else None
            self._finish(
                span, recording, call, result.decision, result.attempts, result.cost_usd, pin
            )
            return result
        finally:
            if token is not None:
                context.detach(token)
            span.end()

    def _finish(
        self,
        span: Span,
        recording: bool,
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
        if not recording:
            return
        attrs: dict[str, Any] = {
            A.OPENINFERENCE_SPAN_KIND: A.OI_CHAIN,
            A.ATTEMPT_COUNT: len(attempts),
            A.COST_USD: cost or sum(a.cost_usd for a in attempts),
        }
        state = call.session
        if state is not None:
            state.note_route_span(span.get_span_context())  # what an outcome's span links to
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


def _records(provider: object) -> bool:
    """Whether ``provider`` would record: not one of the API's own stand-ins, its no-op
    providers and the proxies its ``get_*_provider()`` return until an application sets a
    global provider. The meter proxy's class is private to the API, so a provider whose class
    the API package itself defines counts as a stand-in (an SDK's or a vendor's never is)."""
    if isinstance(provider, _STAND_INS):
        return False
    module = type(provider).__module__
    return not any(module == p or module.startswith(p + ".") for p in _API_PACKAGES)


def _decision_of(state: SessionState | None, step: int) -> Decision | None:
    """The decision of the call numbered ``step``, if routing got that far (and no later call
    of the session has been routed since)."""
    if state is None or state.last_decision is None or state.last_decision.step != step:
        return None
    return state.last_decision


def _attempts_of(call: ModelCall) -> tuple[Attempt, ...]:
    """The attempts of a call that ended with an error other than
    :class:`~agentroute.errors.AllAttemptsFailed` (a cancel): the call's own records, from its
    progress record (never the session's, which may be a concurrent call's)."""
    progress = call.progress
    return () if progress is None else progress.attempts


def error_type_of(exc: BaseException) -> str:
    if isinstance(exc, anyio.get_cancelled_exc_class()):
        return A.CANCELLED
    return type(exc).__name__


def fail_span(span: Span, exc: BaseException, error_type: str) -> None:
    """ERROR status, ``error.type`` and an exception event whose message is masked."""
    span.set_attribute(A.ERROR_TYPE, error_type)
    span.set_status(Status(StatusCode.ERROR, error_type))
    span.add_event(
        "exception",
        {"exception.type": type(exc).__qualname__, "exception.message": error_text(exc)},
    )
