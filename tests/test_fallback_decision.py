"""The fallback step's "what next" as a decision table (agentroute.middleware.next_attempt).

Each row is one failed attempt: its error (so its row of the recovery table), the cooldown it
started, the retries the deployment had, the deployments put aside, the queue and where the
failed one stood in it, the deadline left, the attempt's number against ``max_attempts`` —
and, when the decision asks the state store, what the store answers (more targets; how long the
spares still cool). The expected column is the decision the pure functions reach: its kind, the
deployment it names, the wait, the ``moved`` action, and the stop reason.

Deployments (tests/helpers.config_dict): simple = small → alpha/small-1 (16k); medium = mid →
alpha/mid-1, beta/mid-b (32k); complex = big → beta/big-b (64k).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from agentroute import Router
from agentroute._catalog import Catalog
from agentroute._types import Target
from agentroute.config import RouterConfig
from agentroute.errors import (
    AllAttemptsFailed,
    AuthenticationFailed,
    BadRequest,
    ContentPolicyRefusal,
    ContextWindowExceeded,
    ModelNotFound,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from agentroute.middleware import fallback as fallback_module
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
from agentroute.middleware.recovery import Action, Backoff, rule_for
from agentroute.testing import FakeClock, ScriptedProvider, text_result
from tests.helpers import CONVERSATION, config_dict

M1, MB, S1, BB = "alpha/mid-1", "beta/mid-b", "alpha/small-1", "beta/big-b"
NOW = 1000.0
DRAW = 0.5
"""The jitter draw: the n-th retry waits DRAW · min(8, 0.5 · 2ⁿ⁻¹) s (0.25, 0.5, 1 …)."""


def rules(**resilience: Any) -> RunRules:
    config = RouterConfig.from_mapping(config_dict(resilience=resilience))
    r = config.resilience
    return RunRules(
        r, Backoff(r.backoff_base_s, r.backoff_max_s, r.retry_after_cap_s), Catalog(config)
    )


def targets(catalog: Catalog) -> dict[str, Target]:
    return {t.key: t for tier in ("simple", "medium", "complex") for t in catalog.targets(tier)}


@dataclass(frozen=True)
class Row:
    """One failed attempt and what must follow it."""

    error: ProviderError
    expect: NextKind
    target: str | None = None
    """RETRY, RETRY_SPARE: the deployment named; MOVE: the deployment moved to."""
    wait: float | None = None
    moved: str | None = None
    reason: str = ""
    asks: tuple[NextKind, ...] = ()
    """The state-store questions asked on the way (MORE_TARGETS, SPARE_ORDER)."""
    failed: str = M1
    queue: tuple[str, ...] = (M1, MB)
    cooled: float | None = None
    retries: int = 0
    """Retries the failed deployment had already."""
    spare: tuple[str, ...] = ()
    """Deployments put aside before this failure (Retry-After-free errors)."""
    tried: tuple[str, ...] = ()
    """Deployments tried before this one (besides the spares)."""
    left: float = 100.0
    """Seconds of the deadline left at the decision."""
    number: int = 1
    more: tuple[str, ...] = ()
    """What the state store gives when the queue is spent."""
    cooling: Mapping[str, float] = field(default_factory=dict)
    """What the state store says of the spares (seconds until back)."""
    settings: Mapping[str, Any] = field(default_factory=dict)


DEADLINE_PASSES = "the deadline (180s) would pass before the next retry"

TABLE: dict[str, Row] = {
    # RAISE --------------------------------------------------------------------------------
    "bad request: raise": Row(BadRequest("no"), NextKind.STOP, reason="BadRequest is not retried"),
    "max_attempts reached (before any retry)": Row(
        ProviderUnavailable("503"),
        NextKind.STOP,
        number=3,
        settings={"max_attempts": 3},
        reason="max_attempts (3) reached",
    ),
    # RETRY --------------------------------------------------------------------------------
    "retry: same deployment after the first backoff": Row(
        ProviderUnavailable("503"), NextKind.RETRY, target=M1, wait=0.25
    ),
    "retry: the second backoff doubles": Row(
        ProviderTimeout("slow"), NextKind.RETRY, target=M1, wait=0.5, retries=1
    ),
    "retry: Retry-After within the cap is waited": Row(
        RateLimited("429", retry_after=2.0), NextKind.RETRY, target=M1, wait=2.0
    ),
    "retry: retries used up, next deployment": Row(
        ProviderUnavailable("503"),
        NextKind.MOVE,
        target=MB,
        moved="next_deployment",
        retries=2,
    ),
    "retry: cooled down, put aside, next deployment": Row(
        ProviderUnavailable("503"), NextKind.MOVE, target=MB, moved="next_deployment", cooled=30.0
    ),
    "retry: backoff would pass the deadline, next deployment": Row(
        ProviderUnavailable("503"), NextKind.MOVE, target=MB, moved="next_deployment", left=0.3
    ),
    "retry: Retry-After above the cap, next deployment": Row(
        RateLimited("429", retry_after=60.0), NextKind.MOVE, target=MB, moved="next_deployment"
    ),
    "retry: queue spent, the store gives the tier above": Row(
        ProviderUnavailable("503"),
        NextKind.MOVE,
        asks=(NextKind.MORE_TARGETS,),
        target=BB,
        moved="next_deployment",
        failed=MB,
        retries=2,
        tried=(M1,),
        more=(BB,),
    ),
    "retry: nothing more, the spare is retried": Row(
        ProviderUnavailable("503"),
        NextKind.RETRY_SPARE,
        asks=(NextKind.MORE_TARGETS, NextKind.SPARE_ORDER),
        target=M1,
        wait=0.25,
        moved="retry",
        failed=MB,
        retries=2,
        spare=(M1,),
    ),
    "retry: cooled, nothing more: itself as a spare": Row(
        ProviderUnavailable("503"),
        NextKind.RETRY_SPARE,
        asks=(NextKind.MORE_TARGETS, NextKind.SPARE_ORDER),
        target=MB,
        wait=0.25,
        moved="retry",
        failed=MB,
        tried=(M1,),
        cooled=30.0,
    ),
    "retry: spares soonest back first": Row(
        ProviderUnavailable("503"),
        NextKind.RETRY_SPARE,
        asks=(NextKind.MORE_TARGETS, NextKind.SPARE_ORDER),
        target=S1,
        wait=0.25,
        moved="retry",
        failed=MB,
        queue=(MB,),
        retries=2,
        spare=(M1, S1),
        cooling={M1: 20.0, S1: 5.0},
    ),
    "retry: every spare's backoff would pass the deadline": Row(
        ProviderUnavailable("503"),
        NextKind.STOP,
        asks=(NextKind.MORE_TARGETS, NextKind.SPARE_ORDER),
        reason=DEADLINE_PASSES,
        failed=MB,
        retries=2,
        spare=(M1,),
        left=0.3,
    ),
    "retry: a refused wait, then nowhere left": Row(
        ProviderUnavailable("503"),
        NextKind.STOP,
        asks=(NextKind.MORE_TARGETS,),
        reason=DEADLINE_PASSES,
        failed=MB,
        tried=(M1,),
        left=0.3,
    ),
    "retry: no retries configured, nowhere left": Row(
        ProviderUnavailable("503"),
        NextKind.STOP,
        asks=(NextKind.MORE_TARGETS,),
        reason="no deployment left to try",
        failed=MB,
        tried=(M1,),
        settings={"max_retries": 0},
    ),
    # NEXT_DEPLOYMENT ----------------------------------------------------------------------
    "auth failure: next deployment": Row(
        AuthenticationFailed("401"), NextKind.MOVE, target=MB, moved="next_deployment"
    ),
    "unknown model, put aside at once: next deployment": Row(
        ModelNotFound("404"), NextKind.MOVE, target=MB, moved="next_deployment", cooled=30.0
    ),
    "other provider error: next deployment, never retried": Row(
        ProviderError("odd"), NextKind.MOVE, target=MB, moved="next_deployment"
    ),
    "next deployment: the store gives the ones cooling down": Row(
        AuthenticationFailed("401"),
        NextKind.MOVE,
        asks=(NextKind.MORE_TARGETS,),
        target=S1,
        moved="next_deployment",
        failed=MB,
        tried=(M1,),
        more=(S1,),
    ),
    "next deployment: nothing more, a spare is retried": Row(
        AuthenticationFailed("401"),
        NextKind.RETRY_SPARE,
        asks=(NextKind.MORE_TARGETS, NextKind.SPARE_ORDER),
        target=M1,
        wait=0.25,
        moved="retry",
        failed=MB,
        spare=(M1,),
    ),
    "next deployment: nothing more, no spare": Row(
        AuthenticationFailed("401"),
        NextKind.STOP,
        asks=(NextKind.MORE_TARGETS,),
        reason="no deployment left to try",
        failed=MB,
        tried=(M1,),
    ),
    # BIGGER_WINDOW ------------------------------------------------------------------------
    "context window: the larger model": Row(
        ContextWindowExceeded("too long"), NextKind.MOVE, target=BB, moved="bigger_window"
    ),
    "context window: none larger": Row(
        ContextWindowExceeded("too long"),
        NextKind.STOP,
        reason="no model with a larger context window",
        failed=BB,
        queue=(BB,),
    ),
    # CONTENT_FALLBACK ---------------------------------------------------------------------
    "refusal: the content-policy fallback": Row(
        ContentPolicyRefusal("no"),
        NextKind.MOVE,
        target=BB,
        moved="content_fallback",
        settings={"content_policy_fallback": "big"},
    ),
    "refusal: no fallback configured": Row(
        ContentPolicyRefusal("no"),
        NextKind.STOP,
        reason="no content_policy_fallback is configured",
    ),
    "refusal: the fallback was tried": Row(
        ContentPolicyRefusal("no"),
        NextKind.STOP,
        reason="the content_policy_fallback 'big' was tried",
        failed=BB,
        queue=(BB,),
        settings={"content_policy_fallback": "big"},
    ),
}


def run_row(row: Row) -> tuple[Next, list[NextKind], AttemptRun, Target]:
    """The row's decision, made as the fallback step makes it (after_failure, then onward and
    spare_retry with the store's answers when it asks), and applied to the run: the decision,
    the questions asked, the run after it, and the next attempt's deployment."""
    r = rules(**row.settings)
    by_key = targets(r.catalog)
    queue = tuple(by_key[k] for k in row.queue)
    failed = by_key[row.failed]
    run = AttemptRun(queue, r.resilience.max_attempts)
    run.index = queue.index(failed)
    for key in (*row.tried, *row.spare):
        run.failed(by_key[key], ProviderUnavailable("earlier"))
    for key in row.spare:
        run.spare[by_key[key]] = ProviderUnavailable("earlier")
    if row.retries:
        run.retried[failed] = row.retries
    run.failed(failed, row.error)
    failure = Failure(failed, row.error, rule_for(row.error), row.cooled, row.number)
    deadline = NOW + row.left
    asks: list[NextKind] = []
    step = after_failure(run, failure, r, now=NOW, deadline=deadline, draw=lambda: DRAW)
    if step.kind is NextKind.MORE_TARGETS:
        asks.append(step.kind)
        run.take(step, failed)
        step = onward(run, failure, tuple(by_key[k] for k in row.more), r)
    if step.kind is NextKind.SPARE_ORDER:
        asks.append(step.kind)
        run.take(step, failed)
        step = spare_retry(
            run, failure, row.cooling, r, now=NOW, deadline=deadline, draw=lambda: DRAW
        )
    return step, asks, run, run.take(step, failed)


