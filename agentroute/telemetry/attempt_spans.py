"""One ``chat {model}`` span and the GenAI metrics per attempt.

:class:`AttemptTelemetry` sits after the fallback step, so it sees every attempt, failed or
not. A non-streamed attempt's span ends when the provider has answered. A streamed attempt's
span stays open while the caller reads the stream (the route span has ended by then: it
covers the routing and the attempts up to the first chunk) and ends with the stream, carrying
the usage of its last chunk, so the tokens and cost of a streamed answer reach the span and
the metrics. A stream the caller leaves early ends its span as ``cancelled``; one that breaks
ends it with the error. A stream a ``wrap()``-ed function returned is the same: its span ends
when the caller has read it, with the usage its events reported (``agentroute.usage.estimated``
when they reported none). The chat spans of an opt-in stream restart are children of whatever
span is current where the caller reads (the ``invoke_agent`` span in an agent session).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

from opentelemetry import context, trace
from opentelemetry.trace import INVALID_SPAN, Span, SpanKind, Status, StatusCode

from agentroute._types import (
    CallNext,
    ModelCall,
    ModelResult,
    StreamChunk,
    StreamEnd,
    Target,
    Usage,
)
from agentroute.pricing import cost_usd
from agentroute.telemetry import attributes as A
from agentroute.telemetry.content import input_messages, output_messages
from agentroute.telemetry.spans import Telemetry, error_type_of, fail_span

__all__ = ["AttemptTelemetry"]

_Ended = Callable[[Usage | None, str | None, str | None, BaseException | None], None]
"""What a traced stream reports when it ends: usage, finish reason, text (only when content
is captured), and the exception that ended it (None: read to its end)."""


class AttemptTelemetry:
    """After the fallback step: one ``chat {model}`` span and GenAI metrics per attempt."""

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
        if recording:
            span.set_attributes(self._request_attributes(call))
        # current even when sampled out: the spans the provider or a wrap()-ed function makes
        # parent to it (a parent-based sampler drops them with it)
        token = context.attach(trace.set_span_in_context(span)) if tracing else None
        started = t.clock.now()
        ends_now = True
        try:
            result = await call_next(call)
        except BaseException as exc:
            # a per-attempt timeout is a cancellation here too: the fallback step reports it
            error = error_type_of(exc)
            t.metrics.attempt(target, call.attempt, t.clock.now() - started, None, 0.0, error)
            if recording:
                fail_span(span, exc, error)
            raise
        else:
            if result.stream is not None:  # the span and metrics wait for the stream's end
                ends_now = False
                ended = self._stream_ended(span, target, call.attempt, started)
                stream = _TracedStream(result.stream, ended, collect_text=t.capture_content)
                return replace(result, stream=stream)
            if result.stream_end is not None:  # a wrap()-ed function's stream: the same
                ends_now = False
                ended = self._stream_ended(span, target, call.attempt, started)
                result.stream_end.subscribe(lambda end: _wrapped_stream_ended(span, ended, end))
                return result
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
                content = (
                    output_messages(result.text, result.tool_calls, result.finish_reason)
                    if t.capture_content
                    else None
                )
                self._set_response(
                    span, result.usage, result.cost_usd, result.finish_reason, content, error_type
                )
                if result.response_model:
                    span.set_attribute(A.GEN_AI_RESPONSE_MODEL, result.response_model)
                if result.usage_estimated:
                    span.set_attribute(A.USAGE_ESTIMATED, True)
            return result
        finally:
            if token is not None:
                context.detach(token)
            if ends_now:
                span.end()

    def _stream_ended(self, span: Span, target: Target, number: int, started: float) -> _Ended:
        t = self._t

        def ended(
            usage: Usage | None, finish: str | None, text: str | None, exc: BaseException | None
        ) -> None:
            cost = cost_usd(usage, t.prices[target.model]) if usage is not None else 0.0
            closed = isinstance(exc, _Closed)
            error = A.CANCELLED if closed else error_type_of(exc) if exc is not None else None
            t.metrics.attempt(target, number, t.clock.now() - started, usage, cost, error)
            if span.is_recording():
                if usage is not None:
                    content = output_messages(text, (), finish) if text is not None else None
                    self._set_response(span, usage, cost, finish, content, None)
                if closed:  # the caller's choice, not a fault: no exception event
                    span.set_attribute(A.ERROR_TYPE, A.CANCELLED)
                    span.set_status(Status(StatusCode.ERROR, A.CANCELLED))
                elif exc is not None:
                    fail_span(span, exc, error or A.CANCELLED)
            span.end()

        return ended

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
            attrs[A.GEN_AI_INPUT_MESSAGES] = input_messages(call.messages)
        return attrs

    @staticmethod
    def _set_response(
        span: Span,
        usage: Usage,
        cost: float,
        finish_reason: str | None,
        content: str | None,
        error_type: str | None,
    ) -> None:
        attrs: dict[str, Any] = {
            A.GEN_AI_USAGE_INPUT_TOKENS: usage.input_tokens,
            A.GEN_AI_USAGE_OUTPUT_TOKENS: usage.output_tokens,
            A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: usage.cache_read_tokens,
            A.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: usage.cache_write_tokens,
            A.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: usage.cache_write_tokens,
            A.COST_USD: cost,
        }
        if finish_reason:
            attrs[A.GEN_AI_RESPONSE_FINISH_REASONS] = [finish_reason]
        if content is not None:
            attrs[A.GEN_AI_OUTPUT_MESSAGES] = content
        if error_type is not None:
            attrs[A.ERROR_TYPE] = error_type
            span.set_status(Status(StatusCode.ERROR, error_type))
        span.set_attributes(attrs)


def _wrapped_stream_ended(span: Span, ended: _Ended, end: StreamEnd) -> None:
    """End the span of a ``wrap()``-ed function's stream with what the stream reported."""
    if end.estimated and span.is_recording():
        span.set_attribute(A.USAGE_ESTIMATED, True)
    exc = end.error
    if end.outcome == "cancelled":
        exc = _Closed("the stream was closed before its end")
    ended(end.usage, None, None, exc)


class _Closed(Exception):
    """The caller closed the stream before its end (reported as ``cancelled``)."""


class _TracedStream:
    """An attempt's open stream that reports, once, how it ended: read to its end, broken
    (the exception), or closed early by the caller."""

    def __init__(
        self, source: AsyncIterator[StreamChunk], ended: _Ended, *, collect_text: bool
    ) -> None:
        self._source = source
        self._ended: _Ended | None = ended
        self._usage: Usage | None = None
        self._finish: str | None = None
        self._text: list[str] | None = [] if collect_text else None

    def __aiter__(self) -> _TracedStream:
        return self

    async def __anext__(self) -> StreamChunk:
        try:
            chunk = await self._source.__anext__()
        except StopAsyncIteration:
            self._end(None)
            raise
        except BaseException as exc:
            self._end(exc)
            raise
        if chunk.usage is not None:
            self._usage = chunk.usage
        if chunk.finish_reason is not None:
            self._finish = chunk.finish_reason
        if self._text is not None and chunk.text:
            self._text.append(chunk.text)
        return chunk

    async def aclose(self) -> None:
        try:
            close = getattr(self._source, "aclose", None)
            if close is not None:
                await close()
        finally:
            self._end(_Closed("the stream was closed before its end"))

    def _end(self, exc: BaseException | None) -> None:
        ended, self._ended = self._ended, None
        if ended is not None:
            text = "".join(self._text) if self._text is not None else None
            ended(self._usage, self._finish, text, exc)
