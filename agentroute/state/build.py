"""The state store a config asks for (``state.kind``): in memory, or Redis."""

from __future__ import annotations

from agentroute.clock import Clock
from agentroute.config import RouterConfig
from agentroute.state.base import StateStore
from agentroute.state.memory import MemoryStateStore

__all__ = ["store_from_config"]


def store_from_config(config: RouterConfig, clock: Clock | None) -> StateStore:
    """A new store for ``config.state``; the Redis URL's secret is resolved now."""
    state = config.state
    if state.kind == "redis":
        from agentroute.state.redis import RedisStateStore  # imports redis: only when asked

        return RedisStateStore(state.url.resolve("state.url"), namespace=state.namespace)
    return MemoryStateStore(clock)
