"""Shared router state: deployment failures and cooldowns (and, later, affinity pins).

Several routers — in one process or many — that share a :class:`StateStore` see each other's
cooldowns, so a deployment that fails for one stops getting traffic from all of them.
"""

from agentroute.state.base import StateStore
from agentroute.state.memory import MemoryStateStore

__all__ = ["MemoryStateStore", "StateStore"]
