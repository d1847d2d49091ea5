"""The HTTP layer under the built-in providers: client, JSON posts, SSE streams, error mapping.

The providers (:mod:`~agentroute.providers.openai`, :mod:`~agentroute.providers.anthropic`) decide
*what* to send and how to read it; this module moves the bytes, once for both:

* :func:`default_client` builds the ``httpx.AsyncClient`` a provider uses when none is injected.
* :class:`Endpoint` posts JSON to one URL or opens a server-sent-event stream there, and turns
  every failure into the error tree (:mod:`agentroute.errors`): a non-2xx status through
  :func:`~agentroute.providers.classify.error_from_status` (body and ``Retry-After`` included), an
  ``httpx`` timeout or connection error through
  :func:`~agentroute._error_translation.translate` (``raise … from`` the original), an
  unreadable 200 as :class:`~agentroute.errors.ProviderUnavailable`. Errors, and the exceptions
  chained to them, are masked of every secret value known (the same
  :func:`~agentroute._error_translation.translate`). ``httpx`` errors that are a developer's
  mistake (a malformed ``base_url``) propagate as they are (masked too).
* :func:`iter_sse` decodes an event stream (WHATWG rules: ``event:``/``data:`` fields, comments,
  multi-line data, a blank line ends an event).

**Transport choice.** Providers accept any ``httpx.AsyncClient``, so ``httpx.MockTransport`` (tests)
and other transports plug in without touching agentroute; a client you inject stays yours to
close. :func:`default_client` — the one place the default client is built — puts an
:class:`~agentroute.providers.auto_transport.AutoTransport` under it: aiohttp's connection pool
(through the ``httpx-aiohttp`` package, a dependency of agentroute) on asyncio, httpx's own pool
on trio (split into shards, see that module). httpx's pool is correct on both but its cost per
request grows with the number of requests in flight: against a loopback server at concurrency
50 and 200, one httpx pool serves a small fraction of the calls aiohttp's does, and the whole
routed path serves several times more with this transport than with one httpx pool (the figures:
``benchmarks/results/http_throughput.md``). Either pool keeps up to 256 connections open and
all of them alive for 60 s between calls. To give a client of your own the same pools, pass
``transport=AutoTransport(limits=...)``; httpx-aiohttp's ``HttpxAiohttpClient`` works too, but
reports a refused or dropped connection as a ``ConnectTimeout`` (hence ProviderTimeout).

**Cost per call.** The request is built once per call with a pre-parsed URL and the JSON already
encoded (``client.build_request`` + ``client.send``, so the client's own headers, cookies and
timeouts still apply): ``client.post(url_string, json=...)`` costs markedly more in httpx
itself, which matters next to aiohttp's own small cost per call.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from contextlib import aclosing
from typing import Any, TypeAlias, cast

import httpx

from agentroute._error_translation import translate
from agentroute._frozen import value_object
from agentroute._json_text import NotJSON, parse_answer
from agentroute._secrets import Secret, redact
from agentroute._types import StreamChunk
from agentroute.errors import AuthenticationFailed, ProviderError, ProviderUnavailable
from agentroute.providers.auto_transport import AutoTransport
from agentroute.providers.classify import error_from_status
from agentroute.providers.wire_json import encode_body, not_json_error

__all__ = [
    "CONNECT_TIMEOUT_S",
    "DEFAULT_TIMEOUT_S",
    "Endpoint",
    "SSEEvent",
    "as_secret",
    "check_headers",
    "default_client",
    "iter_sse",
    "resolve_headers",
]

DEFAULT_TIMEOUT_S = 600.0
"""Read/write/pool timeout of :func:`default_client` when none is given (as the official SDKs:
long answers take minutes; the router's per-attempt deadline is usually the tighter bound)."""
CONNECT_TIMEOUT_S = 10.0
KEEPALIVE_EXPIRY_S = 60.0
_SNIPPET = 200

Body: TypeAlias = Mapping[str, Any] | bytes
"""A request body: a JSON object to encode, or JSON bytes already encoded."""


def default_client(
    *, timeout: float | None = None, max_connections: int = 256
) -> httpx.AsyncClient:
    """A new ``httpx.AsyncClient`` tuned for many concurrent model calls.

    Its transport is an :class:`~agentroute.providers.auto_transport.AutoTransport`: aiohttp's
    pool on asyncio (when ``httpx-aiohttp`` is installed, as it is with agentroute), httpx's own
    on trio. Use it on one event loop, and ``await client.aclose()`` when done.

    Args:
        timeout: read/write/pool timeout in seconds; ``None`` means :data:`DEFAULT_TIMEOUT_S`.
            Connecting never waits longer than :data:`CONNECT_TIMEOUT_S` (or ``timeout`` if
            shorter), so a dead host fails fast and the router can try the next deployment.
        max_connections: the pool's size; all of them may stay alive between calls (60 s idle),
            so a steady load never pays for new TCP/TLS handshakes.
    """
    total = DEFAULT_TIMEOUT_S if timeout is None else timeout
    limits = httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=KEEPALIVE_EXPIRY_S,
    )
    return httpx.AsyncClient(
        timeout=httpx.Timeout(total, connect=min(CONNECT_TIMEOUT_S, total)),
        limits=limits,
        transport=AutoTransport(limits=limits),
    )


