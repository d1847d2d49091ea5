"""The terminal step for ``Router.wrap()``: call the user's own LLM function.

The function gets the router's choice as its model parameter (the deployment's model name),
the deployment's configured keyword arguments (``base_url``, ``api_key``, …; they win over the
caller's), and everything the caller passed. Its return value is handed back to the caller
untouched; usage is read from it (OpenAI and Anthropic shapes, objects or dicts) or through a
``usage_of`` callable. A response with no usage is not taken as free, which would let a
session's budget run unchecked: it is charged the input tokens the router counted for its
decision (messages, tools, system prompt), no output tokens, and the result says
``usage_estimated``. Before the call, the prompt-cache markers the built-in providers would send
are added to the function's arguments (:mod:`agentroute.providers.function_cache`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from agentroute._call_args import CallShape
from agentroute._catalog import Catalog
from agentroute._error_scrub import scrub_exception
from agentroute._secrets import redact
from agentroute._types import ModelCall, ModelResult, Usage
from agentroute.errors import AgentRouteError, ConfigurationError, ProviderError
from agentroute.messages import TextInput
from agentroute.pricing import cost_usd
from agentroute.providers.base import require_target, scrubbed, translate_error
from agentroute.providers.function_cache import WrapCacheMarkers
from agentroute.providers.usage import usage_from_response

UsageOf = Callable[[Any], Usage | None]


def _response_model(response: Any) -> str | None:
    model = (
        response.get("model") if isinstance(response, dict) else getattr(response, "model", None)
    )
    return model if isinstance(model, str) else None


class FunctionTerminal:
    """Call the wrapped function with the caller's arguments, the deployment's configured
    keyword arguments (they win) and the deployment's model name, each in the slot the
    function declares (:class:`~agentroute._call_args.CallShape`).

    Whatever it raises leaves here with every configured secret masked, in the error and in
    its chained causes (:mod:`agentroute._error_scrub`): a provider error is translated into
    the error tree (``raise ... from`` the original, kept), anything else propagates as it
    is. ``by_position``: the messages go back as the first of the function's ``*args`` (the
    caller passed them so, and the function has no parameter of their name).
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        catalog: Catalog,
        shape: CallShape,
        usage_of: UsageOf | None,
        by_position: bool = False,
    ) -> None:
        self._fn = fn
        self._catalog = catalog
        self._shape = shape
        self._model_param = shape.model_param
        self._messages_param = shape.messages_param
        self._mode = shape.mode
        self._by_position = by_position
        self._needs = shape.needs
        self._usage_of = usage_of or usage_from_response
        self._cache_markers = WrapCacheMarkers(catalog, fn)

    async def __call__(self, call: ModelCall) -> ModelResult:
        target = require_target(call)
        kwargs = dict(call.params)
        kwargs.update(self._catalog.call_kwargs(target))
        kwargs[self._model_param] = target.deployment
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
            if not inspect.isawaitable(pending):
                raise ConfigurationError(
                    f"the wrapped function {self._shape.name} must be async (it returned "
                    f"{type(pending).__name__} instead of an awaitable)"
                )
            response = await pending
        except AgentRouteError as err:
            if isinstance(err, ProviderError):
                scrubbed(err, target)
            scrub_exception(err)
            raise
        except Exception as exc:
            scrub_exception(exc)
            translated = translate_error(exc, target)
            if translated is None:
                raise
            raise translated from exc
        try:
            usage = self._usage_of(response)
        except (ValueError, TypeError, AttributeError, LookupError) as exc:
            raise ConfigurationError(
                redact(f"cannot read token usage from the response of {target.key}: {exc}")
            ) from scrub_exception(exc)
        if usage is not None and not isinstance(usage, Usage):
            raise ConfigurationError(
                f"usage_of returned a {type(usage).__name__} for the response of {target.key}, "
                "not an agentroute.Usage or None"
            )
        estimated = usage is None
        if usage is None:  # not free: charge the input the router counted for its decision
            signals = call.decision.signals if call.decision is not None else None
            usage = Usage(input_tokens=signals.context_tokens if signals is not None else 0)
        return ModelResult(
            raw=response,
            usage=usage,
            response_model=_response_model(response),
            target=target,
            cost_usd=cost_usd(usage, self._catalog.prices[target.model]),
            usage_estimated=estimated,
        )
