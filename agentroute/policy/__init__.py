"""Routing policies: from a step's :class:`~agentroute.Signals` to a :class:`~agentroute.Decision`.

A policy is any callable ``(Signals, SessionState) -> Decision``. It must be pure
policy: no I/O, no awaiting; the routing middleware records its decision on the session.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

from agentroute._types import Decision, Signals
from agentroute.session import SessionState

Policy: TypeAlias = Callable[[Signals, SessionState], Decision]

__all__ = ["Policy"]
