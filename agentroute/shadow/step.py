"""``ShadowStep``: the innermost step of a router with shadow routing on: hands each sampled
answered call to the :class:`~agentroute.shadow.runner.ShadowRunner` (docs/architecture.md,
"Shadow routing").

Innermost (after the attempt span), so that what it calls next is the terminal itself: the
served attempt's answer comes back through it, and the shadow call it submits is sent to the
same terminal (providers or wrapped function) without the affinity and fallback steps. It adds
no await to the call; an unsampled call costs one tier lookup, a sampled one a hash and a
queue put.
"""

from __future__ import annotations

from agentroute._types import CallNext, ModelCall, ModelResult
from agentroute.shadow.runner import ShadowRunner

__all__ = ["ShadowStep"]


class ShadowStep:
    """Passes the call on; a sampled answered call is also submitted to the runner."""

    __slots__ = ("_runner",)

    def __init__(self, runner: ShadowRunner) -> None:
        self._runner = runner

    async def __call__(self, call: ModelCall, call_next: CallNext) -> ModelResult:
        result = await call_next(call)
        runner = self._runner
        if runner.wanted(call, result):
            runner.submit(call, result, call_next)
        return result
