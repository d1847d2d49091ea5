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

**The direct aiohttp path.** httpx's client layer (request and response models, header
normalization, cookies, auth and redirect steps, the httpx-aiohttp adapter) cost more per call
than aiohttp itself under load (``benchmarks/results/http_throughput.md``, "where the time
goes"). So an :class:`Endpoint` that made its own client posts (JSON and event streams) through
that client's aiohttp session directly when aiohttp's pool is the chosen one (asyncio): the
same pool, the client's own headers (User-Agent, Accept; aiohttp sets ``Accept-Encoding`` to
what it can decode, and decodes), the same timeouts as httpx-aiohttp maps them, no redirects,
stream lines split as httpx splits them, and failures raised as on the httpx path (the httpx
error httpx's transport would raise, chained, see
:func:`~agentroute.providers.auto_transport._translated`). A client passed in
(``http_client=``) always goes through httpx: its hooks, auth and mounts apply. On trio the
client's httpx pool is used as before.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, NoReturn, TypeAlias, cast

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

if TYPE_CHECKING:
    import aiohttp

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


def _auto_transport_of(client: httpx.AsyncClient) -> AutoTransport | None:
    """The :class:`AutoTransport` under a :func:`default_client` (``None`` for another)."""
    transport = getattr(client, "_transport", None)
    return transport if isinstance(transport, AutoTransport) else None


# httpx's default headers aiohttp sets itself: the encodings it can decode, its keep-alive.
_AIOHTTP_OWN = frozenset({"accept-encoding", "connection"})


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


def _content(body: Body) -> bytes:
    """``body`` as JSON bytes: bytes as they are, a mapping encoded as ``httpx``'s ``json=``
    does (at any depth; lone surrogates as U+FFFD, :mod:`~agentroute.providers.wire_json`)."""
    if isinstance(body, bytes):
        return body
    try:
        return encode_body(body)
    except NotJSON as exc:
        raise not_json_error("the request body", (exc.path, exc.problem)) from None


def _json_typed(headers: Mapping[str, str]) -> Mapping[str, str]:
    """``headers`` with a JSON ``Content-Type`` first unless they name one (any case)."""
    if any(name.lower() == "content-type" for name in headers):
        return headers
    return {"Content-Type": "application/json", **headers}


async def _lines(content: Any, decoder: Any) -> AsyncGenerator[str, None]:
    """The lines of an aiohttp body (``StreamReader``), UTF-8 decoded (undecodable bytes as
    U+FFFD), split by httpx's ``LineDecoder`` (``\\r\\n``, ``\\r`` or ``\\n``)."""
    text = codecs.getincrementaldecoder("utf-8")("replace")
    async for chunk in content.iter_any():
        if piece := text.decode(chunk):
            for line in decoder.decode(piece):
                yield line
    if piece := text.decode(b"", final=True):
        for line in decoder.decode(piece):
            yield line
    for line in decoder.flush():
        yield line


@value_object
class _Direct:
    """What a POST through aiohttp directly reuses: the URL parsed once, the client's own
    headers (its User-Agent and Accept; aiohttp sets the encodings it can decode and the
    keep-alive itself) and its timeouts as httpx-aiohttp maps them."""

    url: Any
    headers: dict[str, str]
    timeout: Any

    @classmethod
    def of(cls, client: httpx.AsyncClient, url: str) -> _Direct:
        import aiohttp
        import yarl

        t = client.timeout
        return cls(
            url=yarl.URL(url),
            headers={k: v for k, v in client.headers.items() if k.lower() not in _AIOHTTP_OWN},
            timeout=aiohttp.ClientTimeout(sock_connect=t.connect, sock_read=t.read, connect=t.pool),
        )