@pytest.mark.parametrize("row", TABLE.values(), ids=TABLE.keys())
def test_decision_table(row: Row) -> None:
    step, asks, _, next_target = run_row(row)
    assert step.kind is row.expect
    assert tuple(asks) == row.asks
    assert step.reason == row.reason
    assert step.moved == row.moved
    if row.expect is NextKind.MOVE:
        assert step.queue[step.index].key == row.target
    elif row.expect in (NextKind.RETRY, NextKind.RETRY_SPARE):
        assert step.target is not None and step.target.key == row.target
        assert step.wait == pytest.approx(row.wait)
    assert next_target.key == (row.failed if row.expect is NextKind.STOP else row.target)


def test_the_table_covers_every_action_and_every_outcome() -> None:
    actions = {rule_for(row.error).action for row in TABLE.values()}
    assert actions == set(Action)
    outcomes = {row.expect for row in TABLE.values()} | {a for r in TABLE.values() for a in r.asks}
    assert outcomes == set(NextKind)
    reasons = {row.reason.split(" (")[0].split(" 'big'")[0] for row in TABLE.values()}
    assert reasons == {
        "",
        "BadRequest is not retried",
        "max_attempts",
        "the deadline",
        "no model with a larger context window",
        "no content_policy_fallback is configured",
        "the content_policy_fallback",
        "no deployment left to try",
    }


