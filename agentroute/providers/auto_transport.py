"""The transport under :func:`~agentroute.providers.transport.default_client`: aiohttp's connection
pool on asyncio, httpx's own (sharded) on trio.

Why: against a loopback OpenAI-compatible server on a 2-core machine
(``benchmarks/http_throughput.py``), httpx's own pool serves a small fraction of the calls
aiohttp's does at concurrency 50 and 200 — its cost per request grows with the number in flight
(the figures: ``benchmarks/results/http_throughput.md``). aiohttp runs only on asyncio, so
:class:`AutoTransport` decides at its first request, from the running async library:

* asyncio, and the ``httpx-aiohttp`` package importable → ``httpx_aiohttp.AiohttpTransport``
  (its ``aiohttp.ClientSession`` is made then, inside the running loop);
* otherwise (trio, or ``httpx-aiohttp`` missing) → httpx's own pool, split into shards of
  :data:`SHARD_CONNECTIONS` connections, each request going to the shard with the fewest
  requests in flight. httpx's pool scans its connections and queued requests whenever a request
  starts or ends, so its cost per request grows with the load; through the whole routed path,
  32 pools of 8 serve more calls than one pool of 256 at high concurrency, on asyncio and
  trio (the "sharded httpx pool" rows of ``benchmarks/results/http_throughput.md``), and a
  sequential caller still uses one connection.

Either way the pool limits are the ones given (in total); timeouts come per request from the
client (httpx-aiohttp maps ``connect`` → aiohttp's ``sock_connect``, ``read`` → ``sock_read``,
``pool`` → ``connect``; aiohttp has no write timeout). Bodies are streamed as they arrive on
both (server-sent events).

Errors: httpx-aiohttp turns aiohttp's exceptions into httpx ones, but maps every
``ClientConnectionError`` — a refused connection, a server that hung up — to ``ConnectTimeout``,
and lets others (``ClientResponseError`` for a malformed answer) through as they are. This module
re-maps them from the original aiohttp exception, at the request and while the body is read, so
:func:`~agentroute.providers.classify.classify_exception` sees what httpx's own transport would
raise: ``ConnectTimeout``/``ReadTimeout`` → ProviderTimeout; ``ConnectError``,
``RemoteProtocolError``, ``ReadError`` → ProviderConnectionError.

Direct use: :meth:`AutoTransport.aiohttp_session` hands out the aiohttp session of the chosen
pool, so a client built by :func:`~agentroute.providers.transport.default_client` can be
bypassed (an :class:`~agentroute.providers.transport.Endpoint` does so for the client it made)
while sharing its connections, limits and lifetime.

Lifetime: the transport belongs to the event loop of its first request (as httpx's pool does);
a request from another async library raises ``RuntimeError``. :meth:`AutoTransport.aclose`
(called by ``AsyncClient.aclose``) closes the aiohttp session, shielded from cancellation, so
no "Unclosed client session" warning is left; afterwards the transport refuses requests.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Literal

import anyio
import httpx

if TYPE_CHECKING:
    import aiohttp

__all__ = ["SHARD_CONNECTIONS", "AutoTransport", "ShardedHTTPTransport", "current_async_library"]

Backend = Literal["aiohttp", "httpx"]
SHARD_CONNECTIONS = 8
"""Connections per httpx pool in :class:`ShardedHTTPTransport` (a pool's cost per request grows
with its connections and requests in flight)."""


def current_async_library() -> str:
    """``"asyncio"`` or ``"trio"`` (sniffio's answer; asyncio when sniffio, which trio needs, is
    not installed — as httpcore does)."""
    try:
        import sniffio
    except ImportError:  # pragma: no cover - trio depends on sniffio
        return "asyncio"
    return sniffio.current_async_library()


class AutoTransport(httpx.AsyncBaseTransport):
    """An ``httpx`` transport that delegates to aiohttp on asyncio and to httpx's pool elsewhere.

    Args:
        limits: pool limits for whichever pool is chosen (aiohttp uses ``max_connections`` and
            ``keepalive_expiry``; it keeps every idle connection alive up to the limit).
        prefer_aiohttp: ``False`` always uses httpx's own pool (the trio path, on asyncio too).

    Raises (from :meth:`handle_async_request`): the ``httpx.TransportError`` subclasses httpx's
    own transport raises; ``RuntimeError`` when used from a second async library or after
    :meth:`aclose`.
    """

    def __init__(self, *, limits: httpx.Limits, prefer_aiohttp: bool = True) -> None:
        self._limits = limits
        self._prefer_aiohttp = prefer_aiohttp
        self._inner: httpx.AsyncBaseTransport | None = None
        self._library: str | None = None
        self._backend: Backend | None = None
        self._closed = False
        self._session: aiohttp.ClientSession | None = None

    @property
    def backend(self) -> Backend | None:
        """``"aiohttp"`` or ``"httpx"`` once the first request has chosen; ``None`` before."""
        return self._backend

    def _choose(self, library: str) -> httpx.AsyncBaseTransport:
        inner: httpx.AsyncBaseTransport | None = None
        if library == "asyncio" and self._prefer_aiohttp:
            try:
                from httpx_aiohttp import AiohttpTransport
            except ImportError:
                pass
            else:
                inner, self._backend = AiohttpTransport(limits=self._limits), "aiohttp"
        if inner is None:
            inner, self._backend = ShardedHTTPTransport(limits=self._limits), "httpx"
        self._inner, self._library = inner, library
        return inner

    def _inner_for(self, library: str) -> httpx.AsyncBaseTransport:
        """The chosen pool (chosen now, at the first request); RuntimeError when closed or
        when first used from another async library."""
        inner = self._inner
        if inner is None:
            if self._closed:
                raise RuntimeError("the transport is closed")
            return self._choose(library)
        if library != self._library:
            raise RuntimeError(
                f"this HTTP client was first used on {self._library} and now on {library}: "
                "use one client per event loop"
            )
        return inner

    def aiohttp_session(self) -> aiohttp.ClientSession | None:
        """aiohttp's session under this transport, for a caller that sends through aiohttp
        directly (:class:`~agentroute.providers.transport.Endpoint` does, for the client it
        made): the pool is chosen now if not yet, as at a first request; ``None`` when it is
        httpx's. Raises ``RuntimeError`` as :meth:`handle_async_request` does."""
        library = current_async_library()
        session = self._session
        if session is not None and library == self._library:
            return session
        inner = self._inner_for(library)
        if self._backend != "aiohttp":
            return None
        import aiohttp

        # httpx-aiohttp makes its session at its first request; made here the same way.
        made = getattr(inner, "client", None)
        if not isinstance(made, aiohttp.ClientSession):
            made = inner.client = inner.get_client()  # type: ignore[attr-defined]
        self._session = made
        return made

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through the chosen pool (chosen now, at the first request)."""
        inner = self._inner_for(current_async_library())
        if self._backend == "httpx":
            return await inner.handle_async_request(request)
        try:
            response = await inner.handle_async_request(request)
        except Exception as exc:
            mapped = _translated(exc, request)
            if mapped is None:
                raise
            raise mapped from mapped.__cause__
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _TranslatingStream(response.stream, request)
        return response

    async def aclose(self) -> None:
        """Close the pool (shielded: a cancelled caller still closes the aiohttp session)."""
        self._closed = True
        inner, self._inner = self._inner, None
        self._session = None
        if inner is not None:
            with anyio.CancelScope(shield=True):
                await inner.aclose()


class ShardedHTTPTransport(httpx.AsyncBaseTransport):
    """httpx's own pool split into shards of :data:`SHARD_CONNECTIONS` connections; a request
    goes to the shard with the fewest requests in flight (a response is in flight until closed).

    ``limits`` are shared out: each shard gets ``ceil(max_connections / shards)`` connections
    and as many kept alive (32 shards of 8 for 256); no connection limit means 32 unlimited shards.
    """

    def __init__(self, *, limits: httpx.Limits) -> None:
        total, alive = limits.max_connections, limits.max_keepalive_connections
        count = 32 if total is None else max(1, math.ceil(total / SHARD_CONNECTIONS))
        each = httpx.Limits(
            max_connections=None if total is None else math.ceil(total / count),
            max_keepalive_connections=None if alive is None else math.ceil(alive / count),
            keepalive_expiry=limits.keepalive_expiry,
        )
        tls = httpx.create_ssl_context()  # once: loading the CA bundle is slow
        self._shards = [httpx.AsyncHTTPTransport(verify=tls, limits=each) for _ in range(count)]
        self._load = [0] * count

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        load = self._load
        index = load.index(min(load))
        load[index] += 1
        try:
            response = await self._shards[index].handle_async_request(request)
        except BaseException:
            load[index] -= 1
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _CountedStream(response.stream, load, index)
        return response

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True):
            for shard in self._shards:
                await shard.aclose()


class _CountedStream(httpx.AsyncByteStream):
    """A response body that takes its request off its shard's load when closed."""

    def __init__(self, inner: httpx.AsyncByteStream, load: list[int], index: int) -> None:
        self._inner = inner
        self._load = load
        self._index: int | None = index

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._inner.__aiter__()

    async def aclose(self) -> None:
        index, self._index = self._index, None
        try:
            await self._inner.aclose()
        finally:
            if index is not None:
                self._load[index] -= 1


