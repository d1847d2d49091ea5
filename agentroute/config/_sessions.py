"""Where sessions live: the ``sessions`` section (implicit sessions, kept in this process) and
the ``state`` section (the store shared state goes to: in memory, or a Redis server), with the
move of the two keys that used to sit under ``state`` to ``sessions``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, model_validator

from agentroute._secrets import Secret
from agentroute.config._fields import Integer, Positive, _Strict

__all__ = ["MemoryStateConfig", "RedisStateConfig", "SessionsConfig", "move_legacy_session_keys"]


class SessionsConfig(_Strict):
    """Implicit sessions: the ones calls made outside ``router.session()`` get, keyed by the
    conversation (:mod:`agentroute.implicit_sessions`).

    * ``max_implicit``: live implicit sessions kept at most. Past it the least recently used
      is evicted, losing its step count, tier, cost and history; each such eviction of a
      session not yet idle for ``idle_ttl_s`` is counted (``agentroute.sessions.evicted``)
      and logged (``route.session_evicted``). An agent loop that round-robins over more live
      sessions than this loses every session's state before its next step, so the default
      (100,000) is far above the concurrent runs one process serves; the bound also caps
      their memory (what one keeps: ``benchmarks/results/scale.md``).
    * ``idle_ttl_s``: a session idle this long is dropped (swept as the table is used), and
      its conversation starts over as a new session.

    These used to be ``state.max_sessions`` and ``state.session_ttl_s`` (though they never
    were the state store's, and a Redis store could not set them); those names are still read,
    moved here with a ``DeprecationWarning``.
    """

    max_implicit: Integer = Field(default=100_000, ge=1)
    idle_ttl_s: Positive = 3600.0


_LEGACY_SESSION_KEYS = {"max_sessions": "max_implicit", "session_ttl_s": "idle_ttl_s"}


def move_legacy_session_keys(data: Any) -> Any:
    """A raw config with ``state.max_sessions`` / ``state.session_ttl_s`` (their old home)
    rewritten to ``sessions.max_implicit`` / ``sessions.idle_ttl_s``, with a
    ``DeprecationWarning``; both spellings at once is an error naming both fields."""
    if not isinstance(data, Mapping):
        return data
    state, sessions = data.get("state"), data.get("sessions")
    if not isinstance(state, Mapping) or not any(k in state for k in _LEGACY_SESSION_KEYS):
        return data
    if sessions is None:
        sessions = {}
    if not isinstance(sessions, Mapping):
        return data  # validation reports the bad section
    state, sessions = dict(state), dict(sessions)
    moved = [(old, new) for old, new in _LEGACY_SESSION_KEYS.items() if old in state]
    for old, new in moved:
        if new in sessions:
            raise ValueError(
                f"state.{old}: the old name of sessions.{new}, which is also set; "
                f"keep only sessions.{new}"
            )
        sessions[new] = state.pop(old)
    olds = ", ".join(f"state.{old}" for old, _ in moved)
    news = ", ".join(f"sessions.{new}" for _, new in moved)
    warnings.warn(f"config: {olds} deprecated; write {news}", DeprecationWarning, stacklevel=2)
    return {**data, "state": state, "sessions": sessions}


class MemoryStateConfig(_Strict):
    kind: Literal["memory"] = "memory"


class RedisStateConfig(_Strict):
    """State in a Redis server shared by routers in several processes
    (:mod:`agentroute.state.redis`), used fail-open (:mod:`agentroute.state.failopen`).

    * ``op_timeout_s``: how long an operation waits with no answer from the server; then it is
      given up and answered as an empty store would (no cooldown, no pin), like one that
      failed. Only silence counts: time the event loop was busy elsewhere does not, and while
      the server answers other operations (or a new connection's handshake) it is alive, so
      the operation keeps waiting, up to ``op_max_s`` once sent. The default suits a server
      on the same host or network.
    * ``pool_size``: connections to the server at most. At most that many operations are
      sent at once; the others wait their turn (first come, first served) without a time
      limit: under a burst of calls this process is the bottleneck, not the server, and a
      wait for a turn is no failure of the store. Once the breaker opens, operations still
      waiting are skipped.
    * ``breaker_failures``: consecutive failed or timed-out operations that open the circuit
      breaker: the store is then skipped for ``breaker_reset_s`` seconds, after which one
      operation probes it (success closes the breaker). A hung server so costs one
      ``op_timeout_s`` per ``breaker_reset_s``, not one per operation.
    """

    kind: Literal["redis"]
    url: Secret
    namespace: str = Field(default="agentroute", min_length=1)
    op_timeout_s: Positive = 0.05
    op_max_s: Positive = 2.0
    pool_size: int = Field(default=50, ge=1)
    breaker_failures: int = Field(default=3, ge=1)
    breaker_reset_s: Positive = 5.0

    @model_validator(mode="after")
    def _max_covers_timeout(self) -> RedisStateConfig:
        if self.op_max_s < self.op_timeout_s:
            raise ValueError(
                f"op_max_s ({self.op_max_s:g}) must not be below op_timeout_s "
                f"({self.op_timeout_s:g})"
            )
        return self
