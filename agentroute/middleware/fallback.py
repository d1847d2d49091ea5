"""FallbackMiddleware: attempts, retries, fallbacks, deadlines and cooldowns of one call.

Each attempt runs under one cancel scope (:mod:`agentroute._deadline`: anyio's on asyncio,
trio's own on trio) whose deadline is the nearer of ``attempt_timeout_s`` and what is left of
the call's ``deadline_s``: a call answered at its first attempt enters one scope, and none
when neither is configured. A scope that fires is a :class:`~agentroute.errors.ProviderTimeout`
saying which of the two it was. What follows a failed attempt comes from the table
in :mod:`agentroute.middleware.recovery` (retry after a backoff, next deployment, a larger
window, the content-policy fallback, a tier up, or stop). A call that does not succeed raises
:class:`~agentroute.errors.AllAttemptsFailed` carrying every attempt's error and
:class:`~agentroute.Attempt` record — never just the last error. Errors outside the tree
(configuration mistakes, programming errors) propagate unchanged and are never retried.

Cancellation is never swallowed: the in-flight attempt is cancelled with the call (its
connection closed by the transport), recorded as ``cancelled`` in
``session.state.last_attempts`` and the log, and the cancellation propagates. A cancel between
two attempts (during a retry's backoff) is recorded the same way, as the next attempt,
cancelled before it started (``duration_s`` 0); either way the records kept on the session
drop their errors, as after any failed call.

An attempt after the first starts only with at least ``min_attempt_s`` of the deadline left: a
backoff (or an event loop under load) that wakes up late never starts an attempt that could
only time out. Each attempt records how late it started against plan (``Attempt.lag_s``).

An answer that stopped on a content filter (``finish_reason == "content_filter"``: OpenAI's
filter, Anthropic's ``refusal``) counts as a :class:`~agentroute.errors.ContentPolicyRefusal`
when a ``content_policy_fallback`` is configured (it is billed, and recorded so); without one
it is returned as it is.

A cooldown (:mod:`agentroute.state`) orders deployments, it never fails a call alone.
Deployments in service come first: the call's own, then (``escalate_on_exhaustion``) the tiers
above. A deployment put aside during the call is not retried while another one is left
untried. Once none is, the deployments still cooling down are tried (the call's own tier
first, then the tiers above, each soonest back first), and then the retries left
(``max_retries`` per deployment) of those put aside, soonest back first — until one succeeds,
``max_attempts`` is reached, or the deadline would pass.

**How the loop is split.** :meth:`FallbackMiddleware.__call__` runs the attempts: the call's
first queue, each attempt under its scope, its record and charge, cancellation. What follows a
failure is decided in :mod:`agentroute.middleware.next_attempt`: the call's recovery state
(:class:`~agentroute.middleware.next_attempt.AttemptRun`, made at the first failure, so a call
answered at once allocates none of it) and pure functions from that state, the failure, ``now``
and the deadline to a :class:`~agentroute.middleware.next_attempt.Next`. The awaits stay here
(:meth:`FallbackMiddleware._what_next`): the failure's cooldown is written first, and when the
decision asks for what only the state store knows (the tier above or the deployments cooling
down, once the queue is spent; how long each deployment put aside still cools) it is fetched
and the decision made on with it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import anyio

from agentroute._catalog import Catalog
from agentroute._deadline import attempt_scope
from agentroute._types import Attempt, CallNext, ModelCall, ModelResult, StreamWatch, Target
from agentroute.clock import Clock, SystemClock
from agentroute.config import ResilienceConfig
from agentroute.errors import (
    AllAttemptsFailed,
    ConfigurationError,
    ContentPolicyRefusal,
    ProviderError,
    ProviderTimeout,
)
from agentroute.middleware.next_attempt import (
    AttemptRun,
    Failure,
    Next,
    NextKind,
    RunRules,
    after_failure,
    onward,
    spare_retry,
    too_late,
)
from agentroute.middleware.recovery import Backoff, CoolDown, Rule, rule_for
from agentroute.middleware.stream_charge import settle_stream
from agentroute.policy.score import BUDGET_MAX_TIER
from agentroute.session import SessionState
from agentroute.state import MemoryStateStore, StateStore
from agentroute.telemetry.logs import RouteEvents

__all__ = ["FallbackMiddleware"]


class FallbackMiddleware:
    """Run the attempts of one call until one succeeds or the recovery table says stop.

    Args:
        catalog: the router's catalog (larger windows, fallback models, tiers above).
        resilience: timeouts, retries, backoff and cooldown settings.
        store: where failures and cooldowns are shared (default: in this process's memory).
        clock: time, sleep and jitter (tests inject :class:`~agentroute.testing.FakeClock`).
        events: the router's event sink (default: one following ``log_events: null``).
    """

    def __init__(
        self,
        catalog: Catalog,
        resilience: ResilienceConfig | None = None,
        *,
        store: StateStore | None = None,
        clock: Clock | None = None,
        events: RouteEvents | None = None,
    ) -> None:
        self._catalog = catalog
        r = self._cfg = resilience or ResilienceConfig()
        self._clock: Clock = clock or SystemClock()
        self._store: StateStore = store or MemoryStateStore(self._clock)
        self._events = events or RouteEvents()
        self._rules = RunRules(
            r, Backoff(r.backoff_base_s, r.backoff_max_s, r.retry_after_cap_s), catalog
        )

    async def __call__(self, call: ModelCall, call_next: CallNext) -> ModelResult:
        if not call.targets:
            raise ConfigurationError("no deployment to try: the decision has no candidates")
        cfg = self._cfg
        clock = self._clock
        began = clock.now()
        deadline = began + (cfg.deadline_s or math.inf)
        per_attempt = cfg.attempt_timeout_s or math.inf
        cap: str | None = call.hints.get(BUDGET_MAX_TIER) if call.hints else None
        queue = await self._available(call.targets, cap)
        target = queue[0]
        attempts: tuple[Attempt, ...] = ()
        # the recovery state, made at the first failure: a call answered at once needs none
        run: AttemptRun | None = None
        stop = ""
        planned = began
        # numbering continues after ``call.attempt`` (a restarted stream's earlier attempts)
        number = call.attempt
        in_attempt = False
        try:
            while True:
                number += 1
                started = clock.now()
                lag = max(0.0, started - planned)
                if run is not None:  # the first attempt always goes; later ones need time left
                    stop = too_late(cfg, deadline - started)
                    if stop:
                        break
                    moved = run.moved
                    if moved is not None and call.session is not None:
                        self._events.fallback(call.session, call.step, attempts[-1], target, moved)
                limit = min(per_attempt, deadline - started)
                result = None
                in_attempt = True
                try:
                    if limit == math.inf:  # no timeout configured: no cancel scope to pay for
                        result = await call_next(call.with_target(target, number))
                    else:
                        with attempt_scope(limit):
                            result = await call_next(call.with_target(target, number))
                    if result is None:
                        which = "attempt timeout" if limit == per_attempt else "deadline"
                        raise ProviderTimeout(f"no answer within {limit:.3g}s ({which})").located(
                            provider=target.provider,
                            model=target.model,
                            deployment=target.deployment,
                        )
                except ProviderError as exc:
                    err = exc
                    attempts = (*attempts, _failed(number, target, clock, started, lag, err))
                    self._note(call, attempts)
                except anyio.get_cancelled_exc_class() as exc:
                    attempts = (*attempts, _failed(number, target, clock, started, lag, exc))
                    self._note(call, attempts)
                    raise
                else:
                    refusal = (
                        _refusal(target)
                        if result.finish_reason == "content_filter"
                        and self._refusal_fallback(target)
                        else None
                    )
                    pending = result.stream_end
                    attempts = (
                        *attempts,
                        Attempt(
                            number=number,
                            target=target,
                            outcome="ok" if refusal is None else "error",
                            duration_s=clock.now() - started,
                            error_type=None if refusal is None else type(refusal).__name__,
                            usage=result.usage if pending is None else None,
                            cost_usd=result.cost_usd,
                            lag_s=lag,
                            error=refusal,
                        ),
                    )
                    self._note(call, attempts, pending)
                    if refusal is None:
                        if run is not None:
                            run.forget_tracebacks()
                        return result.with_attempts(attempts, call.decision)
                    err = refusal
                in_attempt = False

                # What next: the recovery table's decision (pure), the store asked first ----
                if run is None:
                    run = AttemptRun(queue, call.attempt + cfg.max_attempts)
                step = await self._what_next(run, call, target, err, number, deadline, cap)
                if step.kind is NextKind.STOP:
                    stop = step.reason
                    break
                target = run.take(step, target)
                planned = clock.now() + step.wait
                if step.kind is not NextKind.MOVE:  # a retry: after its backoff
                    await clock.sleep(step.wait)
        except anyio.get_cancelled_exc_class() as exc:
            if not in_attempt:  # between attempts (a backoff, the state store): the next one
                record = _failed(number + 1, target, clock, clock.now(), 0.0, exc)
                attempts = (*attempts, record)
                self._note(call, attempts)
            _settle(call.session, attempts)
            raise
        _settle(call.session, attempts)
        tried_list = ", ".join(f"{a.target.key}: {a.error_type}" for a in attempts)
        errors = run.errors if run is not None else []
        raise AllAttemptsFailed(
            f"all {len(attempts)} attempts failed, {stop} ({tried_list})", errors, attempts
        )

    async def _what_next(
        self,
        run: AttemptRun,
        call: ModelCall,
        target: Target,
        err: ProviderError,
        number: int,
        deadline: float,
        cap: str | None,
    ) -> Next:
        """Note the failed attempt at ``target`` in ``run``, count it against the deployment
        (its cooldown), and decide what follows: the decision is pure
        (:mod:`agentroute.middleware.next_attempt`); when it asks for what only the state store
        knows (more targets, how long the spares still cool), that is fetched here and the
        decision made on with it."""
        clock = self._clock
        rules = self._rules
        run.failed(target, err)
        rule = rule_for(err)
        cooled = await self._cool_down(call, target, err, rule)
        failure = Failure(target, err, rule, cooled, number)
        step = after_failure(
            run, failure, rules, now=clock.now(), deadline=deadline, draw=clock.random
        )
        if step.kind is NextKind.MORE_TARGETS:
            run.take(step, target)
            more = await self._more_targets(target, run.tried, cap, call)
            step = onward(run, failure, more, rules)
        if step.kind is NextKind.SPARE_ORDER:
            run.take(step, target)
            cooling = await self._store.cooling([t.key for t in run.spare])
            step = spare_retry(
                run, failure, cooling, rules, now=clock.now(), deadline=deadline, draw=clock.random
            )
        return step

    def _refusal_fallback(self, target: Target) -> bool:
        """Whether an answer that stopped on a content filter goes to the configured
        content-policy fallback (one is configured, and this is not it already)."""
        fallback = self._cfg.content_policy_fallback
        return fallback is not None and fallback != target.model

    # Where to go ---------------------------------------------------------------------------

    async def _more_targets(
        self, target: Target, tried: set[Target], cap: str | None, call: ModelCall
    ) -> tuple[Target, ...]:
        """Where to go once the queue is spent (:attr:`NextKind.MORE_TARGETS`): the tier
        above (``escalate_on_exhaustion``), else the deployments still cooling down
        (:meth:`_cooling_rest`); maybe none."""
        above = await self._tier_up(target.tier, tried, cap)
        if above:
            return above
        return await self._cooling_rest(call.targets, tried, cap)

    async def _available(self, targets: Sequence[Target], cap: str | None) -> tuple[Target, ...]:
        """The call's first queue: its targets not cooling down; else the tiers above (when
        allowed, up to the budget's ``cap``); else all of them, soonest-back first."""
        cooling = await self._store.cooling([t.key for t in targets])
        if not cooling:
            return tuple(targets)
        ready = tuple(t for t in targets if t.key not in cooling)
        if ready:
            return ready
        above = await self._tier_up(targets[0].tier, set(targets), cap)
        if above:
            return above
        return tuple(sorted(targets, key=lambda t: cooling[t.key]))

    async def _tier_up(self, tier: str, tried: set[Target], cap: str | None) -> tuple[Target, ...]:
        """The first tier above ``tier``, up to the budget's tier ``cap`` (else the top), with a
        deployment not yet tried nor cooling."""
        if not self._cfg.escalate_on_exhaustion:
            return ()
        catalog = self._catalog
        ceiling = catalog.ceiling(cap)
        above = catalog.tier_above(tier)
        while above is not None and catalog.index(above) <= ceiling:
            fresh = self._fresh(catalog.targets(above), tried)
            cooling = await self._store.cooling([t.key for t in fresh]) if fresh else {}
            ready = tuple(t for t in fresh if t.key not in cooling)
            if ready:
                return ready
            above = catalog.tier_above(above)
        return ()

    async def _cooling_rest(
        self, targets: Sequence[Target], tried: set[Target], cap: str | None
    ) -> tuple[Target, ...]:
        """The deployments not tried yet once no ready one is left: those cooling down, the
        call's own first and then (``escalate_on_exhaustion``) the tiers above up to the
        budget's ``cap``, each tier soonest back first."""
        catalog = self._catalog
        pool = [t for t in targets if t not in tried]
        if self._cfg.escalate_on_exhaustion and targets:
            ceiling = catalog.ceiling(cap)
            above = catalog.tier_above(targets[0].tier)
            while above is not None and catalog.index(above) <= ceiling:
                pool.extend(t for t in catalog.targets(above) if t not in tried and t not in pool)
                above = catalog.tier_above(above)
        if not pool:
            return ()
        cooling = await self._store.cooling([t.key for t in pool])
        return tuple(sorted(pool, key=lambda t: (catalog.index(t.tier), cooling.get(t.key, 0.0))))

    @staticmethod
    def _fresh(targets: Sequence[Target], tried: set[Target]) -> tuple[Target, ...]:
        return tuple(t for t in targets if t not in tried)

    # Cooldowns -----------------------------------------------------------------------------

    async def _cool_down(
        self, call: ModelCall, target: Target, err: ProviderError, rule: Rule
    ) -> float | None:
        """Count ``call``'s failure against ``target``; put it aside when the table says so.
        Returns the cooldown in seconds, or ``None`` when the deployment stays in service."""
        if rule.cooldown is CoolDown.NO:
            return None
        cfg = self._cfg
        key = target.key
        retry_after = err.retry_after or 0.0
        if rule.cooldown is CoolDown.AT_ONCE:
            seconds = max(cfg.cooldown_s, retry_after)
            why = f"{type(err).__name__}: put aside at once"
        elif retry_after > cfg.retry_after_cap_s:
            seconds = retry_after
            why = f"Retry-After {retry_after:g}s is above the {cfg.retry_after_cap_s:g}s cap"
        else:
            failures = await self._store.add_failure(key, cfg.failure_window_s)
            if failures < cfg.allowed_fails:
                return None
            await self._store.clear_failures(key)
            seconds = max(cfg.cooldown_s, retry_after)
            why = f"{failures} failures within {cfg.failure_window_s:g}s"
        if seconds <= 0:
            return None
        await self._store.set_cooldown(key, seconds)
        if call.session is not None:
            self._events.cooldown(call.session, call.step, target, seconds, why)
        return seconds

    # Records -------------------------------------------------------------------------------

    def _note(
        self, call: ModelCall, attempts: tuple[Attempt, ...], pending: StreamWatch | None = None
    ) -> None:
        """Record an attempt (the last of ``attempts``, the call's records so far); a
        successful one is charged to the session right here, so every answer a provider billed
        is counted — also one a later check rejects. One that returned a stream (``pending``)
        is charged when the stream ends."""
        attempt = attempts[-1]
        progress = call.progress
        if progress is not None:  # the call is a step of its session (_types.CallProgress)
            progress.attempts = attempts
        state = call.session
        if state is None:
            return
        state.charge(attempts)  # a stream's attempt has no usage yet: charged at its end
        if pending is not None:
            pending.subscribe(settle_stream(state, call.step, attempt, self._clock, self._events))
            return
        self._events.attempt(state, call.step, attempt)


def _failed(
    number: int, target: Target, clock: Clock, started: float, lag: float, err: BaseException
) -> Attempt:
    """The record of an attempt that failed, or was cancelled (a cancel between attempts is
    recorded as the next attempt, cancelled before it started: ``duration_s`` 0)."""
    duration_s = clock.now() - started
    if isinstance(err, ProviderError):
        return Attempt(
            number=number,
            target=target,
            outcome="error",
            duration_s=duration_s,
            error_type=type(err).__name__,
            status_code=err.status_code,
            retry_after=err.retry_after,
            lag_s=lag,
            error=err,
        )
    return Attempt(
        number=number,
        target=target,
        outcome="cancelled",
        duration_s=duration_s,
        error_type="Cancelled",
        lag_s=lag,
        error=err,
    )


def _settle(state: SessionState | None, attempts: tuple[Attempt, ...]) -> None:
    """Keep a failed or cancelled call's attempts on the session as records only: their
    errors (with tracebacks and chained transport errors, kilobytes a call) go to the caller in
    the raised exception, and need not stay alive as long as an idle session does."""
    if state is not None:
        state.note_attempts(tuple(dataclasses.replace(a, error=None) for a in attempts))


def _refusal(target: Target) -> ContentPolicyRefusal:
    return ContentPolicyRefusal(
        "the model refused (finish_reason content_filter); trying the content_policy_fallback"
    ).located(provider=target.provider, model=target.model, deployment=target.deployment)
