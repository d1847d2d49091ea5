"""The Redis :class:`~agentroute.state.StateStore`: failures, cooldowns and pins shared by
routers in several processes or on several machines.

Keys (``{ns}`` is the store's namespace; a namespace should not be a prefix-plus-colon of
another one, e.g. ``app`` and ``app:fail``, or their keys could meet):

* ``{ns}:fail:{deployment}`` — a sorted set of the deployment's recent failures, scored by the
  Redis server's clock in microseconds; its TTL is the failure window, so it vanishes once the
  deployment has been quiet for that long;
* ``{ns}:cool:{deployment}`` — present while the deployment is put aside; its TTL (``PX``) is
  the remaining cooldown;
* ``{ns}:sess:{session}`` — an ended session's summary (a JSON text) for outcomes recorded
  later (:mod:`agentroute.telemetry.outcomes`); its TTL is ``telemetry.outcome_ttl_s``;
* ``{ns}:pin:{session}:{model}`` — the deployment key the session's calls to the model are
  pinned to; its TTL is the pin's idle TTL. ``%`` and ``:`` inside the session and the model
  are percent-escaped (``%25``, ``%3A``) so that two (session, model) pairs never share a key.

Every duration is enforced on the server — TTLs for cooldowns and pins, the server's ``TIME``
(read inside a Lua script) for the failure window — so routers on machines whose clocks differ
still agree. The two read-modify-write operations are Lua scripts (atomic, one round trip);
so are the reads of several keys — ``cooling`` (a ``PTTL`` per deployment) and
:meth:`RedisStateStore.read_call`, a call's cooldowns and pins at once
(:mod:`agentroute.state.reads`) — a script rather than a redis-py pipeline, which costs two more
turns of the event loop per operation (it sends and releases its connection in tasks of their
own); pins are plain ``SET … PX``/``GET``/``DEL``. Needs a Redis server ≥ 5 (scripts replicated
by effects), not a cluster.

Connections come from a bounded, *blocking* pool (redis-py's ``BlockingConnectionPool``,
``pool_size`` connections): when all are busy an operation waits for one, up to
``pool_timeout_s``, instead of failing at once with "Too many connections" as redis-py's default
pool does — under a few hundred concurrent calls that default silently dropped a third of the
store's operations. A command that fails on a broken connection (a server restart) is retried
once at once, on a fresh one; there is no backoff sleep inside an operation. The router bounds
every operation further (``state.op_timeout_s``) and stops asking a hung server for a while
(:mod:`agentroute.state.failopen`); the store tells it how many operations the pool can serve at
once (:attr:`RedisStateStore.capacity`: the router queues the others itself, outside any time
budget) and when a reply was last read on any of its connections
(:meth:`RedisStateStore.last_answer`: a new connection's handshake is several replies, which show
the server alive while a burst opens the pool's connections).

The store uses ``redis.asyncio``, which runs on asyncio only: on trio every operation raises
:class:`~agentroute.errors.ConfigurationError` (use anyio's asyncio backend there, or the
in-memory store). The ``redis`` package is an optional extra (``pip install
'agentroute[redis]'``), imported only when a store is built.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from itertools import count
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import sniffio

from agentroute._error_translation import error_text
from agentroute._secrets import _MASK, Secret, redact
from agentroute.clock import loop_time
from agentroute.errors import ConfigurationError
from agentroute.state.reads import EMPTY_SNAPSHOT, CallSnapshot

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["DEFAULT_POOL_SIZE", "DEFAULT_POOL_TIMEOUT_S", "RedisStateStore"]

DEFAULT_POOL_SIZE = 50
"""Connections per store: enough that a loopback or LAN round trip (well under 1 ms) serves
thousands of operations a second; beyond them operations queue for a connection."""
DEFAULT_POOL_TIMEOUT_S = 0.25
"""How long an operation of a store built directly waits for a free connection (the router
passes its ``state.op_timeout_s`` instead)."""

_NONE: Mapping[str, float] = MappingProxyType({})
_NO_PINS: Mapping[str, str] = MappingProxyType({})
_INSTALL = "the Redis state store needs the 'redis' package: pip install 'agentroute[redis]'"

# KEYS[1]: the failure set; ARGV: window (µs), a unique member suffix, the set's TTL (ms).
# The server's clock stamps the failure, so the window means the same for every router.
_ADD_FAILURE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local stamp = t[1] .. string.format('%06d', tonumber(t[2]))
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
redis.call('ZADD', KEYS[1], stamp, stamp .. '-' .. ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return redis.call('ZCARD', KEYS[1])
"""