# What the decision leaves in the run -------------------------------------------------------


def test_a_cooled_retryable_failure_is_put_aside_and_a_wait_refused_is_remembered() -> None:
    step, _, run, _ = run_row(TABLE["retry: cooled down, put aside, next deployment"])
    assert step.put_aside and not step.late
    assert [t.key for t in run.spare] == [M1]
    assert run.retried == {} and run.moved == "next_deployment"

    step, _, run, _ = run_row(TABLE["retry: backoff would pass the deadline, next deployment"])
    assert step.late and not step.put_aside
    assert run.late and not run.spare


def test_a_retry_counts_and_a_spare_retry_takes_those_looked_at_out() -> None:
    row = TABLE["retry: spares soonest back first"]
    step, _, run, _ = run_row(row)
    assert [t.key for t in step.looked_at] == [S1]
    assert {t.key: n for t, n in run.retried.items()} == {MB: 2, S1: 1}
    assert [t.key for t in run.spare] == [M1]
    assert run.moved == "retry"


def test_a_spare_whose_backoff_passes_the_deadline_is_looked_at_and_dropped() -> None:
    """Retry-After 5s on the soonest-back spare leaves too little time: the next one goes."""
    r = rules()
    by_key = targets(r.catalog)
    run = AttemptRun((by_key[MB],), 8)
    for key in (M1, S1):
        run.failed(by_key[key], ProviderUnavailable("earlier"))
    run.spare[by_key[S1]] = RateLimited("429", retry_after=5.0)
    run.spare[by_key[M1]] = ProviderUnavailable("earlier")
    err = ProviderUnavailable("503")
    failure = Failure(by_key[MB], err, rule_for(err), None, 3)
    draws: list[float] = []

    def draw() -> float:
        draws.append(DRAW)
        return DRAW

    cooling = {S1: 1.0, M1: 2.0}
    step = spare_retry(run, failure, cooling, r, now=NOW, deadline=NOW + 3.0, draw=draw)
    assert step.kind is NextKind.RETRY_SPARE and step.target == by_key[M1]
    assert [t.key for t in step.looked_at] == [S1, M1]
    assert len(draws) == 2  # one draw per backoff worked out, as the loop drew before


