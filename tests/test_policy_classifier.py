"""The hybrid classifier (agentroute/policy/classifier.py) and the content rules
(agentroute/policy/content.py): when it asks the helper model, its breaker, cancellation,
and how the router feeds its score into the first step."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from agentroute import Router
from agentroute.policy.classifier import RUBRIC, HybridClassifier
from agentroute.testing import FakeClock
from tests.helpers import Msg, answer, mock_providers, policy_config

UNSURE = [{"role": "user", "content": "Please debug and refactor the booking module."}]
EASY = [{"role": "user", "content": "hello, thanks!"}]
HARD = [
    {
        "role": "user",
        "content": "Debug, refactor and optimise this algorithm:\n```python\n"
        + "x = 1\n" * 800
        + "```",
    }
]


class FakeAsk:
    def __init__(self, *answers: str | BaseException, delay: float = 0.0) -> None:
        self.answers = list(answers)
        self.delay = delay
        self.prompts: list[list[dict[str, Any]]] = []

    async def __call__(self, prompt: list[dict[str, Any]]) -> str:
        self.prompts.append(prompt)
        if self.delay:
            await anyio.sleep(self.delay)
        item = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(item, BaseException):
            raise item
        return item


@pytest.mark.anyio
@pytest.mark.parametrize(("messages", "difficulty"), [(EASY, 0.0), (HARD, 1.0)])
async def test_confident_rules_do_not_ask(messages: list[Msg], difficulty: float) -> None:
    ask = FakeAsk("medium")
    classifier = HybridClassifier(ask)
    assert await classifier.score(messages) == difficulty
    assert ask.prompts == [] and classifier.asked == 0


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("word", "score"), [("easy", 0.0), (" Medium.\n", 0.5), ("HARD", 1.0), ("hard!", 1.0)]
)
async def test_unsure_rules_ask_once_and_map_the_word(word: str, score: float) -> None:
    ask = FakeAsk(word)
    classifier = HybridClassifier(ask)
    assert await classifier.score(UNSURE) == score
    assert classifier.asked == 1
    (prompt,) = ask.prompts
    assert prompt == [
        {"role": "system", "content": RUBRIC},
        {"role": "user", "content": "Please debug and refactor the booking module."},
    ]


@pytest.mark.anyio
async def test_a_slow_ask_falls_back_to_the_rules() -> None:
    ask = FakeAsk("hard", delay=5.0)
    classifier = HybridClassifier(ask, timeout_s=0.05)
    with anyio.fail_after(2):
        difficulty = await classifier.score(UNSURE)
    assert difficulty == pytest.approx(0.3)  # the rules: two hard-task keywords
    assert classifier.asked == 1


@pytest.mark.anyio
@pytest.mark.parametrize("failure", [RuntimeError("503"), "probably tricky", "", "   "])
async def test_the_breaker_opens_after_repeated_failures_and_closes_later(
    failure: str | BaseException,
) -> None:
    clock = FakeClock(1000.0)
    ask = FakeAsk(failure)
    classifier = HybridClassifier(ask, failure_threshold=2, reset_after_s=30.0, clock=clock)
    for _ in range(2):
        assert await classifier.score(UNSURE) == pytest.approx(0.3)
    assert classifier.breaker_open and classifier.asked == 2
    assert await classifier.score(UNSURE) == pytest.approx(0.3)
    assert classifier.asked == 2  # open: not asked
    clock.advance(29.9)
    await classifier.score(UNSURE)
    assert classifier.asked == 2
    clock.advance(0.2)
    assert not classifier.breaker_open
    ask.answers = ["hard"]
    assert await classifier.score(UNSURE) == 1.0
    assert classifier.asked == 3


@pytest.mark.anyio
async def test_a_success_resets_the_failure_count() -> None:
    ask = FakeAsk("x")
    classifier = HybridClassifier(ask, failure_threshold=2, clock=FakeClock(1000.0))
    for answer_word in ("???", "easy", "???", "easy", "???"):
        ask.answers = [answer_word]
        await classifier.score(UNSURE)
    assert not classifier.breaker_open
    assert classifier.asked == 5


@pytest.mark.anyio
async def test_cancellation_is_not_swallowed() -> None:
    ask = FakeAsk("hard", delay=5.0)
    classifier = HybridClassifier(ask, timeout_s=10.0, failure_threshold=1, clock=FakeClock(1000.0))
    reached = False
    with anyio.move_on_after(0.05) as scope:
        await classifier.score(UNSURE)
        reached = True
    assert scope.cancelled_caught and not reached
    assert not classifier.breaker_open  # a cancellation is not the helper model's failure


@pytest.mark.anyio
async def test_the_router_puts_the_classifier_into_the_first_step() -> None:
    ask = FakeAsk("hard")
    data = policy_config(weights={"content": 0.5, "tool_errors_recent": 0.45})
    router = Router(data, providers=mock_providers(answer), classifier=HybridClassifier(ask))
    async with router.session() as s:
        await router.complete(UNSURE)
        await router.complete(UNSURE)
    first, second = s.decisions
    assert first.contributions == (("content", 0.5),)
    assert first.signals is not None and first.signals.content == 1.0
    assert (first.tier, str(first.cause)) == ("medium", "score")
    assert second.signals is not None and second.signals.content == 0.0  # first turn only
    assert len(ask.prompts) == 1


@pytest.mark.anyio
async def test_content_rules_without_a_classifier() -> None:
    data = policy_config(weights={"content": 0.5}, content_rules=True)
    router = Router(data, providers=mock_providers(answer))
    async with router.session() as s:
        await router.complete(HARD)
    assert s.decisions[0].contributions == (("content", 0.5),)
