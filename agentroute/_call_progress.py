"""One routed call's own mutable record: whether it has made an attempt yet, and what affinity
did for it.

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

What affinity did for the call (a new pin, a hit, a break: ``pin``) is kept here too: a fact of
this call, not of its session (concurrent calls each have their own), read by the route span
that wraps the call. Not a field of the call's ``ModelResult``: that would cost a copy of the
result on every call of a sticky model, a large share of the per-call overhead budget.
"""

from __future__ import annotations

from agentroute._pin_event import PinEvent

__all__ = ["CallProgress"]


class CallProgress:
    """One routed call's progress: ``attempted`` once an attempt has an outcome (an answer, an
    error from the provider, or a cancel while it ran); ``pin``, what affinity did for the call
    (``None``: nothing). No ``__init__`` (the class attributes are the defaults): one is made
    per routed call, and creating it runs no Python code."""

    attempted: bool = False
    pin: PinEvent | None = None