class Endpoint:
    """One provider URL reached through one ``httpx.AsyncClient``.

    Creates a :func:`default_client` when ``client`` is ``None`` and closes only that one in
    :meth:`aclose`; an injected client is never closed here. On asyncio, :meth:`post_json` and
    :meth:`events` send through the created client's aiohttp session directly (see the module
    docstring).
    """

    def __init__(self, *, provider: str, url: str, client: httpx.AsyncClient | None) -> None:
        self.provider = provider
        self.url = url
        self._url = httpx.URL(url)  # parsed once, not at every call
        self._owns_client = client is None
        self.client = client if client is not None else default_client()
        # The client made here is sent through aiohttp directly on asyncio (see the class).
        self._auto = _auto_transport_of(self.client) if client is None else None
        self._direct: _Direct | None = None

    def status_error(self, response: httpx.Response, content: bytes) -> ProviderError:
        """The classified error for a non-2xx ``response`` whose body is ``content``."""
        return self._status_error(response.status_code, response.headers, content)

    def _status_error(self, status: int, headers: object, content: bytes) -> ProviderError:
        err = error_from_status(status, headers=headers, body=_body_of(content))
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
        """The POST of ``body`` (:func:`_content`) through the httpx client."""
        content = _content(body)
        return self.client.build_request(
            "POST", self._url, content=content, headers=_json_typed(headers)
        )

    async def post_json(self, body: Body, headers: Mapping[str, str]) -> object:
        """POST ``body`` as JSON; the parsed JSON answer, or the classified error raised (an
        answer that is not JSON, or nested too deeply to parse, is ProviderUnavailable)."""
        if self._auto is not None and (session := self._auto.aiohttp_session()) is not None:
            return await self._post_aiohttp(session, body, headers)
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

    async def _post_aiohttp(
        self, session: aiohttp.ClientSession, body: Body, headers: Mapping[str, str]
    ) -> object:
        """:meth:`post_json` through aiohttp's session directly, without httpx's client layer:
        the same headers, timeouts, errors (as httpx ones, chained) and answer."""
        try:
            async with self._aiohttp_post(session, body, headers) as response:
                status, answer_headers = response.status, response.headers
                content = await response.read()
        except Exception as exc:
            self._raise_translated(exc)
        if status >= 400:
            raise self._status_error(status, answer_headers, content)
        try:
            return json.loads(content)
        except (ValueError, RecursionError):
            raise self.bad_answer("JSON", content.decode("utf-8", "replace")) from None

    def _aiohttp_post(
        self, session: aiohttp.ClientSession, body: Body, headers: Mapping[str, str]
    ) -> Any:
        """aiohttp's request context for the POST of ``body`` (the client's own headers, then
        ``headers``; JSON content type unless given; no redirects; the client's timeouts)."""
        direct = self._direct
        if direct is None:
            direct = self._direct = _Direct.of(self.client, self.url)
        return session.post(
            direct.url,
            data=_content(body),
            headers={**direct.headers, **_json_typed(headers)},
            allow_redirects=False,
            timeout=direct.timeout,
        )

    def _raise_translated(self, exc: Exception) -> NoReturn:
        """Raise what the httpx path raises for ``exc`` from aiohttp: its classified error
        caused by the httpx error httpx's own transport would raise (itself caused by ``exc``);
        ``exc`` as it is when it is no transport failure (a ProviderError, a developer's
        mistake)."""
        from agentroute.providers.auto_transport import _translated

        mapped = _translated(exc, httpx.Request("POST", self._url))
        if mapped is None:
            raise exc
        err = translate(mapped, self.provider)
        raise err from (err.__cause__ if err is mapped else mapped)

    async def _aiohttp_events(
        self, session: aiohttp.ClientSession, body: Body, headers: Mapping[str, str]
    ) -> AsyncGenerator[SSEEvent, None]:
        """:meth:`events` through aiohttp's session directly (see :meth:`_post_aiohttp`); the
        body decoded as UTF-8 and split into lines as httpx's ``aiter_lines`` does."""
        from httpx._decoders import LineDecoder  # httpx's own splitting, for the same events

        try:
            async with self._aiohttp_post(session, body, headers) as response:
                if response.status >= 400:
                    raise self._status_error(
                        response.status, response.headers, await response.read()
                    )
                async with aclosing(iter_sse(_lines(response.content, LineDecoder()))) as events:
                    async for event in events:
                        yield event
        except Exception as exc:
            self._raise_translated(exc)

    async def events(
        self, body: Body, headers: Mapping[str, str]
    ) -> AsyncGenerator[SSEEvent, None]:
        """POST ``body`` and yield the answer's server-sent events (use with ``aclosing``).

        A non-2xx status raises its classified error before any event; a connection that fails
        or times out midway raises ProviderConnectionError / ProviderTimeout.
        """
        if self._auto is not None and (session := self._auto.aiohttp_session()) is not None:
            async with aclosing(self._aiohttp_events(session, body, headers)) as direct:
                async for event in direct:
                    yield event
            return
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
