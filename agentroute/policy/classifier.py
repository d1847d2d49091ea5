"""The hybrid first-turn classifier (off by default): rules first, a cheap model when unsure.

:class:`~agentroute.policy.content.ContentRules` judge the first user message; only when
their confidence is below ``min_confidence`` is one short call made — through ``ask``, any
``async (messages) -> str`` the application provides (typically its cheapest model) — with a
one-word rubric: easy, medium or hard (the first word of the answer counts, so "Hard, because
…" reads as hard). The call has a timeout, and a circuit breaker stops asking for
``reset_after_s`` after ``failure_threshold`` failures in a row, then lets one call through
(half-open: one more failure opens it again, a success closes it); on any failure, timeout or
unreadable answer the rules' judgement stands. The breaker reads the router's
:class:`~agentroute.clock.Clock` (the router hands it over: :meth:`HybridClassifier.adopt_clock`)
unless the classifier was given a clock of its own. Cancellation is never swallowed. Rules that
find nothing at all judge a request easy with full confidence, so short everyday requests
never cost a classifier call.

    router = Router(config, classifier=HybridClassifier(ask=my_cheap_call))

and give the ``content`` signal a weight in ``policy.weights``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio

from agentroute._types import Message
from agentroute.clock import Clock, SystemClock
from agentroute.policy.content import ContentRules
from agentroute.policy.tokens import first_user_text

__all__ = ["RUBRIC", "SCORES", "Ask", "HybridClassifier"]

Ask = Callable[[list[dict[str, Any]]], Awaitable[str]]

RUBRIC = (
    "Classify how hard the user's request is for an AI assistant with tools. "
    "Answer with exactly one word: easy, medium or hard."
)
SCORES = {"easy": 0.0, "medium": 0.5, "hard": 1.0}
_FIRST_WORD = re.compile(r"[a-z]+")


class HybridClassifier:
    """Content difficulty in [0, 1] for the first step of a session.

    ``clock``: where the breaker reads time; ``None`` (the default): the clock of the router
    the classifier is given to (a :class:`~agentroute.clock.SystemClock` until then).
    """

    def __init__(
        self,
        ask: Ask,
        *,
        rules: ContentRules | None = None,
        min_confidence: float = 0.6,
        timeout_s: float = 2.0,
        failure_threshold: int = 3,
        reset_after_s: float = 60.0,
        clock: Clock | None = None,
    ) -> None:
        self._ask = ask
        self._rules = rules or ContentRules()
        self._min_confidence = min_confidence
        self._timeout = timeout_s
        self._threshold = failure_threshold
        self._reset_after = reset_after_s
        self._clock: Clock = clock or SystemClock()
        self._own_clock = clock is not None
        self._failures = 0
        self._open_until = 0.0
        self.asked = 0
        """How many times the model was asked (for tests and telemetry)."""

    def adopt_clock(self, clock: Clock) -> None:
        """Read the breaker's time from ``clock`` (the router's, handed over when the router is
        built), unless the classifier was constructed with a clock of its own."""
        if not self._own_clock:
            self._clock = clock

    @property
    def breaker_open(self) -> bool:
        return self._clock.now() < self._open_until

    async def score(self, messages: Sequence[Message]) -> float:
        judgement = self._rules.judge(messages)
        if judgement.confidence >= self._min_confidence or self.breaker_open:
            return judgement.difficulty
        text = first_user_text(messages)
        prompt = [
            {"role": "system", "content": RUBRIC},
            {"role": "user", "content": text[:2000]},
        ]
        self.asked += 1
        try:
            with anyio.fail_after(self._timeout):
                answer = await self._ask(prompt)
        except Exception:  # any failure of the helper call: the rules' judgement stands
            self._failed()
            return judgement.difficulty
        found = _FIRST_WORD.search(answer.lower())
        word = found.group(0) if found else ""
        if word not in SCORES:
            self._failed()
            return judgement.difficulty
        self._failures = 0
        return SCORES[word]

    def _failed(self) -> None:
        self._failures += 1
        if self._failures >= self._threshold:
            self._open_until = self._clock.now() + self._reset_after
            # Half-open after the pause: one more failure opens the breaker again.
            self._failures = self._threshold - 1
