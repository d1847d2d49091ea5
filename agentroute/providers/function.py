"""The terminal step for ``Router.wrap()``: call the user's own LLM function.

The function gets the router's choice as its model parameter (the deployment's model name),
the deployment's configured keyword arguments (``base_url``, ``api_key``, …; they win over the
caller's), and everything the caller passed. Its return value is handed back to the caller
untouched; usage is read from it (OpenAI and Anthropic shapes, objects or dicts) or through a
``usage_of`` callable. A response with no usage is not taken as free, which would let a
session's budget run unchecked: it is charged the input tokens the router counted for its
decision (messages, tools, system prompt), no output tokens, and the result says
``usage_estimated``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from agentroute._catalog import Catalog
from agentroute._types import ModelCall, ModelResult, Usage
from agentroute.errors import AgentRouteError, ConfigurationError, ProviderError
from agentroute.messages import TextInput
from agentroute.pricing import cost_usd
from agentroute.providers.base import require_target, translate_error
from agentroute.providers.usage import usage_from_response

UsageOf = Callable[[Any], Usage | None]


def _response_model(response: Any) -> str | None:
    model = (
        response.get("model") if isinstance(response, dict) else getattr(response, "model", None)
    )
    return model if isinstance(model, str) else None


class FunctionTerminal:
    """Call ``fn(messages, **params, <model_param>=deployment, **deployment_kwargs)``."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        catalog: Catalog,
        model_param: str,
        messages_param: str | None,
        usage_of: UsageOf | None,
    ) -> None:
        self._fn = fn
        self._catalog = catalog
        self._model_param = model_param
        self._messages_param = messages_param
        self._usage_of = usage_of or usage_from_response

    async def __call__(self, call: ModelCall) -> ModelResult:
        target = require_target(call)
        kwargs = dict(call.params)
        kwargs.update(self._catalog.call_kwargs(target))
        kwargs[self._model_param] = target.deployment
        messages: object = call.messages
        if type(messages) is TextInput:
            messages = messages.text  # the caller's own string back
        try:
            if self._messages_param is None:
                pending = self._fn(messages, **kwargs)
            else:
                kwargs[self._messages_param] = messages
                pending = self._fn(**kwargs)
            if not inspect.isawaitable(pending):
                raise ConfigurationError(
                    f"the wrapped function {getattr(self._fn, '__name__', self._fn)!r} must be "
                    "async (it returned a value instead of an awaitable)"
                )
            response = await pending
        except AgentRouteError as err:
            if isinstance(err, ProviderError):
                err.located(
                    provider=target.provider, model=target.model, deployment=target.deployment
                )
            raise
        except Exception as exc:
            translated = translate_error(exc, target)
            if translated is None:
                raise
            raise translated from exc
        try:
            usage = self._usage_of(response)
        except (ValueError, TypeError, AttributeError) as exc:
            raise ConfigurationError(
                f"cannot read token usage from the response of {target.key}: {exc}"
            ) from exc
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
