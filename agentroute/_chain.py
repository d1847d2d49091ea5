"""Build the middleware chain: a list of middlewares plus a terminal become one ``CallNext``.

The first middleware is the outermost (it sees the call first and the result last), like
Starlette's. Each link is a plain function handing the call and the rest of the chain to its
middleware and returning the middleware's awaitable as it is: awaiting the chain awaits the
middlewares' own coroutines, with no coroutine of the chain's between them (one frame less
per middleware and call). There is no per-call allocation beyond the calls the middlewares
themselves make.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence

from agentroute._types import CallNext, Middleware, ModelCall, ModelResult


def build_chain(middleware: Sequence[Middleware], terminal: CallNext) -> CallNext:
    """Compose ``middleware`` (outermost first) around ``terminal``."""
    handler = terminal
    for mw in reversed(middleware):
        handler = _link(mw, handler)
    return handler


def _link(mw: Middleware, call_next: CallNext) -> CallNext:
    def handler(call: ModelCall) -> Awaitable[ModelResult]:
        return mw(call, call_next)

    return handler
