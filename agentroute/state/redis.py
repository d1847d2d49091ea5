"""The Redis :class:`~agentroute.state.StateStore`: failures, cooldowns and pins shared by
routers in several processes or on several machines.

Keys (``{ns}`` is the store's namespace; a namespace should not be a prefix-plus-colon of
another one, e.g. ``app`` and ``app:fail``, or their keys could meet):

* ``{ns}:fail:{deployment}`` — a sorted set of the deployment's recent failures, scored by the
  Redis server's clock in microseconds; its TTL is the failure window, so it vanishes once the
  deployment has been quiet for that long;
* ``{ns}:cool:{deployment}`` — present while the deployment is put aside; its TTL (``PX``) is
  the remaining cooldown;
* ``{ns}:pin:{session}:{model}`` — the deployment key the session's calls to the model are
  pinned to; its TTL is the pin's idle TTL. ``%`` and ``:`` inside the session and the model
  are percent-escaped (``%25``, ``%3A``) so that two (session, model) pairs never share a key.

Every duration is enforced on the server — TTLs for cooldowns and pins, the server's ``TIME``
(read inside a Lua script) for the failure window — so routers on machines whose clocks differ
still agree. The two read-modify-write operations are Lua scripts (atomic, one round trip);
``cooling`` is one pipelined round trip of ``PTTL``; pins are plain ``SET … PX``/``GET``/``DEL``.
Needs a Redis server ≥ 5 (scripts replicated by effects), not a cluster.

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

from agentroute._secrets import _MASK, Secret, redact
from agentroute.errors import ConfigurationError

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisStateStore"]

_NONE: Mapping[str, float] = MappingProxyType({})
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
            ``unix://``); a :class:`~agentroute._secrets.Secret` is resolved here. Connect and
            socket timeouts default to 5 s (override with ``?socket_timeout=…`` in the URL).
            The password never appears in a repr or in an error raised here.
        namespace: the prefix of every key; routers share state when they share it.
        client: a ``redis.asyncio.Redis`` client to use instead of ``url`` (left open by
            :meth:`aclose`; the store closes only a client it made).

    Raises:
        ConfigurationError: neither or both of ``url`` and ``client``; an invalid URL; the
            ``redis`` package is not installed; (from each operation) not running on asyncio.
    """

    def __init__(
        self,
        url: str | Secret | None = None,
        *,
        namespace: str = "agentroute",
        client: Redis | None = None,
    ) -> None:
        if (url is None) == (client is None):
            raise ConfigurationError("RedisStateStore needs either url or client (not both)")
        if not namespace:
            raise ConfigurationError("RedisStateStore: namespace must not be empty")
        self._namespace = namespace
        self._owns_client = client is None
        self._closed = False
        self._url_shown: str | None = None
        if client is None:
            assert url is not None
            text = url.resolve("RedisStateStore url") if isinstance(url, Secret) else url
            self._url_shown = _safe_url(text)
            client = _make_client(text, self._url_shown)
        self._client: Redis = client
        self._add_failure = client.register_script(_ADD_FAILURE)
        self._set_cooldown = client.register_script(_SET_COOLDOWN)
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
        pipe = self._client.pipeline(transaction=False)
        for key in keys:
            pipe.pttl(self._key("cool", key))
        left: list[Any] = await pipe.execute()
        found = {key: ms / 1000.0 for key, ms in zip(keys, left, strict=True) if ms > 0}
        return found or _NONE

    # Pins ------------------------------------------------------------------------------------

    async def get_pin(self, session: str, model: str) -> str | None:
        _require_asyncio()
        value = await self._client.get(self._pin_key(session, model))
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

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


def _make_client(url: str, shown: str) -> Redis:
    aioredis = _import_redis()
    try:
        client: Redis = aioredis.Redis.from_url(url, socket_connect_timeout=5.0, socket_timeout=5.0)
    except (ValueError, TypeError) as exc:
        # ``from None``: the original message may quote the URL, password included.
        message = _scrub(str(exc), url)
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