def as_secret(value: Secret | str | None) -> Secret | None:
    """A literal string becomes a masked :class:`Secret` (so it is scrubbed from error text)."""
    return Secret(literal=value) if isinstance(value, str) else value


def resolve_headers(headers: Mapping[str, Secret | str], where: str) -> dict[str, str]:
    """Header values, :class:`Secret` ones resolved now (ConfigurationError when unset)."""
    return {k: v.resolve(where) if isinstance(v, Secret) else v for k, v in headers.items()}


_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_NOT_IN_HEADER_VALUE = re.compile(r"[^\t\x20-\x7e]")


def check_headers(headers: Mapping[str, str], provider: str) -> None:
    """Raise AuthenticationFailed if a header cannot be sent: a name that is not an HTTP token,
    or a value holding a line break, another control character or non-ASCII text.

    Such a value is almost always a key with a stray character (pasted, read from a file);
    httpx or aiohttp would raise a bare ValueError quoting it, failing the whole call. As
    AuthenticationFailed — the deployment's credentials cannot be used — the fallback puts
    the deployment aside and moves on to the next one. The message names the header, never
    its value."""
    for name, value in headers.items():
        if not _HEADER_NAME.fullmatch(name):
            problem = "is not a valid HTTP header name"
        elif _NOT_IN_HEADER_VALUE.search(value):
            problem = (
                "cannot be sent: its value holds a line break, a control character or "
                "non-ASCII text (check the key or header configured)"
            )
        else:
            continue
        shown = name if _HEADER_NAME.fullmatch(name) else "a header"
        raise AuthenticationFailed(
            f"provider {provider!r}: header {shown} {problem}", provider=provider
        )


@value_object
class SSEEvent:
    """One server-sent event: its ``event:`` name (``None`` when absent) and its ``data``."""

    event: str | None
    data: str


async def iter_sse(lines: AsyncIterator[str]) -> AsyncGenerator[SSEEvent, None]:
    """Decode server-sent events from ``lines`` (without line endings)."""
    event: str | None = None
    data: list[str] = []
    async for line in lines:
        if not line:
            if data or event is not None:
                yield SSEEvent(event, "\n".join(data))
            event, data = None, []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
    if data:
        yield SSEEvent(event, "\n".join(data))


def _body_of(content: bytes) -> object:
    try:
        return parse_answer(content)
    except ValueError:
        return content.decode("utf-8", errors="replace")


