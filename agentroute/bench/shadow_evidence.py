"""Shadow comparisons read from routing logs: what ``agentroute report`` and ``agentroute
calibrate --log`` make of them (docs/routing-log.md).

A shadowed step's comparison is in the log in one of two places: the step's own ``shadow``
field (it finished before the session's line was written), or a ``kind: "shadow"`` line (it
finished later), which names its session's line by ``session_record`` and its step by
``step``. :class:`LoggedShadows` gathers both while a reader goes through the lines:

- **Joined** by ``(session_record, step)``: a step's comparison and a shadow line naming the
  same step are one sample (the first read is kept), so a log that holds both never counts a
  step twice. A shadow line whose session line is not among the files read (or that names
  none) still counts, by its own ``served_tier`` and ``cause``; the readers say how many.
- **Agreement** ``null`` is a *failed* shadow call (no answer, or one that could not be read):
  counted apart, left out of every mean.

:func:`hold_evidence` turns the samples into what calibration may use: per served tier, the
shadowed steps whose decision *held* that tier (:data:`HOLDING_CAUSES`), their mean agreement,
and whether it is low enough, over enough steps, to forbid a patch that holds the tier longer.
"""

from __future__ import annotations

import statistics
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass, field

from agentroute._frozen import value_object
from agentroute.telemetry.routing_log_schema import SessionLine, ShadowLine, ShadowRecord

__all__ = [
    "HOLDING_CAUSES",
    "LOW_AGREEMENT",
    "HoldEvidence",
    "LoggedAgreement",
    "LoggedShadow",
    "LoggedShadows",
    "hold_evidence",
]

LOW_AGREEMENT = 0.5
"""A step whose agreement is below this counts as a disagreement (the report's "< 0.5")."""

HOLDING_CAUSES = frozenset({"start", "score", "hold", "hysteresis_hold"})
"""The decision causes that mean "the policy's score held this tier": the score was below the
start of the tier above (``start``, ``score``: the thresholds chose it, including a climb into
it or a step-down onto it; ``hold``: kept; ``hysteresis_hold``: kept rather than stepping
down). Only these are set by what calibration moves (``typical_steps``, the weights); a tier
put there by another rule (``escalation_request``, ``hint``, ``context_window``,
``validation_failure``, ``budget_cap``, ``custom``) says nothing about the score."""


@dataclass(frozen=True, slots=True)
class LoggedShadow:
    """One shadowed step: where it is from and its comparison."""

    session_record: str | None
    """The session line's ``record_id`` (``None``: a shadow line naming none)."""
    session_id: str
    step: int
    shadow: ShadowRecord


@dataclass(slots=True)
class LoggedShadows:
    """The shadowed steps of the lines read, joined as the module docstring says."""

    samples: list[LoggedShadow] = field(default_factory=list)
    lines: int = 0
    """``kind: "shadow"`` lines read."""
    _seen: set[tuple[str, int]] = field(default_factory=set)
    _line_records: list[str | None] = field(default_factory=list)

    def add_session(self, line: SessionLine) -> None:
        """The comparisons on a session line's steps (a cheap pass: most steps have none)."""
        for step in line.steps:
            if step.shadow is not None:
                self.add(LoggedShadow(line.record_id, line.session_id, step.step, step.shadow))

    def add_line(self, line: ShadowLine) -> None:
        self.lines += 1
        self._line_records.append(line.session_record)
        self.add(LoggedShadow(line.session_record, line.session_id, line.step, line.shadow))

    def add(self, sample: LoggedShadow) -> None:
        """One sample, unless its step was already counted."""
        if sample.session_record is not None:
            key = (sample.session_record, sample.step)
            if key in self._seen:
                return
            self._seen.add(key)
        self.samples.append(sample)

    def unjoined(self, sessions: Container[str]) -> int:
        """Shadow lines whose session line is not among ``sessions`` (the lines read)."""
        return sum(r is None or r not in sessions for r in self._line_records)


@value_object
class LoggedAgreement:
    """One served tier's shadowed steps whose decision held it (:data:`HOLDING_CAUSES`)."""

    tier: str
    steps: int
    """Holding steps with an agreement (failed shadow calls left out)."""
    sessions: int
    """Distinct sessions those steps are from."""
    failed: int
    """Holding steps whose shadow call failed (agreement ``null``)."""
    mean_agreement: float | None
    constrained: bool
    """Mean agreement below the minimum over at least the minimum number of steps."""


@value_object
class HoldEvidence:
    """What calibration may use of the shadow data (:func:`hold_evidence`)."""

    tiers: tuple[LoggedAgreement, ...]
    """Per served tier with holding shadowed steps, in the order given."""
    other_steps: int
    """Shadowed steps of other causes (not evidence about holding)."""
    min_agreement: float
    min_steps: int

    @property
    def constrained(self) -> tuple[str, ...]:
        """The tiers a patch may not hold longer than configured."""
        return tuple(t.tier for t in self.tiers if t.constrained)

    def lines(self) -> tuple[str, ...]:
        """How much shadow data was used, and what it constrained, for a command to print."""
        if not self.tiers and not self.other_steps:
            return ("shadow data: no shadow data in the log (no tier constrained)",)
        if not self.tiers:
            return (
                f"shadow data: no shadowed step held its tier ({self.other_steps} of other "
                "causes): no tier constrained",
            )
        out = [
            "shadow data (steps that held their tier: start, score, hold, hysteresis_hold): "
            + "; ".join(
                f"{t.tier} {t.steps} steps in {t.sessions} sessions, agreement "
                + (f"{t.mean_agreement:.2f}" if t.mean_agreement is not None else "-")
                + (f", {t.failed} failed" if t.failed else "")
                for t in self.tiers
            )
        ]
        if self.constrained:
            out.append(
                f"shadow agreement below {self.min_agreement:g} over at least {self.min_steps} "
                f"steps: the patch may not hold {', '.join(self.constrained)} longer than "
                "configured (typical_steps not raised, the weights that leave it not lowered)"
            )
        else:
            out.append(
                f"no tier constrained (agreement below {self.min_agreement:g} over at least "
                f"{self.min_steps} steps needed)"
            )
        return tuple(out)


def hold_evidence(
    samples: Iterable[LoggedShadow],
    *,
    min_agreement: float,
    min_steps: int,
    order: Sequence[str] = (),
) -> HoldEvidence:
    """Per served tier (``order`` first, then as first seen), the holding steps' agreement;
    a tier is constrained when its mean agreement is below ``min_agreement`` over at least
    ``min_steps`` steps with an agreement."""
    scores: dict[str, list[float]] = {t: [] for t in order}
    sessions: dict[str, set[str]] = {t: set() for t in order}
    failed: dict[str, int] = dict.fromkeys(order, 0)
    other = 0
    for s in samples:
        tier = s.shadow.served_tier
        if s.shadow.cause not in HOLDING_CAUSES:
            other += 1
            continue
        scores.setdefault(tier, [])
        failed.setdefault(tier, 0)
        if s.shadow.agreement is None:
            failed[tier] += 1
            continue
        scores[tier].append(s.shadow.agreement)
        sessions.setdefault(tier, set()).add(s.session_record or f"id:{s.session_id}")
    tiers = []
    for tier, values in scores.items():
        if not values and not failed[tier]:
            continue
        mean = statistics.fmean(values) if values else None
        low = mean is not None and len(values) >= min_steps and mean < min_agreement
        tiers.append(
            LoggedAgreement(tier, len(values), len(sessions.get(tier, ())), failed[tier], mean, low)
        )
    return HoldEvidence(tuple(tiers), other, min_agreement, min_steps)
