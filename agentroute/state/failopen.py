"""A shared store's outage never fails a call: :class:`FailOpenStore`.

Cooldowns and pins make routing better; they are not needed to answer a call. When the store
behind them (Redis, another process's service) cannot be reached, each operation answers as an
empty store would — no failures counted, nothing cooling, no pin — and the router keeps
serving calls in order, as if it had no memory. The outage is logged as ``route.state_error``
(the first error, then at most once a minute), never with the store's address or password.
A :class:`~agentroute.errors.ConfigurationError` (a developer's mistake, such as the Redis store
used on trio) and cancellation still propagate.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from types import MappingProxyType

import structlog

from agentroute._secrets import redact
from agentroute.errors import ConfigurationError
from agentroute.state.base import StateStore

__all__ = ["FailOpenStore"]

_NONE: Mapping[str, float] = MappingProxyType({})
_QUIET_S = 60.0

logger = structlog.get_logger("agentroute")


class FailOpenStore:
    """Wraps ``store``: its errors are logged and answered as an empty store would answer."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.errors = 0
        """Operations that failed so far."""
        self._last_log = -_QUIET_S

    def __repr__(self) -> str:
        return f"FailOpenStore({self.store!r}, errors={self.errors})"

    def _failed(self, operation: str, exc: Exception) -> None:
        if isinstance(exc, ConfigurationError):
            raise exc
        self.errors += 1
        now = time.monotonic()
        if now - self._last_log >= _QUIET_S:
            self._last_log = now
            logger.warning(
                "route.state_error",
                operation=operation,
                error_type=type(exc).__name__,
                error=redact(str(exc)),
                errors_so_far=self.errors,
                effect="routing continues without cooldowns and pins",
            )

    async def add_failure(self, key: str, window_s: float) -> int:
        try:
            return await self.store.add_failure(key, window_s)
        except Exception as exc:
            self._failed("add_failure", exc)
            return 0

    async def clear_failures(self, key: str) -> None:
        try:
            await self.store.clear_failures(key)
        except Exception as exc:
            self._failed("clear_failures", exc)

    async def set_cooldown(self, key: str, seconds: float) -> None:
        try:
            await self.store.set_cooldown(key, seconds)
        except Exception as exc:
            self._failed("set_cooldown", exc)

    async def cooling(self, keys: Sequence[str]) -> Mapping[str, float]:
        try:
            return await self.store.cooling(keys)
        except Exception as exc:
            self._failed("cooling", exc)
            return _NONE

    async def get_pin(self, session: str, model: str) -> str | None:
        try:
            return await self.store.get_pin(session, model)
        except Exception as exc:
            self._failed("get_pin", exc)
            return None

    async def set_pin(self, session: str, model: str, deployment: str, ttl_s: float) -> None:
        try:
            await self.store.set_pin(session, model, deployment, ttl_s)
        except Exception as exc:
            self._failed("set_pin", exc)

    async def drop_pin(self, session: str, model: str) -> None:
        try:
            await self.store.drop_pin(session, model)
        except Exception as exc:
            self._failed("drop_pin", exc)

    async def aclose(self) -> None:
        try:
            await self.store.aclose()
        except Exception as exc:
            self._failed("aclose", exc)
