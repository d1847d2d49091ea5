"""The :class:`StateStore` protocol: what routers share (deployment failures, cooldowns,
session × model → deployment pins, and ended sessions' summaries for their outcomes), expressed
in durations.

Every operation takes durations (``window_s``, ``seconds``), never absolute times, so a store on
a server (Redis) can enforce them with its own TTLs and routers on machines whose clocks differ
still agree. Keys are deployment keys (``provider/deployment``); a store namespaces them itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

__all__ = ["StateStore"]


class StateStore(Protocol):
    """Failure counts and cooldowns of deployments, shared by the routers that use the store."""

    async def add_failure(self, key: str, window_s: float) -> int:
        """Count one failure of ``key``; return how many it had in the last ``window_s`` s."""
        ...

    async def clear_failures(self, key: str) -> None:
        """Forget ``key``'s failures (done when it is put aside, so it starts afresh)."""
        ...

    async def set_cooldown(self, key: str, seconds: float) -> None:
        """Put ``key`` aside for ``seconds`` (a longer cooldown already running is kept)."""
        ...

    async def cooling(self, keys: Sequence[str]) -> Mapping[str, float]:
        """Those of ``keys`` that are put aside, each with the seconds it still has to wait."""
        ...

    async def get_pin(self, session: str, model: str) -> str | None:
        """The deployment key ``session``'s calls to ``model`` are pinned to, if still fresh."""
        ...

    async def set_pin(self, session: str, model: str, deployment: str, ttl_s: float) -> None:
        """Pin ``session`` × ``model`` to ``deployment`` for ``ttl_s`` idle seconds (setting it
        again refreshes the TTL: a pin lives as long as its prompt cache would)."""
        ...

    async def drop_pin(self, session: str, model: str) -> None:
        """Forget the pin (the deployment failed or is cooling down)."""
        ...

    async def put_session_summary(self, session: str, summary: str, ttl_s: float) -> None:
        """Keep ``summary`` (a JSON text: what an outcome recorded later needs of the ended
        session ``session``; :mod:`agentroute.telemetry.outcomes`) for ``ttl_s`` seconds,
        replacing an earlier one."""
        ...

    async def get_session_summary(self, session: str) -> str | None:
        """The summary kept for ``session``, if still fresh. (A store written before this
        method existed is used fail-open: the wrapper answers ``None`` for it.)"""
        ...

    async def aclose(self) -> None:
        """Release the store's connections (a no-op in memory)."""
        ...
