"""Output validation (agentroute/middleware/validation.py): a rejected result is rerun one
tier up, bounded by max_validation_retries and the top tier, paid for, and held through
the dwell window."""

from __future__ import annotations

import pytest

from agentroute import ModelCall, ModelResult, Router, Usage
from tests.helpers import all_calls, answer, mock_providers, policy_config


class Checker:
    """An output check answering from a script (then accepting); records what it saw."""

    def __init__(self, *verdicts: bool | str, always: bool | str | None = None) -> None:
        self.verdicts = list(verdicts)
        self.always = always
        self.seen: list[tuple[str | None, str | None]] = []

    async def __call__(self, result: ModelResult, call: ModelCall) -> bool | str:
        self.seen.append(
            (
                result.target.model if result.target else None,
                call.decision.tier if call.decision else None,
            )
        )
        if self.verdicts:
            return self.verdicts.pop(0)
        return True if self.always is None else self.always


@pytest.mark.anyio
async def test_a_rejected_result_is_rerun_one_tier_up() -> None:
    provs = mock_providers(answer)
    check = Checker("missing the new departure time")
    router = Router(policy_config(), providers=provs, validator=check)
    messages = [{"role": "user", "content": "Move my booking."}]
    async with router.session() as s:
        result = await router.complete(messages)
        later = await router.complete(messages)
    assert [c.target.deployment for c in all_calls(provs) if c.target] == [
        "small-1",
        "mid-1",
        "mid-1",
    ]
    assert check.seen == [("small", "simple"), ("mid", "medium"), ("mid", "medium")]
    first, rerun, second = s.decisions
    assert (first.tier, str(first.cause)) == ("simple", "start")
    assert (rerun.tier, rerun.previous_tier, str(rerun.cause)) == (
        "medium",
        "simple",
        "validation_failure",
    )
    assert rerun.reason == "missing the new departure time"
    assert rerun.step == 1 and rerun.candidates == ("mid",)
    assert result.decision == rerun and result.target is not None and result.target.model == "mid"
    # later steps see the failure in their signals and score
    assert second.signals is not None and second.signals.validation_failures == 1
    assert ("validation_failures", 0.3) in second.contributions
    assert later.decision == second


@pytest.mark.anyio
async def test_a_false_verdict_has_a_default_reason() -> None:
    router = Router(policy_config(), providers=mock_providers(answer), validator=Checker(False))
    async with router.session() as s:
        await router.complete([{"role": "user", "content": "hi"}])
    assert s.decisions[-1].reason == "output check failed"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("retries", "models"),
    [
        (0, ["small"]),
        (1, ["small", "mid"]),
        (2, ["small", "mid", "big"]),
        (5, ["small", "mid", "big"]),
    ],
)
async def test_reruns_are_bounded_by_max_validation_retries_and_the_top_tier(
    retries: int, models: list[str]
) -> None:
    provs = mock_providers(answer)
    check = Checker(always="still wrong")
    router = Router(policy_config(max_validation_retries=retries), providers=provs, validator=check)
    async with router.session() as s:
        result = await router.complete([{"role": "user", "content": "hi"}])
    assert [c.target.model for c in all_calls(provs) if c.target] == models
    assert len(check.seen) == len(models)  # every result is checked, the last one too
    assert result.target is not None and result.target.model == models[-1]  # returned as is
    assert result.text == "Your flight is rebooked."
    assert s.state.validation_failures == len(models)
    assert [str(d.cause) for d in s.decisions] == ["start"] + ["validation_failure"] * (
        len(models) - 1
    )


@pytest.mark.anyio
async def test_at_the_top_tier_a_rejected_result_is_returned() -> None:
    provs = mock_providers(answer)
    router = Router(policy_config(), providers=provs, validator=Checker(always=False))
    async with router.session() as s:
        result = await router.complete(
            [{"role": "user", "content": "hi"}], hints={"min_tier": "complex"}
        )
    assert len(all_calls(provs)) == 1
    assert result.target is not None and result.target.model == "big"
    assert [d.tier for d in s.decisions] == ["complex"]
    assert s.state.validation_failures == 1


@pytest.mark.anyio
async def test_a_rejected_attempt_is_still_paid_for() -> None:
    router = Router(policy_config(), providers=mock_providers(answer), validator=Checker("wrong"))
    async with router.session() as s:
        await router.complete([{"role": "user", "content": "hi"}])
    small = (1000 * 1.0 + 100 * 2.0) / 1e6
    mid = (1000 * 2.0 + 100 * 4.0) / 1e6
    assert s.cost_usd == pytest.approx(small + mid)
    assert s.usage == Usage(2000, 200)


@pytest.mark.anyio
async def test_a_validation_climb_is_held_through_the_dwell_window() -> None:
    router = Router(
        policy_config(), providers=mock_providers(answer), validator=Checker(True, True, "bad")
    )
    messages = [{"role": "user", "content": "Move my booking."}]
    async with router.session() as s:
        s.escalate()  # step 1: medium; steps 2-3 are calm on medium
        for _ in range(4):
            await router.complete(messages)
    assert [(d.step, d.tier) for d in s.decisions] == [
        (1, "medium"),
        (2, "medium"),
        (3, "medium"),
        (3, "complex"),  # step 3's result was rejected
        (4, "complex"),  # new tier, so a fresh dwell window starts
    ]
