"""The end of a stream that a ``wrap()``-ed function returned, and who is told of it.

A wrapped function that streams returns before its answer has arrived, so the attempt that
made it is settled later: when the caller has read the stream to its end, closed it, or let it
break. The terminal puts a :class:`StreamWatch` on the call's result; the steps that settle an
attempt (the fallback step charges the session, the attempt span ends) subscribe to it on the
way back, and the watched stream reports one :class:`StreamEnd` to all of them.

Both are defined in :mod:`agentroute._types`, beside the :class:`~agentroute.ModelResult` that
carries the watch (a module of their own would import the value types while ``_types`` needs
them for that field: a cycle); they are re-exported here under their old home.
"""

from __future__ import annotations

from agentroute._types import StreamEnd, StreamWatch

__all__ = ["StreamEnd", "StreamWatch"]
