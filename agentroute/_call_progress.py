"""Whether a routed call has made an attempt yet.

The router numbers a session's steps as calls come in, but a call that ends before any attempt
(refused for its message shape or by a budget limit, a configuration error found before the
model call, a cancel while it was being routed) is not a step: the router gives its number
back. Whether an attempt was made is known deep in the chain (the fallback step records each
one), so the router gives each call one small mutable record, carried on the ``ModelCall``
(:attr:`~agentroute._types.ModelCall.progress`): middleware copies the frozen call freely and
every copy shares the record, while concurrent calls of one session each have their own. A
field rather than a context variable: no set and reset per call. (A middleware that builds a
new ``ModelCall`` from scratch rather than copying the one it got drops the record: an attempt
made with it is not seen, so a failure gives the step number back.)
"""

from __future__ import annotations

__all__ = ["CallProgress"]


class CallProgress:
    """One routed call's progress: ``attempted`` once an attempt has an outcome (an answer, an
    error from the provider, or a cancel while it ran). No ``__init__`` (the class attribute
    is the default): one is made per routed call, and creating it runs no Python code."""

    attempted: bool = False