class _TranslatingStream(httpx.AsyncByteStream):
    """An aiohttp response body whose read errors are re-mapped like the request's."""

    def __init__(self, inner: httpx.AsyncByteStream, request: httpx.Request) -> None:
        self._inner = inner
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunks = self._inner.__aiter__()
        try:
            async for chunk in chunks:
                yield chunk
        except Exception as exc:
            mapped = _translated(exc, self._request)
            if mapped is None:
                raise
            raise mapped from mapped.__cause__
        finally:
            close = getattr(chunks, "aclose", None)
            if close is not None:
                await close()

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        except Exception as exc:
            mapped = _translated(exc, self._request)
            if mapped is None:
                raise
            raise mapped from mapped.__cause__


def _translated(exc: Exception, request: httpx.Request) -> httpx.TransportError | None:
    """The httpx error httpx's own transport would raise for the aiohttp failure behind ``exc``
    (``exc`` itself or the ``__cause__`` httpx-aiohttp chained), or ``None`` to keep ``exc``."""
    import aiohttp

    cause = exc.__cause__ if isinstance(exc, httpx.TransportError) else exc
    if not isinstance(cause, aiohttp.ClientError | TimeoutError) or isinstance(
        cause, aiohttp.InvalidURL
    ):
        return None
    kind: type[httpx.TransportError]
    if isinstance(cause, aiohttp.ConnectionTimeoutError):
        kind = httpx.ConnectTimeout
    elif isinstance(cause, TimeoutError):  # aiohttp's ServerTimeoutError and SocketTimeoutError
        kind = httpx.ReadTimeout
    elif isinstance(cause, aiohttp.ClientConnectorError):  # refused, DNS, TLS, proxy
        kind = httpx.ConnectError
    elif isinstance(
        cause,
        aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | aiohttp.ClientResponseError,
    ):
        kind = httpx.RemoteProtocolError
    else:  # ClientOSError, a reset connection, other connection errors
        kind = httpx.ReadError
    mapped = kind(str(cause) or type(cause).__name__, request=request)
    mapped.__cause__ = cause
    return mapped
