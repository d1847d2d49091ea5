"""What both built-in HTTP providers share: endpoint, auth, ``send``, ``stream``, ``aclose``.

:class:`~agentroute.providers.openai.OpenAIProvider` and
:class:`~agentroute.providers.anthropic.AnthropicProvider` differ only in their URL, auth
headers, request body, response parsing and stream parser; this base holds the rest once, so
a fix to sending, streaming or error locating lands in both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from typing import Any, ClassVar, Protocol

import httpx

from agentroute._error_translation import translate
from agentroute._json_text import NotJSON
from agentroute._secrets import Secret
from agentroute._types import ModelCall, ModelResult, StreamChunk, Usage
from agentroute._urls import HTTP_URL_RULE, is_http_url
from agentroute.errors import ConfigurationError, ProviderConnectionError, ProviderError
from agentroute.providers.base import BaseProvider
from agentroute.providers.transport import (
    Endpoint,
    SSEEvent,
    as_secret,
    check_headers,
    resolve_headers,
)
from agentroute.providers.usage import usage_from_response
from agentroute.providers.wire_json import encode_body, unsendable

__all__ = ["HTTPProvider", "StreamParser"]


class StreamParser(Protocol):
    """Reads one provider's server-sent events; ``done`` once the answer is complete."""

    done: bool

    def feed(self, event: SSEEvent) -> StreamChunk | None: ...


class HTTPProvider(BaseProvider):
    """Base of the built-in HTTP providers (see the subclasses for the wire details): the whole
    :class:`~agentroute.Provider` contract (``send``, ``stream``, ``aclose``).

    Args:
        name: the provider's name in the config (used in errors and logs).
        base_url: the API root (an ``http://`` or ``https://`` URL, else ConfigurationError);
            ``None`` for the provider's public default.
        api_key: a :class:`~agentroute._secrets.Secret` (``env:NAME``) or a literal key,
            resolved at each request (surrounding whitespace dropped) and never shown; a key
            that cannot be sent in a header fails each attempt as AuthenticationFailed.
        client: an ``httpx.AsyncClient`` to use (left open); without one the provider makes
            its own and closes it in :meth:`aclose`.
        headers: extra headers (values may be secrets).
    """

    default_base_url: ClassVar[str]

    def __init__(
        self,
        *,
        name: str,
        base_url: str | None,
        api_key: Secret | str | None,
        client: httpx.AsyncClient | None = None,
        headers: Mapping[str, Secret | str] | None = None,
    ) -> None:
        self.name = name
        if base_url is not None and not is_http_url(base_url):
            raise ConfigurationError(f"provider {name!r}: base_url {HTTP_URL_RULE}")
        root = (base_url or self.default_base_url).rstrip("/")
        self._endpoint = Endpoint(provider=name, url=self.endpoint_url(root), client=client)
        self._api_key = as_secret(api_key)
        self._headers = dict(headers or {})

    # What a subclass says -----------------------------------------------------------------

    def endpoint_url(self, root: str) -> str:
        raise NotImplementedError

    def auth_headers(self, key: str | None) -> dict[str, str]:
        raise NotImplementedError

    def build_request(self, call: ModelCall, *, stream: bool = False) -> dict[str, Any]:
        raise NotImplementedError

    def parse_response(self, data: object) -> ModelResult:
        raise NotImplementedError

    def stream_parser(self) -> StreamParser:
        raise NotImplementedError

    # Shared -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self._endpoint.url

    def request_headers(self) -> dict[str, str]:
        """The headers of one request, secrets resolved now (without surrounding whitespace);
        AuthenticationFailed if one cannot be sent (:func:`~.transport.check_headers`)."""
        where = f"provider {self.name!r}"
        key = self._api_key.resolve(where) if self._api_key is not None else None
        headers = self.auth_headers(key)
        headers.update(resolve_headers(self._headers, where))
        check_headers(headers, self.name)
        return headers

    def encoded_request(self, call: ModelCall, *, stream: bool = False) -> bytes:
        """The request body for ``call`` as JSON bytes (:mod:`~agentroute.providers.wire_json`).

        Raises:
            ConfigurationError: a value in the call cannot be sent as JSON, named by its place
                in the call (``messages[2].tool_calls[0].function.arguments.when: …``).
        """
        body = self.build_request(call, stream=stream)
        try:
            return encode_body(body)
        except NotJSON:
            raise unsendable(call.messages, call.tools, call.params, body) from None

    def _usage(self, data: object) -> Usage:
        try:
            return usage_from_response(data) or Usage()
        except ValueError as exc:
            raise self._endpoint.bad_answer(f"a readable usage report ({exc})", "") from None

    async def send(self, call: ModelCall, /) -> ModelResult:
        """Send ``call`` and return the normalized answer (see the class for what is raised)."""
        body = self.encoded_request(call)
        data = await self._endpoint.post_json(body, self.request_headers())
        return self.parse_response(data)

    async def stream(self, call: ModelCall, /) -> AsyncIterator[StreamChunk]:
        """Stream ``call``'s answer: text and tool-call pieces, the finish reason, then usage.

        Errors before the first chunk are those of :meth:`send`; an error event or a dropped
        connection midway raises its classified ProviderError; a stream that ends before the
        answer is complete raises ProviderConnectionError. Read it to the end or close it
        (``contextlib.aclosing``): on trio, a stream abandoned midway leaves httpx's own
        generators to the garbage collector, which warns.
        """
        body = self.encoded_request(call, stream=True)
        parser = self.stream_parser()
        try:
            chunks = self._endpoint.chunks(body, self.request_headers(), parser.feed)
            async with aclosing(chunks) as stream:
                async for chunk in stream:
                    yield chunk
            if not parser.done:
                raise ProviderConnectionError("the stream ended before the answer was complete")
        except ProviderError as err:
            translate(err, call.target or self.name)  # located (it is masked already)
            raise

    async def aclose(self) -> None:
        """Close the HTTP client if this provider created it."""
        await self._endpoint.aclose()