class Endpoint:
    """One provider URL reached through one ``httpx.AsyncClient``.

    Creates a :func:`default_client` when ``client`` is ``None`` and closes only that one in
    :meth:`aclose`; an injected client is never closed here.
    """

    def __init__(self, *, provider: str, url: str, client: httpx.AsyncClient | None) -> None:
        self.provider = provider
        self.url = url
        self._url = httpx.URL(url)  # parsed once, not at every call
        self._owns_client = client is None
        self.client = client if client is not None else default_client()

    def status_error(self, response: httpx.Response, content: bytes) -> ProviderError:
        """The classified error for a non-2xx ``response`` whose body is ``content``."""
        err = error_from_status(
            response.status_code, headers=response.headers, body=_body_of(content)
        )
        return translate(err, self.provider)

    def body_error(self, body: object) -> ProviderError:
        """The classified error for an error object sent with HTTP 200 (e.g. inside a stream)."""
        return translate(error_from_status(200, body=body), self.provider)

    def bad_answer(self, expected: str, text: str) -> ProviderUnavailable:
        """A ProviderUnavailable for a 200 answer that is not ``expected``; quotes its start."""
        snippet = redact(text[:_SNIPPET]) + ("…" if len(text) > _SNIPPET else "")
        quoted = f": {snippet!r}" if text else ""
        err = ProviderUnavailable(
            f"HTTP 200 from provider {self.provider!r}, but the body is not {expected}{quoted}"
        )
        err.provider = self.provider
        return err

    def _request(self, body: Body, headers: Mapping[str, str]) -> httpx.Request:
        """The POST of ``body``: JSON bytes as they are, a mapping encoded as ``httpx``'s
        ``json=`` does (at any depth; lone surrogates as U+FFFD,
        :mod:`~agentroute.providers.wire_json`)."""
        if isinstance(body, bytes):
            content = body
        else:
            try:
                content = encode_body(body)
            except NotJSON as exc:
                raise not_json_error("the request body", (exc.path, exc.problem)) from None
        if not any(name.lower() == "content-type" for name in headers):
            headers = {"Content-Type": "application/json", **headers}
        return self.client.build_request("POST", self._url, content=content, headers=headers)

    async def post_json(self, body: Body, headers: Mapping[str, str]) -> object:
        """POST ``body`` as JSON; the parsed JSON answer, or the classified error raised (an
        answer that is not JSON, or nested too deeply to parse, is ProviderUnavailable)."""
        try:
            response = await self.client.send(self._request(body, headers))
        except httpx.RequestError as exc:
            if (err := translate(exc, self.provider)) is exc:
                raise
            raise err from exc
        if response.status_code >= 400:
            raise self.status_error(response, response.content)
        try:
            return response.json()
        except (ValueError, RecursionError):
            raise self.bad_answer("JSON", response.text) from None

    async def events(
        self, body: Body, headers: Mapping[str, str]
    ) -> AsyncGenerator[SSEEvent, None]:
        """POST ``body`` and yield the answer's server-sent events (use with ``aclosing``).

        A non-2xx status raises its classified error before any event; a connection that fails
        or times out midway raises ProviderConnectionError / ProviderTimeout.
        """
        try:
            response = await self.client.send(self._request(body, headers), stream=True)
            try:
                if response.status_code >= 400:
                    raise self.status_error(response, await response.aread())
                # aiter_lines() is an async generator (typed as an iterator): close it promptly.
                lines_iter = cast(AsyncGenerator[str, None], response.aiter_lines())
                async with (
                    aclosing(lines_iter) as lines,
                    aclosing(iter_sse(lines)) as events,
                ):
                    async for event in events:
                        yield event
            finally:
                await response.aclose()
        except httpx.RequestError as exc:
            if (err := translate(exc, self.provider)) is exc:
                raise
            raise err from exc

    async def chunks(
        self,
        body: Body,
        headers: Mapping[str, str],
        parse: Callable[[SSEEvent], StreamChunk | None],
    ) -> AsyncGenerator[StreamChunk, None]:
        """The chunks ``parse`` makes of the events of :meth:`events` (use with ``aclosing``).

        An error ``parse`` raises (an error event, an unreadable chunk) is raised when the server
        ends the stream, which it does right after such an event: reading to the end lets httpx
        close its own generators (trio warns about abandoned ones) and keeps the connection.
        """
        pending: ProviderError | None = None
        try:
            async with aclosing(self.events(body, headers)) as events:
                async for event in events:
                    if pending is not None:
                        continue
                    try:
                        chunk = parse(event)
                    except ProviderError as err:
                        pending = err
                        continue
                    if chunk is not None:
                        yield chunk
        except ProviderError:
            if pending is None:
                raise
        if pending is not None:
            raise pending

    async def aclose(self) -> None:
        """Close the client if this endpoint created it."""
        if self._owns_client:
            await self.client.aclose()
