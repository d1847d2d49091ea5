"""Build the built-in HTTP provider for one configured provider account.

``Router`` and the CLI turn each entry of ``providers:`` in the config into a
:class:`~agentroute.Provider` here: ``kind: openai`` (Chat Completions and compatible servers) →
:class:`~agentroute.providers.openai.OpenAIProvider`, ``kind: anthropic`` →
:class:`~agentroute.providers.anthropic.AnthropicProvider`. Secrets stay ``env:`` references
until a request needs them.
"""

from __future__ import annotations

import httpx

from agentroute.config import ProviderConfig
from agentroute.providers.anthropic import AnthropicProvider
from agentroute.providers.openai import OpenAIProvider

__all__ = ["build_provider"]


def build_provider(
    name: str, config: ProviderConfig, *, client: httpx.AsyncClient | None = None
) -> OpenAIProvider | AnthropicProvider:
    """The provider for ``config``, named ``name``.

    ``base_url`` defaults to ``https://api.openai.com/v1`` or ``https://api.anthropic.com``.
    ``client`` is shared as given (and left open); without one each provider makes its own
    :func:`~agentroute.providers.transport.default_client` and closes it in ``aclose()``.
    """
    cls = AnthropicProvider if config.kind == "anthropic" else OpenAIProvider
    return cls(
        name=name,
        base_url=config.base_url,  # None: the provider's own default_base_url
        api_key=config.api_key,
        client=client,
        headers=dict(config.headers),
    )
