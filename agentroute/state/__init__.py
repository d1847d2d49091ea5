"""Shared router state: deployment failures, cooldowns and session × model affinity pins.

Several routers — in one process or many — that share a :class:`StateStore` see each other's
cooldowns, so a deployment that fails for one stops getting traffic from all of them.
:class:`MemoryStateStore` serves one process; :class:`RedisStateStore` (the ``redis`` extra)
serves several processes or machines. It is imported on first use, so ``import agentroute``
never imports ``redis``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentroute.state.base import StateStore
from agentroute.state.memory import MemoryStateStore

if TYPE_CHECKING:
    from agentroute.state.redis import RedisStateStore

__all__ = ["MemoryStateStore", "RedisStateStore", "StateStore"]


def __getattr__(name: str) -> Any:
    if name == "RedisStateStore":
        from agentroute.state.redis import RedisStateStore

        return RedisStateStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