@pytest.mark.parametrize(
    ("error", "cooled", "draws"),
    [
        (ProviderUnavailable("503"), None, 1),  # a backoff: one draw
        (ProviderUnavailable("503"), 30.0, 0),  # put aside: no backoff
        (AuthenticationFailed("401"), None, 0),
        (BadRequest("no"), None, 0),
    ],
)
def test_the_jitter_is_drawn_once_per_backoff(
    error: ProviderError, cooled: float | None, draws: int
) -> None:
    r = rules()
    by_key = targets(r.catalog)
    run = AttemptRun((by_key[M1], by_key[MB]), 8)
    run.failed(by_key[M1], error)
    drawn: list[float] = []

    def draw() -> float:
        drawn.append(0.0)
        return 0.0

    after_failure(
        run,
        Failure(by_key[M1], error, rule_for(error), cooled, 1),
        r,
        now=NOW,
        deadline=NOW + 100,
        draw=draw,
    )
    assert len(drawn) == draws


# Too late to start another attempt ---------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "left", "reason"),
    [
        ({}, 5.0, ""),
        ({}, 0.1, ""),
        ({}, 0.05, "only 0.05s of the deadline (180s) was left, under min_attempt_s (0.1s)"),
        ({}, -0.004, "the deadline (180s) passed 0.004s ago"),
        ({}, -1.5, "the deadline (180s) passed 1.5s ago"),
        (
            {"deadline_s": 0.05, "attempt_timeout_s": 0.05},
            0.05,
            "",
        ),  # min_attempt_s is never more than the deadline
        ({"deadline_s": None}, -10.0, ""),  # no deadline: never too late
    ],
)
def test_too_late(settings: Mapping[str, Any], left: float, reason: str) -> None:
    assert too_late(rules(**settings).resilience, left) == reason


# The state is made at the first failure only ----------------------------------------------


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[AttemptRun]:
    made: list[AttemptRun] = []

    class Counted(AttemptRun):
        __slots__ = ()

        def __init__(self, queue: tuple[Target, ...], last: int) -> None:
            super().__init__(queue, last)
            made.append(self)

    monkeypatch.setattr(fallback_module, "AttemptRun", Counted)
    return made


@pytest.mark.anyio
async def test_a_call_answered_at_once_makes_no_run_state(made: list[AttemptRun]) -> None:
    provider = ScriptedProvider(default=text_result("ok"))
    router = Router(
        config_dict(resilience={"max_retries": 1}),
        providers={"alpha": provider, "beta": provider},
        clock=FakeClock(draw=DRAW),
    )
    await router.complete(CONVERSATION, hints={"max_tier": "medium", "min_tier": "medium"})
    assert made == []

    provider.push(ProviderUnavailable("503"))
    result = await router.complete(CONVERSATION, hints={"max_tier": "medium", "min_tier": "medium"})
    assert [a.outcome for a in result.attempts] == ["error", "ok"]
    assert len(made) == 1
    assert [type(e).__name__ for e in made[0].errors] == ["ProviderUnavailable"]


@pytest.mark.anyio
async def test_a_failed_call_raises_the_runs_errors_in_order(made: list[AttemptRun]) -> None:
    provider = ScriptedProvider([AuthenticationFailed("401"), ProviderUnavailable("503")])
    router = Router(
        config_dict(), providers={"alpha": provider, "beta": provider}, clock=FakeClock()
    )
    with pytest.raises(AllAttemptsFailed) as info:
        await router.complete(CONVERSATION, hints={"max_tier": "medium", "min_tier": "medium"})
    assert len(made) == 1
    assert list(info.value.exceptions) == made[0].errors
    assert str(info.value).startswith("all 2 attempts failed, no deployment left to try")
