"""The terminal step for ``Router.wrap()``: call the user's own LLM function.

The function gets the router's choice as its model parameter (the deployment's model name),
the deployment's configured keyword arguments (``base_url``, ``api_key``, …; they win over the
caller's), and everything the caller passed. Its return value is handed back to the caller
untouched; usage is read from it (the SDKs' and frameworks' shapes, objects or dicts: see
:mod:`agentroute.providers.usage`) or through a ``usage_of`` callable. A response with no usage
is not taken as free, which would let a session's budget run unchecked: it is charged the input
tokens the router counted for its decision (messages, tools, system prompt), no output tokens,
and the result says ``usage_estimated``; a ``route.usage_unknown`` event names, once per type,
the type whose usage was not understood. Before the call, the prompt-cache markers the built-in
providers would send are added to the function's arguments
(:mod:`agentroute.providers.function_cache`).

A function that streams (``stream=True``, ``messages.stream(...)``, an async generator …) is
handed back a watched stream (:mod:`agentroute.providers.wrapped_stream`): the attempt is
settled — charged, logged, its span ended — when the caller has read the stream, from the usage
its events reported (a custom ``usage_of`` is asked about each event; the last usage it gives
counts); a stream that reported none is charged the estimate above.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from types import CoroutineType
from typing import Any

from agentroute._call_shape import CallShape
from agentroute._catalog import Catalog
from agentroute._error_translation import translate
from agentroute._types import (
    AttemptOutcome,
    ModelCall,
    ModelResult,
    StreamEnd,
    StreamWatch,
    Target,
    Usage,
    UsageOf,
)
from agentroute.errors import ConfigurationError
from agentroute.messages import TextInput
from agentroute.pricing import cost_usd
from agentroute.providers.base import require_target
from agentroute.providers.function_cache import WrapCacheMarkers
from agentroute.providers.usage import StreamUsage, usage_from_response
from agentroute.providers.wrapped_stream import Ending, Shape, shape_of, watch, watch_raw
from agentroute.telemetry.logs import RouteEvents

__all__ = ["FunctionTerminal", "UsageOf"]


def _response_model(response: Any) -> str | None:
    model = (
        response.get("model") if isinstance(response, dict) else getattr(response, "model", None)
    )
    return model if isinstance(model, str) else None


class FunctionTerminal:
    """Call the wrapped function with the caller's arguments, the deployment's configured
    keyword arguments (they win) and the deployment's model name, each in the slot the
    function declares (:class:`~agentroute._call_shape.CallShape`).

    Whatever it raises leaves here through :func:`~agentroute._error_translation.translate`:
    with every known secret masked, in the error and in its chained causes; a provider error
    translated into the error tree (``raise ... from`` the original, kept), anything else
    propagating as it is. ``by_position``: the messages go back as the first of the
    function's ``*args`` (the caller passed them so, and the function has no parameter of
    their name).
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        catalog: Catalog,
        shape: CallShape,
        usage_of: UsageOf | None,
        by_position: bool = False,
        events: RouteEvents | None = None,
        deployment_param: str | None = None,
    ) -> None:
        self._fn = fn
        self._deployment_param = deployment_param
        self._catalog = catalog
        self._shape = shape
        self._model_param = shape.model_param
        self._messages_param = shape.messages_param
        self._mode = shape.mode
        self._by_position = by_position
        self._needs = shape.needs
        self._custom_usage = usage_of
        self._usage_of = usage_of or usage_from_response
        self._events = events or RouteEvents()
        self._unknown: set[type] = set()
        self._cache_markers = WrapCacheMarkers(catalog, fn)

    async def __call__(self, call: ModelCall) -> ModelResult:
        target = require_target(call)
        kwargs = dict(call.params)
        kwargs.update(self._catalog.call_kwargs(target))
        kwargs[self._model_param] = target.deployment
        if self._deployment_param is not None:
            kwargs[self._deployment_param] = self._catalog.deployment(target)
        needs = self._needs
        if needs and not needs.issubset(kwargs):
            raise self._shape.missing(kwargs, target.key)
        call = self._cache_markers.prepare(call, target, kwargs)  # prompt-cache markers
        messages: object = call.messages
        if type(messages) is TextInput:
            messages = messages.text  # the caller's own string back
        try:
            mode = self._mode
            if mode == "first":
                pending = self._fn(messages, **kwargs)
            elif mode == "keywords":
                kwargs[self._messages_param] = messages
                pending = self._fn(**kwargs)
            else:
                args, kwargs = self._shape.arguments(messages, kwargs, self._by_position)
                pending = self._fn(*args, **kwargs)
            if type(pending) is not CoroutineType and not inspect.isawaitable(pending):
                raise ConfigurationError(
                    f"the wrapped function {self._shape.name} must be async (it returned "
                    f"{type(pending).__name__} instead of an awaitable)"
                )
            response = await pending
            shape = shape_of(response)
            if shape is None:  # a complete answer (no coroutine to pay for)
                result = self._answered(call, target, response, response)
            else:
                result = await self._watched(call, target, response, shape)
        except Exception as exc:
            err = translate(exc, target)
            if err is exc:
                raise
            raise err from exc
        return result

    async def _watched(
        self, call: ModelCall, target: Target, response: Any, shape: Shape
    ) -> ModelResult:
        """The attempt's result for a stream, a stream manager (entered here, inside the
        attempt) or a raw response (parsed here: it may be a complete answer after all)."""
        if shape is Shape.RAW:
            if self._custom_usage is not None:
                return self._answered(call, target, response, response)
            parsed = response.parse()
            is_async = inspect.isawaitable(parsed)
            if is_async:
                parsed = await parsed
            if shape_of(parsed) is not Shape.STREAM:
                return self._answered(call, target, response, parsed)
            end = StreamWatch()
            raw = watch_raw(response, parsed, self._ending(call, target, end, parsed), is_async)
        else:
            end = StreamWatch()
            raw = await watch(response, shape, self._ending(call, target, end, response))
        return ModelResult(raw=raw, target=target, stream_end=end)

    def _answered(
        self, call: ModelCall, target: Target, response: Any, readable: Any
    ) -> ModelResult:
        """A complete answer: its usage (``readable`` is what the default reader reads: the
        response, or what a raw response parsed to), else the estimate."""
        reader = self._usage_of
        try:
            usage = reader(response if self._custom_usage is not None else readable)
        except (ValueError, TypeError, AttributeError, LookupError) as exc:
            # masked (this error and its cause) where it leaves: __call__, the only caller
            raise ConfigurationError(
                f"cannot read token usage from the response of {target.key}: {exc}"
            ) from exc
        if usage is not None and type(usage) is not Usage and not isinstance(usage, Usage):
            raise ConfigurationError(
                f"usage_of returned a {type(usage).__name__} for the response of {target.key}, "
                "not an agentroute.Usage or None"
            )
        estimated = usage is None
        if usage is None:  # not free: charge the input the router counted for its decision
            usage = self._estimate(call)
            self._not_understood(call, readable, streamed=False)
        return ModelResult(
            raw=response,
            usage=usage,
            response_model=_response_model(readable),
            target=target,
            cost_usd=cost_usd(usage, self._catalog.prices[target.model]),
            usage_estimated=estimated,
        )

    def _ending(self, call: ModelCall, target: Target, end: StreamWatch, stream: Any) -> Ending:
        """How a watched stream reports its end to ``end``: its usage, or the estimate."""
        custom = self._custom_usage
        reader = StreamUsage() if custom is None else _LastUsage(custom)
        price = self._catalog.prices[target.model]

        def finish(usage: Usage | None, outcome: AttemptOutcome, exc: BaseException | None) -> None:
            estimated = usage is None
            if usage is None:
                usage = self._estimate(call)
                self._not_understood(call, stream, streamed=True)
            end.finish(StreamEnd(usage, cost_usd(usage, price), estimated, outcome, exc))

        return Ending(reader, finish, target)

    @staticmethod
    def _estimate(call: ModelCall) -> Usage:
        signals = call.decision.signals if call.decision is not None else None
        return Usage(input_tokens=signals.context_tokens if signals is not None else 0)

    def _not_understood(self, call: ModelCall, answer: Any, *, streamed: bool) -> None:
        """Say once per type that its usage was not understood (the default reader only)."""
        kind = type(answer)
        if self._custom_usage is not None or kind in self._unknown:
            return
        self._unknown.add(kind)
        if call.session is not None:
            self._events.usage_unknown(call.session, call.step, kind, streamed=streamed)


class _LastUsage:
    """A stream's usage through the caller's ``usage_of``, asked about each event: the last
    usage it gives counts."""

    __slots__ = ("_usage_of", "usage")

    complete = False

    def __init__(self, usage_of: UsageOf) -> None:
        self._usage_of = usage_of
        self.usage: Usage | None = None

    def feed(self, event: object) -> None:
        usage = self._usage_of(event)
        if usage is not None:
            self.usage = usage
