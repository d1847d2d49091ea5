"""Build the built-in HTTP provider for one configured provider account.

``Router`` and the CLI turn each entry of ``providers:`` in the config into a
:class:`~agentroute.Provider` here: ``kind: openai`` (Chat Completions and compatible servers) →
:class:`~agentroute.providers.openai.OpenAIProvider`, ``kind: anthropic`` →
:class:`~agentroute.providers.anthropic.AnthropicProvider`. Secrets stay ``env:`` references
until a request needs them.

Cache markers (docs/architecture.md, "Affinity and prompt caching") are resolved here from the
config's ``None`` = auto: Anthropic providers add ``cache_control`` breakpoints unless
``cache_breakpoints: false`` (with a 1-hour TTL when ``cache_ttl_s >= 3600``); OpenAI
providers send ``prompt_cache_key`` when ``prompt_cache_key: true``, or by default when they
talk to the official API (no ``base_url``, or one on ``api.openai.com``): other compatible
servers often reject unknown fields.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx

from agentroute.config import ProviderConfig
from agentroute.policy.tool_errors import ToolErrorDetector, default_tool_error_detector
from agentroute.providers.openai import OpenAIProvider

if TYPE_CHECKING:
    from agentroute.providers.anthropic import AnthropicProvider

__all__ = ["build_provider"]


def build_provider(
    name: str,
    config: ProviderConfig,
    *,
    client: httpx.AsyncClient | None = None,
    tool_error_detector: ToolErrorDetector = default_tool_error_detector,
) -> OpenAIProvider | AnthropicProvider:
    """The provider for ``config``, named ``name``.

    ``base_url`` defaults to ``https://api.openai.com/v1`` or ``https://api.anthropic.com``.
    ``client`` is shared as given (and left open); without one each provider makes its own
    :func:`~agentroute.providers.transport.default_client` and closes it in ``aclose()``.
    ``tool_error_detector`` is the router's, so the conversion of tool results' error flags
    agrees with the signals.
    """
    if config.kind == "anthropic":
        # imported once a config has an Anthropic provider: an OpenAI-only router never loads it
        from agentroute.providers.anthropic import AnthropicProvider

        return AnthropicProvider(
            name=name,
            base_url=config.base_url,  # None: the provider's own default_base_url
            api_key=config.api_key,
            client=client,
            headers=dict(config.headers),
            cache_breakpoints=config.cache_breakpoints is not False,
            cache_ttl_s=config.cache_ttl_s,
            tool_error_detector=tool_error_detector,
        )
    cache_key = config.prompt_cache_key
    return OpenAIProvider(
        name=name,
        base_url=config.base_url,
        api_key=config.api_key,
        client=client,
        headers=dict(config.headers),
        prompt_cache_key=_official_openai(config.base_url) if cache_key is None else cache_key,
        tool_error_detector=tool_error_detector,
    )


def _official_openai(base_url: str | None) -> bool:
    return base_url is None or urlsplit(base_url).hostname == "api.openai.com"
