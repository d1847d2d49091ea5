"""Settle an attempt whose answer is a stream a ``wrap()``-ed function returned.

The fallback step records such an attempt when the stream is handed back, with no usage yet
(nothing is charged then). When the caller has read the stream (or closed it, or it broke), the
attempt's record is completed with the usage the stream reported — or the estimate — and its
cost, its duration up to that moment and its outcome; the session is charged that cost, the
record replaces the open one in ``session.state.last_attempts``, and ``route.attempt`` is
logged. So once the stream has ended, the session's cost is the sum of its attempts' costs, as
for any other call. (A call made before the stream ended saw the session's cost without it.)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from agentroute._types import Attempt, StreamEnd
from agentroute.clock import Clock
from agentroute.errors import ProviderError
from agentroute.session import SessionState
from agentroute.telemetry.logs import RouteEvents

__all__ = ["settle_stream"]


def settle_stream(
    state: SessionState, step: int, opened: Attempt, clock: Clock, events: RouteEvents
) -> Callable[[StreamEnd], None]:
    """What completes ``opened`` (recorded now, its stream open, for the call numbered
    ``step``) when its stream ends."""
    noted = clock.now()

    def settle(end: StreamEnd) -> None:
        error = end.error
        attempt = dataclasses.replace(
            opened,
            outcome=end.outcome,
            duration_s=opened.duration_s + (clock.now() - noted),
            error_type=type(error).__name__ if error is not None else None,
            status_code=error.status_code if isinstance(error, ProviderError) else None,
            usage=end.usage,
            cost_usd=end.cost_usd,
            error=None,  # the caller got the exception itself; the record need not keep it
        )
        state.complete_attempt(opened, attempt)
        events.attempt(state, step, attempt, error=error)

    return settle
