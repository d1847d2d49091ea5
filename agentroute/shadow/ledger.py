"""The shadow runner's books: the per-UTC-day budget with what calls in flight hold, the
samples counted by result, and the agreement by served tier and cause
(:mod:`agentroute.shadow.runner`)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from agentroute._frozen import value_object
from agentroute.clock import wall_time

__all__ = ["RESULTS", "ShadowLedger", "ShadowStats", "TierAgreement"]

RESULTS = ("compared", "failed", "cancelled", "dropped_concurrency", "dropped_budget")
"""What becomes of a sample."""
_DAY_S = 86_400.0


@value_object
class TierAgreement:
    """Compared samples of one served tier (or tier and cause) and their mean agreement."""

    count: int
    mean: float


@value_object
class ShadowStats:
    """What shadow routing has done so far (``Router.shadow_stats()``)."""

    sampled: int
    """Samples started as shadow calls."""
    compared: int
    """Of them, compared (an agreement recorded)."""
    failed: int
    """Of them, without an agreement: the shadow call failed or timed out, or an answer could
    not be read."""
    cancelled: int
    """Of them, cancelled (the router closed, or their event loop ended)."""
    dropped_concurrency: int
    """Samples dropped: ``max_concurrency`` shadow calls were in flight."""
    dropped_budget: int
    """Samples dropped: the day's ``budget_usd_per_day`` was spent."""
    in_flight: int
    cost_usd: float
    """Every shadow call's cost so far (never in a session's cost)."""
    spent_today_usd: float
    """The current UTC day's spend, against ``budget_usd_per_day``."""
    by_tier: Mapping[str, TierAgreement]
    by_cause: Mapping[tuple[str, str], TierAgreement]
    """By (served tier, decision cause)."""


class ShadowLedger:
    """Counts, budget and agreement sums of one runner (single-threaded: the event loop's)."""

    __slots__ = (
        "_counts",
        "_day",
        "_reserved",
        "_spent_today",
        "_sums",
        "budget",
        "cost",
        "in_flight",
        "sampled",
    )

    def __init__(self, budget_usd_per_day: float) -> None:
        self.budget = budget_usd_per_day
        self.in_flight = 0
        self.sampled = 0
        self.cost = 0.0
        self._day = -1
        self._spent_today = 0.0
        self._reserved = 0.0
        self._counts = dict.fromkeys(RESULTS, 0)
        self._sums: dict[tuple[str, str], list[float]] = {}

    def affords(self, expected: float) -> bool:
        """Whether a call expected to cost ``expected`` fits today's budget, with what the
        calls in flight hold."""
        self._roll_day()
        budget = self.budget
        return budget > 0 and self._spent_today + self._reserved + expected <= budget

    def start(self, expected: float) -> None:
        """A shadow call starts, holding ``expected`` against the budget."""
        self.in_flight += 1
        self.sampled += 1
        self._reserved += expected

    def end(self, expected: float, cost: float, result: str) -> None:
        """A shadow call ended (its hold released, its cost spent today)."""
        self.in_flight -= 1
        self._reserved = max(0.0, self._reserved - expected)
        self._roll_day()
        self._spent_today += cost
        self.cost += cost
        self._counts[result] += 1

    def count(self, result: str) -> None:
        """A sample that never started (``dropped_*``)."""
        self._counts[result] += 1

    def agreed(self, tier: str, cause: str, score: float) -> None:
        sums = self._sums.setdefault((tier, cause), [0, 0.0])
        sums[0] += 1
        sums[1] += score

    def stats(self) -> ShadowStats:
        """A snapshot."""
        by_cause = {key: TierAgreement(int(n), total / n) for key, (n, total) in self._sums.items()}
        tiers: dict[str, list[float]] = {}
        for (tier, _), (n, total) in self._sums.items():
            sums = tiers.setdefault(tier, [0, 0.0])
            sums[0] += n
            sums[1] += total
        self._roll_day()
        c = self._counts
        return ShadowStats(
            sampled=self.sampled,
            compared=c["compared"],
            failed=c["failed"],
            cancelled=c["cancelled"],
            dropped_concurrency=c["dropped_concurrency"],
            dropped_budget=c["dropped_budget"],
            in_flight=self.in_flight,
            cost_usd=self.cost,
            spent_today_usd=self._spent_today,
            by_tier=MappingProxyType(
                {tier: TierAgreement(int(n), total / n) for tier, (n, total) in tiers.items()}
            ),
            by_cause=MappingProxyType(by_cause),
        )

    def _roll_day(self) -> None:
        day = int(wall_time() // _DAY_S)
        if day != self._day:
            self._day = day
            self._spent_today = 0.0
