"""FallbackMiddleware: try the candidate targets in order, keep a record of every attempt.

What happens after a failed attempt is looked up in one table (:data:`ACTIONS`) by error
class, not decided by scattered ``except`` blocks: ``next`` moves on to the next candidate
deployment, ``stop`` ends the call. Either way, a call that does not succeed raises
:class:`~agentroute.errors.AllAttemptsFailed` carrying every attempt's error and
:class:`~agentroute.Attempt` record — never just the last error. Errors that are not provider
errors (configuration mistakes, programming errors, cancellation) propagate unchanged and are
never retried.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

from agentroute._types import Attempt, CallNext, ModelCall, ModelResult
from agentroute.errors import (
    AllAttemptsFailed,
    BadRequest,
    ConfigurationError,
    ProviderError,
)
from agentroute.telemetry.logs import log_attempt, should_log

Action = Literal["next", "stop"]

ACTIONS: tuple[tuple[type[ProviderError], Action], ...] = (
    (BadRequest, "stop"),
    (ProviderError, "next"),
)
"""First matching row wins. A bad request would fail the same way anywhere, so it stops."""


def action_for(error: ProviderError) -> Action:
    for cls, action in ACTIONS:
        if isinstance(error, cls):
            return action
    return "stop"


class FallbackMiddleware:
    """One attempt per candidate target until one succeeds or the table says stop."""

    def __init__(
        self, clock: Callable[[], float] = time.perf_counter, *, log_events: bool | None = None
    ) -> None:
        self._clock = clock
        self._log = log_events

    async def __call__(self, call: ModelCall, call_next: CallNext) -> ModelResult:
        if not call.targets:
            raise ConfigurationError("no deployment to try: the decision has no candidates")
        attempts: list[Attempt] = []
        errors: list[ProviderError] = []
        clock = self._clock
        for number, target in enumerate(call.targets, start=1):
            started = clock()
            try:
                result = await call_next(call.with_target(target, number))
            except ProviderError as err:
                self._note(
                    call,
                    attempts,
                    Attempt(
                        number=number,
                        target=target,
                        outcome="error",
                        duration_s=clock() - started,
                        error_type=type(err).__name__,
                        status_code=err.status_code,
                        retry_after=err.retry_after,
                        error=err,
                    ),
                )
                errors.append(err)
                if action_for(err) == "stop":
                    break
                continue
            self._note(
                call,
                attempts,
                Attempt(
                    number=number,
                    target=target,
                    outcome="ok",
                    duration_s=clock() - started,
                    usage=result.usage,
                    cost_usd=result.cost_usd,
                ),
            )
            return result.with_attempts(tuple(attempts), call.decision)
        tried = ", ".join(f"{a.target.key}: {a.error_type}" for a in attempts)
        raise AllAttemptsFailed(f"all {len(attempts)} attempts failed ({tried})", errors, attempts)

    def _note(self, call: ModelCall, attempts: list[Attempt], attempt: Attempt) -> None:
        """Record an attempt; a successful one is charged to the session right here, so every
        answer a provider billed is counted — also one a later check rejects."""
        attempts.append(attempt)
        state = call.session
        if state is None:
            return
        if attempt.usage is not None:
            state.cost_usd += attempt.cost_usd
            state.usage = state.usage + attempt.usage
        if should_log(self._log):
            log_attempt(state, state.step, attempt)
