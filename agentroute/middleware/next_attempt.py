"""What follows a failed attempt: the state of a call's attempts, and the pure decision.

:class:`~agentroute.middleware.fallback.FallbackMiddleware` runs a call's attempts; this module
says where the next one goes. It holds no I/O and reads no clock:

* :class:`AttemptRun` is the state of one call's recovery (the queue of deployments and the
  position in it, those tried, each one's retries, those put aside with retries left, whether a
  wait was refused for the deadline, how the last move was made). The fallback step makes it
  at a call's first failure only: a call whose first attempt succeeds never builds one.
* :func:`after_failure` turns the failed attempt (:class:`Failure`: its error, the row of the
  recovery table (:mod:`agentroute.middleware.recovery`) and whether the failure put the
  deployment aside), the run, ``now`` and the deadline into a :class:`Next`: stop (and why),
  retry the same deployment after a wait, move to the next deployment of the queue, or ask
  the state store first. The state store is the one thing the decision may need that only an
  ``await`` gives, so the decision asks for it in a second step: :attr:`NextKind.MORE_TARGETS`
  (the queue is spent: the step fetches the tiers above or the deployments still cooling
  down, then asks :func:`onward`) and :attr:`NextKind.SPARE_ORDER` (nowhere untried is left:
  the step reads how long each deployment put aside still cools down, then asks
  :func:`spare_retry`).
* The backoff's jitter is an input too: ``draw`` is called once per backoff the decision
  works out (``clock.random`` in the fallback step, a constant in a test), exactly where the
  loop drew before the split, so a seeded clock gives the same waits.

A :class:`Next` is a value: the fallback step applies it to the run (:meth:`AttemptRun.take`),
sleeps when it says wait, and records and logs the attempts itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from enum import StrEnum

from agentroute._catalog import Catalog
from agentroute._frozen import value_object
from agentroute._types import Target
from agentroute.config import ResilienceConfig
from agentroute.errors import ProviderError
from agentroute.middleware.recovery import Action, Backoff, Rule

__all__ = [
    "AttemptRun",
    "Failure",
    "Next",
    "NextKind",
    "RunRules",
    "after_failure",
    "backoff_wait",
    "nowhere",
    "onward",
    "spare_retry",
    "too_late",
]


class NextKind(StrEnum):
    """What the fallback step does after a failed attempt."""

    STOP = "stop"
    """No further attempt: the call fails (:attr:`Next.reason` says why)."""
    RETRY = "retry"
    """The same deployment again after :attr:`Next.wait` (its prompt cache warm)."""
    MOVE = "move"
    """The deployment at :attr:`Next.index` of :attr:`Next.queue`, now."""
    RETRY_SPARE = "retry_spare"
    """A deployment put aside earlier (:attr:`Next.target`), again after :attr:`Next.wait`."""
    MORE_TARGETS = "more_targets"
    """The queue is spent: fetch the tier above (or the deployments still cooling down) from
    the state store, then ask :func:`onward`."""
    SPARE_ORDER = "spare_order"
    """Nowhere untried is left: read how long each deployment put aside still cools down,
    then ask :func:`spare_retry`."""


@value_object
class Next:
    """A decision about the next attempt (only the fields its :attr:`kind` uses are set)."""

    kind: NextKind
    reason: str = ""
    """STOP: why, in words (it ends the :class:`~agentroute.errors.AllAttemptsFailed` text)."""
    target: Target | None = None
    """RETRY, RETRY_SPARE: the deployment to try again."""
    wait: float = 0.0
    """RETRY, RETRY_SPARE: the backoff to sleep first."""
    queue: tuple[Target, ...] = ()
    """MOVE: the queue the next attempt comes from (the run's own, or a new one)."""
    index: int = 0
    """MOVE: the next attempt's position in :attr:`queue`."""
    moved: str | None = None
    """How the next attempt was reached, for the fallback event (an :class:`Action` value;
    ``None``: the same deployment again, no fallback)."""
    put_aside: bool = False
    """The failed deployment is put aside with retries left, to retry once nowhere untried is
    left (it is cooling down, with a ``Retry-After`` within the cap)."""
    late: bool = False
    """A backoff was refused: it would pass the deadline (said when the call stops)."""
    looked_at: tuple[Target, ...] = ()
    """RETRY_SPARE, and STOP after SPARE_ORDER: the deployments put aside that were looked at
    (they leave the spare set)."""


@value_object
class Failure:
    """A failed attempt, as the decision sees it."""

    target: Target
    error: ProviderError
    rule: Rule
    """Its row of the recovery table."""
    cooled: float | None
    """The cooldown this failure started, in seconds (``None``: the deployment stays in
    service)."""
    number: int
    """The attempt's number."""


@value_object
class RunRules:
    """What a decision reads besides the run: the settings, the backoff and the catalog (the
    larger windows and the content-policy fallback's deployments)."""

    resilience: ResilienceConfig
    backoff: Backoff
    catalog: Catalog


class AttemptRun:
    """The recovery state of one call, from its first failed attempt on.

    Only :meth:`failed` and :meth:`take` change it; the decision functions read it.
    """

    __slots__ = ("errors", "index", "last", "late", "moved", "queue", "retried", "spare", "tried")

    def __init__(self, queue: tuple[Target, ...], last: int) -> None:
        self.queue = queue
        """Where the next deployments come from (the call's own, a tier up, a larger window …)."""
        self.index = 0
        """The position of the current attempt's deployment in :attr:`queue`."""
        self.last = last
        """The number of the last attempt ``max_attempts`` allows."""
        self.errors: list[ProviderError] = []
        """Every failed attempt's error, in order."""
        self.tried: set[Target] = set()
        self.retried: dict[Target, int] = {}
        """Retries (same deployment, after a backoff) made so far, by deployment."""
        self.spare: dict[Target, ProviderError] = {}
        """Deployments tried and put aside with retries left, and their last error: retried,
        soonest back first, once no deployment is left untried."""
        self.late = False
        """A backoff was refused because it would pass the deadline (sticky for the call)."""
        self.moved: str | None = None
        """How the next attempt was reached (see :attr:`Next.moved`)."""

    def failed(self, target: Target, error: ProviderError) -> None:
        """Note a failed attempt at ``target``: tried, and no longer a spare."""
        self.errors.append(error)
        self.tried.add(target)
        self.spare.pop(target, None)

    def take(self, step: Next, failed: Target) -> Target:
        """Apply a decision made after the attempt at ``failed`` failed; return the next
        attempt's deployment (``failed`` until the decision names another)."""
        if step.put_aside:
            self.spare[failed] = self.errors[-1]
        if step.late:
            self.late = True
        for target in step.looked_at:
            self.spare.pop(target, None)
        kind = step.kind
        if kind is NextKind.MOVE:
            self.queue, self.index, self.moved = step.queue, step.index, step.moved
            return step.queue[step.index]
        again = step.target
        if again is not None:  # RETRY, RETRY_SPARE: a retry names its deployment
            self.retried[again] = self.retried.get(again, 0) + 1
            self.moved = step.moved
            return again
        return failed

    def forget_tracebacks(self) -> None:
        """The call recovered: drop its errors' tracebacks (a recovered error's traceback
        would keep the fallback step's frame, and the result it returns, in a reference cycle
        only the garbage collector frees)."""
        for error in self.errors:
            error.__traceback__ = None


def after_failure(
    run: AttemptRun,
    failure: Failure,
    rules: RunRules,
    *,
    now: float,
    deadline: float,
    draw: Callable[[], float],
) -> Next:
    """What follows ``failure`` (already noted with :meth:`AttemptRun.failed`), by the
    recovery table: stop, retry the same deployment after a backoff, move on in the queue, or
    ask for more targets (:attr:`NextKind.MORE_TARGETS`)."""
    cfg = rules.resilience
    rule = failure.rule
    err = failure.error
    target = failure.target
    if rule.action is Action.RAISE:
        return Next(NextKind.STOP, reason=f"{type(err).__name__} is not retried")
    if failure.number == run.last:
        return Next(NextKind.STOP, reason=f"max_attempts ({cfg.max_attempts}) reached")
    late = run.late
    put_aside = False
    if rule.action is Action.RETRY and run.retried.get(target, 0) < cfg.max_retries:
        if failure.cooled is None:  # the same deployment again, its prompt cache warm
            retries = run.retried.get(target, 0)
            wait = backoff_wait(rules, err, retries, now=now, deadline=deadline, draw=draw())
            if wait is not None:
                return Next(NextKind.RETRY, target=target, wait=wait)
            late = True  # (not cooled: Retry-After <= cap)
        elif err.retry_after is None or err.retry_after <= cfg.retry_after_cap_s:
            put_aside = True  # the others first, this one later
    if rule.action is Action.BIGGER_WINDOW:
        fresh = _fresh(rules.catalog.larger_window(target), run.tried)
        return _onward(run, failure, fresh, cfg, put_aside=put_aside, late=late)
    if rule.action is Action.CONTENT_FALLBACK:
        model = cfg.content_policy_fallback
        fresh = _fresh(rules.catalog.model_targets(model) if model else (), run.tried)
        return _onward(run, failure, fresh, cfg, put_aside=put_aside, late=late)
    if run.index + 1 < len(run.queue):
        return Next(
            NextKind.MOVE,
            queue=run.queue,
            index=run.index + 1,
            moved=_moved(rule),
            put_aside=put_aside,
            late=late,
        )
    return Next(NextKind.MORE_TARGETS, put_aside=put_aside, late=late)


def onward(run: AttemptRun, failure: Failure, targets: tuple[Target, ...], rules: RunRules) -> Next:
    """What follows once the queue is spent and the state store gave ``targets`` (the tier
    above, else the deployments still cooling down; maybe none): the first of them, else a
    deployment put aside (:attr:`NextKind.SPARE_ORDER`), else stop."""
    return _onward(run, failure, targets, rules.resilience, put_aside=False, late=run.late)


def spare_retry(
    run: AttemptRun,
    failure: Failure,
    cooling: Mapping[str, float],
    rules: RunRules,
    *,
    now: float,
    deadline: float,
    draw: Callable[[], float],
) -> Next:
    """The deployment put aside to retry now that none is left untried, soonest back by
    ``cooling`` (deployment key → seconds; a tie: the one tried first), with its backoff; stop
    when each one's backoff would pass the deadline. Those looked at leave the spare set."""
    looked: list[Target] = []
    for target in sorted(run.spare, key=lambda t: cooling.get(t.key, 0.0)):
        looked.append(target)
        retries = run.retried.get(target, 0)
        err = run.spare[target]
        wait = backoff_wait(rules, err, retries, now=now, deadline=deadline, draw=draw())
        if wait is not None:
            return Next(
                NextKind.RETRY_SPARE,
                target=target,
                wait=wait,
                moved=Action.RETRY.value,
                looked_at=tuple(looked),
            )
    return Next(
        NextKind.STOP, reason=_deadline_passes(rules.resilience), late=True, looked_at=(*looked,)
    )


def backoff_wait(
    rules: RunRules,
    err: ProviderError,
    retries: int,
    *,
    now: float,
    deadline: float,
    draw: float,
) -> float | None:
    """The backoff before a deployment's next retry (after ``retries`` of them), or ``None``
    when there is no waiting for it: a ``Retry-After`` above the cap, or less than
    ``min_attempt_s`` would be left of the deadline after the wait."""
    wait = rules.backoff.delay(retries + 1, err.retry_after, draw)
    if wait is None:
        return None
    cfg = rules.resilience
    floor = min(cfg.min_attempt_s, cfg.deadline_s or math.inf)
    return wait if now + wait + floor <= deadline else None


def too_late(cfg: ResilienceConfig, left: float) -> str:
    """Why no further attempt starts with ``left`` seconds of the deadline left, or ``""``
    when one may (at least ``min_attempt_s`` left, and never more than ``deadline_s``)."""
    if cfg.deadline_s is None:
        return ""
    if left <= 0.0:  # how long ago says how far the last attempt overran it
        return f"the deadline ({cfg.deadline_s:g}s) passed {-left:.3g}s ago"
    if left < min(cfg.min_attempt_s, cfg.deadline_s):
        return (
            f"only {left:.3g}s of the deadline ({cfg.deadline_s:g}s) was left, under "
            f"min_attempt_s ({cfg.min_attempt_s:g}s)"
        )
    return ""


def nowhere(rule: Rule, cfg: ResilienceConfig) -> str:
    """Why there is no next attempt, in words."""
    if rule.action is Action.BIGGER_WINDOW:
        return "no model with a larger context window"
    if rule.action is Action.CONTENT_FALLBACK:
        if cfg.content_policy_fallback is None:
            return "no content_policy_fallback is configured"
        return f"the content_policy_fallback {cfg.content_policy_fallback!r} was tried"
    return "no deployment left to try"


def _onward(
    run: AttemptRun,
    failure: Failure,
    targets: tuple[Target, ...],
    cfg: ResilienceConfig,
    *,
    put_aside: bool,
    late: bool,
) -> Next:
    rule = failure.rule
    if targets:
        return Next(
            NextKind.MOVE,
            queue=targets,
            index=0,
            moved=_moved(rule),
            put_aside=put_aside,
            late=late,
        )
    if rule.action in (Action.RETRY, Action.NEXT_DEPLOYMENT) and (run.spare or put_aside):
        return Next(NextKind.SPARE_ORDER, put_aside=put_aside, late=late)
    reason = _deadline_passes(cfg) if late else nowhere(rule, cfg)
    return Next(NextKind.STOP, reason=reason, put_aside=put_aside, late=late)


def _moved(rule: Rule) -> str:
    """How a move to another deployment is logged: a retry's move is to the next one."""
    return (Action.NEXT_DEPLOYMENT if rule.action is Action.RETRY else rule.action).value


def _deadline_passes(cfg: ResilienceConfig) -> str:
    return f"the deadline ({cfg.deadline_s or math.inf:g}s) would pass before the next retry"


def _fresh(targets: tuple[Target, ...], tried: set[Target]) -> tuple[Target, ...]:
    return tuple(t for t in targets if t not in tried)
