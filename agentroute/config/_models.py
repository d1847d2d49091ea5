"""What can be called: the ``providers`` section (where and how to reach each provider
account) and the ``models`` section (each model's window, deployments and price).

Keyword arguments configured for a provider or a deployment are protected as they are read:
``env:NAME`` strings, and literal strings under secret-looking keys (``api_key``,
``Authorization``, …), become :class:`~agentroute._secrets.Secret` objects, at any depth, and
are serialized as their references or masked. A model without a price gets one from the
genai-prices database (:class:`ModelConfig`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_serializer, field_validator

from agentroute._secrets import ENV_PREFIX, Secret
from agentroute._urls import HTTP_URL_RULE, is_http_url
from agentroute.config._fields import Integer, NonNeg, Positive, _Strict
from agentroute.config._price import Price

__all__ = ["DeploymentConfig", "ModelConfig", "ProviderConfig"]


_SECRET_WORDS = ("key", "token", "secret", "password", "authorization")


def _protect(value: Any, key: str = "") -> Any:
    """``env:NAME`` strings become Secrets, and so do literal strings under secret-looking keys
    (``api_key``, ``Authorization``, …), at any depth of nested mappings and lists."""
    if isinstance(value, Mapping):
        return {k: _protect(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_protect(v, key) for v in value]
    if isinstance(value, str) and (
        value.startswith(ENV_PREFIX) or any(w in key.lower() for w in _SECRET_WORDS)
    ):
        return Secret.parse(value)
    return value


def _protect_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: _protect(v, k) for k, v in kwargs.items()}


def _show(value: Any) -> Any:
    """Serialize with secrets as their references (``env:NAME``) or masked."""
    if isinstance(value, Secret):
        return value.display
    if isinstance(value, dict):
        return {k: _show(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_show(v) for v in value]
    return value


def _show_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: _show(v) for k, v in kwargs.items()}


class ProviderConfig(_Strict):
    """Where and how to reach one provider account.

    ``kind`` is the wire format (``openai``: Chat Completions and compatible servers;
    ``anthropic``: Messages API). ``kwargs`` are passed to a wrapped call function for every
    deployment of this provider (string values ``env:NAME`` are resolved at call time).
    ``cache_breakpoints`` (``kind: anthropic``): automatic ``cache_control`` breakpoints on the
    tools, system prompt and last message (``None``: on). ``prompt_cache_key`` (``kind:
    openai``): send the session key as ``prompt_cache_key`` (``None``: on for the official API,
    i.e. no ``base_url`` or ``api.openai.com``, off for other servers, which may reject it).
    Both apply to a ``wrap()``-ed function's call too (see
    :mod:`agentroute.providers.function_cache`).
    ``base_url`` must be an ``http://`` or ``https://`` URL with a host (a key pasted there by
    mistake is an error naming the field, never quoting the value).
    """

    kind: Literal["openai", "anthropic"] = "openai"
    base_url: str | None = None
    api_key: Secret | None = None
    cache_ttl_s: NonNeg = 300.0
    cache_breakpoints: bool | None = None
    prompt_cache_key: bool | None = None
    headers: dict[str, Secret] = Field(default_factory=dict)
    kwargs: dict[str, Any] = Field(default_factory=dict)

    _kwargs = field_validator("kwargs")(_protect_kwargs)
    _dump_kwargs = field_serializer("kwargs")(_show_kwargs)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not is_http_url(value):
            raise ValueError(HTTP_URL_RULE)
        return value


class DeploymentConfig(_Strict):
    """One provider's deployment of a model: which provider, and the provider's model name."""

    provider: str = Field(min_length=1)
    name: str = Field(min_length=1)
    weight: Positive = 1.0
    kwargs: dict[str, Any] = Field(default_factory=dict)

    _kwargs = field_validator("kwargs")(_protect_kwargs)
    _dump_kwargs = field_serializer("kwargs")(_show_kwargs)


class ModelConfig(_Strict):
    """A model: its window, its deployments (in order of preference) and its price.

    ``price`` may be omitted: it is then looked up in the genai-prices database when the
    config is validated (needs ``pip install 'agentroute[prices]'``), by ``price_ref`` —
    ``"provider:model"`` with a genai-prices provider id (``anthropic``, ``openai``,
    ``openrouter``, ``deepseek``, …), or a bare ``"model"`` whose provider is guessed from the
    name — else by the first deployment's ``provider:name`` (the provider's name in this config
    taken as the id; when genai-prices knows no such provider, guessed from the model name).
    A configured price always wins. No price anywhere is an error naming
    ``models.<name>.price``. See :func:`agentroute.pricing.lookup_price`.
    """

    context_window: Integer = Field(gt=0)
    max_output_tokens: Integer | None = Field(default=None, gt=0)
    """The most output tokens one answer of this model may take. Its one effect: the built-in
    providers lower a call's ``max_tokens``/``max_completion_tokens`` above it to it (a limit
    meant for a bigger model of another tier would be refused by this one's API), and the
    Anthropic provider's 4096 default when the call sets none. A call without a limit is sent
    as before, a ``wrap()``-ed function gets the caller's arguments, and the context-window
    check counts the input only (less ``policy.context_margin``)."""
    typical_steps: Integer | None = Field(default=None, gt=0)
    """How many model calls a normal run of this model takes (a positive whole number): the
    step signal counts this model's steps relative to it, so that a score of 0.3 from steps
    means "a quarter past a normal run" on a model that runs 40 calls as on one that runs 10.
    The signal adds ``policy.expected_steps / typical_steps`` per step on this model, so
    unset (the default: ``policy.expected_steps``) every step counts 1, as without it. A tier
    uses the scale of its first model (the one that serves it while healthy); each step counts
    at the scale of the tier the session held when the step was routed (see
    :class:`agentroute.policy.signals.StepProgress`). ``agentroute calibrate`` fits it."""
    price_ref: str | None = Field(default=None, min_length=1)
    deployments: list[DeploymentConfig] = Field(min_length=1)
    # After ``price_ref`` and ``deployments``: its lookup reads them. Always a Price once
    # validated (the validator fills it in or fails).
    price: Price = Field(default=None, validate_default=True)

    @field_validator("price", mode="before")
    @classmethod
    def _look_up_price(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None:
            return value
        from agentroute.pricing import PriceNotFound, lookup_price

        ref: str | None = info.data.get("price_ref")
        guess = False
        if ref is None:
            deployments: list[DeploymentConfig] = info.data.get("deployments") or []
            if not deployments:
                raise ValueError("no price configured, and no deployment to look one up by")
            first = deployments[0]
            ref, guess = f"{first.provider}:{first.name}", True
        try:
            return lookup_price(ref, guess_provider=guess)
        except PriceNotFound as exc:
            raise ValueError(
                f"no price configured, and none found for {ref!r}: {exc}; set the price "
                "(input, output, … USD per million tokens) or a price_ref"
            ) from None
