"""Build the middleware chain: a list of middlewares plus a terminal become one ``CallNext``.

The first middleware is the outermost (it sees the call first and the result last), like
Starlette's. Each link is a small closure; there is no per-call allocation beyond the calls
the middlewares themselves make.
"""

from __future__ import annotations

from collections.abc import Sequence

from agentroute._types import CallNext, Middleware, ModelCall, ModelResult


def build_chain(middleware: Sequence[Middleware], terminal: CallNext) -> CallNext:
    """Compose ``middleware`` (outermost first) around ``terminal``."""
    handler = terminal
    for mw in reversed(middleware):
        handler = _link(mw, handler)
    return handler


def _link(mw: Middleware, call_next: CallNext) -> CallNext:
    async def handler(call: ModelCall) -> ModelResult:
        return await mw(call, call_next)

    return handler
