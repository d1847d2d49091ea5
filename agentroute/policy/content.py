"""First-turn content heuristics: how hard does the task look before the loop shows anything?

Only the first step of a session is judged (later steps have the loop's own signals). The
rules look at the first user message: its length, code fences, and keywords that mark hard
work (debug, prove, refactor, …) or easy chat (thanks, hello, …). They return a difficulty in
[0, 1] and a confidence: near 0.5 difficulty means "unsure", which is when the optional
hybrid classifier (:mod:`agentroute.policy.classifier`) asks a cheap model instead.
Enable with ``policy.content_rules: true`` and give the ``content`` signal a weight.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from agentroute._types import Message
from agentroute.policy.tokens import first_user_text

__all__ = ["EASY", "HARD", "ContentJudgement", "ContentRules"]

HARD = (
    "prove",
    "derive",
    "debug",
    "refactor",
    "optimi",
    "architecture",
    "algorithm",
    "step by step",
    "analy",
    "root cause",
    "migrate",
    "concurren",
)
EASY = ("hello", "hi ", "thanks", "thank you", "what time", "translate", "summar")


@dataclass(frozen=True, slots=True)
class ContentJudgement:
    difficulty: float
    confidence: float


class ContentRules:
    """Length, code and keyword rules over the first user message."""

    def __init__(self, hard: Sequence[str] = HARD, easy: Sequence[str] = EASY) -> None:
        self._hard = re.compile("|".join(re.escape(w) for w in hard), re.I)
        self._easy = re.compile("|".join(re.escape(w) for w in easy), re.I)

    def judge(self, messages: Sequence[Message]) -> ContentJudgement:
        text = first_user_text(messages)
        score = 0.0
        if len(text) > 12_000:
            score += 0.5
        elif len(text) > 4_000:
            score += 0.3
        if "```" in text:
            score += 0.25
        score += 0.15 * min(3, len(set(m.group(0).lower() for m in self._hard.finditer(text))))
        if self._easy.search(text) and score < 0.3:
            score = max(0.0, score - 0.2)
        difficulty = min(1.0, score)
        return ContentJudgement(difficulty, confidence=abs(difficulty - 0.5) * 2)

    def score(self, messages: Sequence[Message]) -> float:
        return self.judge(messages).difficulty
