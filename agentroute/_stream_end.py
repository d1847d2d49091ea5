"""The end of a stream that a ``wrap()``-ed function returned, and who is told of it.

A wrapped function that streams returns before its answer has arrived, so the attempt that
made it is settled later: when the caller has read the stream to its end, closed it, or let it
break. The terminal puts a :class:`StreamWatch` on the call's result; the steps that settle an
attempt (the fallback step charges the session, the attempt span ends) subscribe to it on the
way back, and the watched stream reports one :class:`StreamEnd` to all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field

from agentroute._frozen import value_object
from agentroute._types import AttemptOutcome, Usage

__all__ = ["StreamEnd", "StreamWatch"]


@value_object
class StreamEnd:
    """How one streamed answer ended.

    ``outcome`` is ``ok`` (read to its end, or closed after its usage report), ``cancelled``
    (closed early by the caller, or its task cancelled) or ``error`` (it broke: ``error``).
    ``usage`` is what the stream reported; when it reported nothing, it is the router's count of
    the request's input tokens and ``estimated`` is set (never a free call).
    """

    usage: Usage
    cost_usd: float
    estimated: bool
    outcome: AttemptOutcome
    error: BaseException | None = field(default=None, compare=False, repr=False)


Listener = Callable[[StreamEnd], None]


class StreamWatch:
    """Tells each listener, once, how a watched stream ended (at once if it has ended)."""

    __slots__ = ("_end", "_listeners")

    def __init__(self) -> None:
        self._end: StreamEnd | None = None
        self._listeners: list[Listener] = []

    @property
    def end(self) -> StreamEnd | None:
        """How the stream ended; ``None`` while it is open."""
        return self._end

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` with the stream's end (now, if it has ended)."""
        if self._end is not None:
            listener(self._end)
        else:
            self._listeners.append(listener)

    def finish(self, end: StreamEnd) -> None:
        """Report ``end`` to every listener; later reports are ignored."""
        if self._end is not None:
            return
        self._end = end
        listeners, self._listeners = self._listeners, []
        for listener in listeners:
            listener(end)
