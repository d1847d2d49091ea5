"""The state store a config asks for (``state.kind``): in memory, or Redis."""

from __future__ import annotations

from agentroute.clock import Clock
from agentroute.config import RouterConfig
from agentroute.state.base import StateStore
from agentroute.state.memory import MemoryStateStore

__all__ = ["store_from_config"]


def store_from_config(config: RouterConfig, clock: Clock | None) -> StateStore:
    """A new store for ``config.state``; the Redis URL's secret is resolved now. A Redis
    store's pool holds ``state.pool_size`` connections, and an operation waits for a free one
    at most ``state.op_max_s`` (a safety bound: the fail-open wrapper sends no more operations
    at once than the pool has connections, and gives up sooner on a silent server:
    :mod:`agentroute.state.failopen`). In memory, it is bounded by the config: as many failure
    histories and cooldowns as it has deployments, and ``sessions.max_implicit`` × its models
    pins."""
    state = config.state
    if state.kind == "redis":
        from agentroute.state.redis import RedisStateStore  # imports redis: only when asked

        return RedisStateStore(
            state.url.resolve("state.url"),
            namespace=state.namespace,
            pool_size=state.pool_size,
            pool_timeout_s=state.op_max_s,
            socket_timeout_s=None,  # the fail-open wrapper bounds each operation
        )
    # bounded by the config: deployments are the only keys failures and cooldowns have, and a
    # session holds at most one pin per model
    deployments = sum(len(model.deployments) for model in config.models.values())
    return MemoryStateStore(
        clock, max_keys=deployments, max_pins=config.sessions.max_implicit * len(config.models)
    )
