"""Whether the routed call running in this context has made an attempt yet.

The router numbers a session's steps as calls come in, but a call that ends before any attempt
(refused for its message shape or by a budget limit, a configuration error found before the
model call, a cancel while it was being routed) is not a step: the router gives its number
back. Whether an attempt was made is known deep in the chain (the fallback step records each
one), so it travels in a context variable holding one small mutable record per call: middleware
copies the frozen ``ModelCall`` freely, and concurrent calls of one session must not see each
other's progress.
"""

from __future__ import annotations

from contextvars import ContextVar, Token

__all__ = ["CallProgress", "attempted", "track", "untrack"]


class CallProgress:
    """One routed call's progress: ``attempted`` once an attempt has an outcome (an answer, an
    error from the provider, or a cancel while it ran)."""

    __slots__ = ("attempted",)

    def __init__(self) -> None:
        self.attempted = False


_current: ContextVar[CallProgress | None] = ContextVar("agentroute_call_progress", default=None)


def track() -> tuple[CallProgress, Token[CallProgress | None]]:
    """Start tracking a call in this context (reset the token when the call ends)."""
    progress = CallProgress()
    return progress, _current.set(progress)


def untrack(token: Token[CallProgress | None]) -> None:
    _current.reset(token)


def attempted() -> None:
    """Mark the call running in this context as having made an attempt."""
    progress = _current.get()
    if progress is not None:
        progress.attempted = True