# KEYS[1]: the cooldown key; ARGV[1]: the cooldown (ms). A longer one still running is kept
# (PTTL is -2 for a missing key, -1 for one without a TTL: both are replaced).
# KEYS: ARGV[1] cooldown keys (their PTTL: -2 missing, -1 no TTL), then pin keys (their value;
# a missing one is Lua false, which comes back as nil).
_READ = """
local n = tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS do
  if i <= n then out[i] = redis.call('PTTL', KEYS[i]) else out[i] = redis.call('GET', KEYS[i]) end
end
return out
"""

_SET_COOLDOWN = """
local ms = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) < ms then
  redis.call('SET', KEYS[1], '1', 'PX', ms)
end
"""


class RedisStateStore:
    """Failures, cooldowns and pins in Redis, shared by every router on the same namespace.

    Args:
        url: the server, e.g. ``redis://:password@host:6379/0`` (``rediss://`` for TLS,
            ``unix://``); a :class:`~agentroute._secrets.Secret` is resolved here. The connect
            timeout is 5 s and the socket timeout ``socket_timeout_s`` (override either in the
            URL: ``?socket_connect_timeout=…&socket_timeout=…``).
            The password never appears in a repr or in an error raised here.
        namespace: the prefix of every key; routers share state when they share it.
        client: a ``redis.asyncio.Redis`` client to use instead of ``url`` (left open by
            :meth:`aclose`; the store closes only a client it made).
        pool_size: connections the store opens at most (with ``url``); an operation beyond
            them waits for a free one. It is the store's :attr:`capacity`.
        pool_timeout_s: how long an operation waits for a free connection before it fails
            (``ConnectionError``, "No connection available"); the router sets it to
            ``state.op_max_s``.
        socket_timeout_s: how long a read or write on a connection may take (``None``: no
            limit). The router passes ``None``: its fail-open wrapper bounds every operation
            itself, and redis-py runs each send under a timeout in a task of its own, a turn
            of the event loop per command that a busy loop can ill afford.

    Raises:
        ConfigurationError: neither or both of ``url`` and ``client``; an invalid URL; a
            ``pool_size`` below 1 or a ``pool_timeout_s`` not above 0; the ``redis`` package
            is not installed; (from each operation) not running on asyncio.
    """

    def __init__(
        self,
        url: str | Secret | None = None,
        *,
        namespace: str = "agentroute",
        client: Redis | None = None,
        pool_size: int = DEFAULT_POOL_SIZE,
        pool_timeout_s: float = DEFAULT_POOL_TIMEOUT_S,
        socket_timeout_s: float | None = 5.0,
    ) -> None:
        if (url is None) == (client is None):
            raise ConfigurationError("RedisStateStore needs either url or client (not both)")
        if not namespace:
            raise ConfigurationError("RedisStateStore: namespace must not be empty")
        if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1:
            raise ConfigurationError(
                f"RedisStateStore: pool_size must be an int >= 1, not {pool_size!r}"
            )
        if isinstance(pool_timeout_s, bool) or not (
            isinstance(pool_timeout_s, int | float) and 0 < pool_timeout_s < math.inf
        ):
            raise ConfigurationError(
                "RedisStateStore: pool_timeout_s must be a finite number of seconds > 0, "
                f"not {pool_timeout_s!r}"
            )
        self._namespace = namespace
        self._owns_client = client is None
        self._closed = False
        self._url_shown: str | None = None
        if client is None:
            assert url is not None
            text = url.resolve("RedisStateStore url") if isinstance(url, Secret) else url
            self._url_shown = _safe_url(text)
            client = _make_client(
                text, self._url_shown, pool_size, float(pool_timeout_s), socket_timeout_s
            )
        self._client: Redis = client
        self._heard = _Heard()
        pool = client.connection_pool
        if self._owns_client:  # a given client's pool is left as it is
            pool.connection_class = _noting(pool.connection_class, self._heard)
        limit = getattr(pool, "max_connections", None)
        self.capacity: int | None = limit if isinstance(limit, int) and limit > 0 else None
        """Operations the pool serves at once (its connections); the router queues the rest."""
        self._add_failure = client.register_script(_ADD_FAILURE)
        self._set_cooldown = client.register_script(_SET_COOLDOWN)
        self._read = client.register_script(_READ)
        self._member = f"{os.urandom(6).hex()}-"
        self._seq = count()

    def __repr__(self) -> str:
        where = f"url={self._url_shown!r}" if self._url_shown is not None else "client=<given>"
        return f"RedisStateStore({where}, namespace={self._namespace!r})"

    # Failures and cooldowns -----------------------------------------------------------------

    async def add_failure(self, key: str, window_s: float) -> int:
        _require_asyncio()
        window_us = max(1, round(window_s * 1_000_000))
        member = f"{self._member}{next(self._seq)}"
        found = await self._add_failure(
            keys=[self._key("fail", key)], args=[window_us, member, _ms(window_s) + 1]
        )
        return int(found)

    async def clear_failures(self, key: str) -> None:
        _require_asyncio()
        await self._client.delete(self._key("fail", key))

    async def set_cooldown(self, key: str, seconds: float) -> None:
        _require_asyncio()
        if seconds <= 0:
            return
        await self._set_cooldown(keys=[self._key("cool", key)], args=[_ms(seconds)])

    async def cooling(self, keys: Sequence[str]) -> Mapping[str, float]:
        _require_asyncio()
        if not keys:
            return _NONE
        left: list[Any] = await self._read(
            keys=[self._key("cool", key) for key in keys], args=[len(keys)]
        )
        found = {key: ms / 1000.0 for key, ms in zip(keys, left, strict=True) if ms > 0}
        return found or _NONE

    async def read_call(
        self, keys: Sequence[str], session: str, models: Sequence[str]
    ) -> CallSnapshot:
        """``cooling(keys)`` and ``get_pin(session, m)`` for each of ``models``, in one round
        trip (one script)."""
        _require_asyncio()
        if not keys and not models:
            return EMPTY_SNAPSHOT
        names = [self._key("cool", key) for key in keys]
        names += [self._pin_key(session, model) for model in models]
        found: list[Any] = await self._read(keys=names, args=[len(keys)])
        n = len(keys)
        cooling = {key: ms / 1000.0 for key, ms in zip(keys, found[:n], strict=True) if ms > 0}
        pins = {
            model: _text(value)
            for model, value in zip(models, found[n:], strict=True)
            if value is not None
        }
        return CallSnapshot(cooling or _NONE, pins or _NO_PINS)

    def last_answer(self) -> float:
        """When a connection of the store last read a reply from the server, any reply
        (a connection's handshake too), on the event loop's clock (the fail-open watcher's,
        :func:`~agentroute.clock.loop_time`); ``-inf`` before the first (and for a client
        given to the store)."""
        return self._heard.at

    def ready(self) -> bool:
        """Whether an operation now would start at once: the pool's next idle connection is
        open, so there is no wait for one and none to open (read from redis-py's pool;
        ``False`` if that changes). The fail-open wrapper bounds such an operation by a plain
        deadline and watches the others (:mod:`agentroute.state.failopen`)."""
        idle: Any = getattr(self._client.connection_pool, "_available_connections", None)
        # the pool hands out its last idle connection; one closed after an error reconnects
        return bool(idle) and getattr(idle[-1], "is_connected", False) is True

    # Pins ------------------------------------------------------------------------------------

    async def get_pin(self, session: str, model: str) -> str | None:
        _require_asyncio()
        value = await self._client.get(self._pin_key(session, model))
        return None if value is None else _text(value)

    async def set_pin(self, session: str, model: str, deployment: str, ttl_s: float) -> None:
        _require_asyncio()
        key = self._pin_key(session, model)
        if ttl_s <= 0:  # a pin that is stale at once: none at all
            await self._client.delete(key)
            return
        await self._client.set(key, deployment, px=_ms(ttl_s))

    async def drop_pin(self, session: str, model: str) -> None:
        _require_asyncio()
        await self._client.delete(self._pin_key(session, model))

    # Session summaries -----------------------------------------------------------------------

    async def put_session_summary(self, session: str, summary: str, ttl_s: float) -> None:
        _require_asyncio()
        key = f"{self._namespace}:sess:{_escape(session)}"
        if ttl_s <= 0:
            await self._client.delete(key)
            return
        await self._client.set(key, summary, px=_ms(ttl_s))

    async def get_session_summary(self, session: str) -> str | None:
        _require_asyncio()
        value = await self._client.get(f"{self._namespace}:sess:{_escape(session)}")
        return None if value is None else _text(value)

    # Lifecycle -------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the connections of a client the store made (a given one is left open).
        Idempotent; on trio (where no connection can have been opened) a no-op."""
        if self._closed or not self._owns_client:
            return
        self._closed = True
        if _current_library() == "asyncio":
            await self._client.aclose()

    # Keys ------------------------------------------------------------------------------------

    def _key(self, kind: str, key: str) -> str:
        return f"{self._namespace}:{kind}:{key}"

    def _pin_key(self, session: str, model: str) -> str:
        return f"{self._namespace}:pin:{_escape(session)}:{_escape(model)}"


class _Heard:
    """When a connection of a store last read a reply (the event loop's clock)."""

    __slots__ = ("at",)

    def __init__(self) -> None:
        self.at = -math.inf


def _noting(base: type[Any], heard: _Heard) -> type[Any]:
    """``base`` (the pool's connection class: TCP, TLS or Unix socket), noting in ``heard``
    when each reply was read: the server is alive while replies come, whatever they answer
    (an operation, or a step of a new connection's handshake)."""

    async def read_response(self: Any, *args: Any, **kwargs: Any) -> Any:
        response = await base.read_response(self, *args, **kwargs)
        heard.at = loop_time()
        return response

    return type(base.__name__, (base,), {"read_response": read_response})


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _escape(part: str) -> str:
    return part.replace("%", "%25").replace(":", "%3A")


def _ms(seconds: float) -> int:
    """Whole milliseconds, rounded up, at least 1 (Redis TTLs are integers > 0)."""
    return max(1, math.ceil(seconds * 1000))


def _current_library() -> str | None:
    try:
        return sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        return None


def _require_asyncio() -> None:
    library = _current_library()
    if library is not None and library != "asyncio":
        raise ConfigurationError(
            f"the Redis state store needs asyncio (redis.asyncio), not {library}: run on "
            "anyio's asyncio backend, or use state.kind: memory"
        )


def _import_redis() -> Any:
    try:
        import redis.asyncio as aioredis
    except ImportError as exc:
        raise ConfigurationError(_INSTALL) from exc
    return aioredis


def _make_client(
    url: str, shown: str, pool_size: int, pool_timeout_s: float, socket_timeout_s: float | None
) -> Redis:
    """A client on a blocking pool of ``pool_size`` connections; a command that fails on a
    broken connection is retried once at once (no backoff sleep)."""
    aioredis = _import_redis()
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    try:
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=pool_size,
            timeout=pool_timeout_s,
            socket_connect_timeout=5.0,
            socket_timeout=socket_timeout_s,
            retry=Retry(NoBackoff(), 1),
        )
        client: Redis = aioredis.Redis.from_pool(pool)  # closing the client closes the pool
    except (ValueError, TypeError) as exc:
        # ``from None``: the original message may quote the URL, password included.
        message = _scrub(error_text(exc), url)
        raise ConfigurationError(f"invalid Redis URL {shown}: {message}") from None
    return client


def _safe_url(url: str) -> str:
    """``url`` with its password (in the netloc or a ``password=`` query) masked."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.password is not None:
            user = parts.username or ""
            host = netloc.rpartition("@")[2]
            netloc = f"{user}:{_MASK}@{host}"
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            query = urlencode(
                [(k, _MASK if k.lower() == "password" else v) for k, v in pairs], safe="*"
            )
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return "<unparsable URL>"


def _scrub(text: str, url: str) -> str:
    """``text`` without the URL's password (nor the URL itself, nor any resolved secret)."""
    text = text.replace(url, _safe_url(url))
    try:
        parts = urlsplit(url)
        secrets = [parts.password or ""]
        secrets += [v for k, v in parse_qsl(parts.query) if k.lower() == "password"]
    except ValueError:
        secrets = []
    for secret in secrets:
        for form in {secret, unquote(secret)}:
            if form:
                text = text.replace(form, _MASK)
    return redact(text)
