"""Reading routing logs (docs/routing-log.md) into the weekly report ``agentroute report`` prints.

Pure: lines in, a frozen :class:`RoutingReport` out; the CLI (:mod:`agentroute.bench.
routing_report_cli`) renders it. Decisions the schema leaves open:

- **Validation.** Every line is validated with the schema's own models
  (``RoutingLogLine.validate_json``): measured on a 116 MB, 10,000-session log it costs about
  what ``json.loads`` alone does (1.3 s against 1.2 s), so there is no lighter hot path. A bad
  line is a :class:`~agentroute.errors.ConfigurationError` naming ``file:line`` and the field;
  with ``skip_bad`` it is counted instead. A line whose ``schema`` is newer than 1 is always
  refused (it may mean something this reader would misread), with or without ``skip_bad``.
- **Inputs.** Paths; a name ending ``.gz`` is read through gzip; ``-`` is standard input
  (plain text).
- **Joins.** An ``outcome`` line joins the session line whose ``record_id`` is its
  ``session_record``. One with ``session_known: false`` is an *unknown-session* outcome; one
  whose session line is not among the logs read is an *orphan*: both are counted apart, never
  joined by ``session_id`` (implicit ids recur). Of all the outcomes a session has (on its line
  and in outcome lines) the latest ``recorded_at`` wins; a tie goes to the one read last.
- **Solved.** ``success`` when it is set, else ``score >= 0.5`` when a score is set; an
  outcome with neither (a label only) is *no verdict*. Solved rates are over the sessions with
  a verdict; sessions without any outcome are counted and said so.
- **Tier order.** The log names tiers but not their order. A tier is placed above every other
  tier reached by a session whose ``highest_tier`` it is; tiers are ranked by how many tiers
  they were seen above (ties: first seen first). A switch to a higher tier is an
  *escalation*, to a lower one a *step-down*.
- **Causes.** An escalation's cause is its step's ``cause``; for ``score`` the signal with the
  largest contribution is added (``score:tool_errors_recent``), since the score is the sum of
  the signals. A step with no recorded tier (rare) counts as a call of tier ``?`` (listed last).
- **Days** are UTC calendar days of each step's ``time``.
- **Shadow agreement.** A step's ``shadow`` field and ``shadow`` lines are joined by
  (``session_record``, ``step``) and counted once (:mod:`agentroute.bench.shadow_evidence`); a
  shadow line whose session line is not among the logs read still counts, by its own
  ``served_tier`` and ``cause``, and is counted in ``shadow_unjoined``. Rows are per served
  tier (the report's tier order; a tier seen only in shadow lines last) and cause (most
  shadowed first): mean agreement and the share below 0.5 are over the comparisons made; a
  null agreement is a *failed* shadow call. The steps that disagreed most are the
  :data:`WORST_STEPS` lowest agreements (a tie: the one read first). Without shadow data the
  rows are empty (``--json``: empty lists).
"""

from __future__ import annotations

import gzip
import json
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from glob import glob
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from agentroute.bench.shadow_evidence import LOW_AGREEMENT, LoggedShadow, LoggedShadows
from agentroute.errors import ConfigurationError
from agentroute.telemetry.routing_log_schema import (
    OutcomeLine,
    OutcomeRecord,
    RoutingLogLine,
    SessionLine,
    ShadowLine,
)

__all__ = [
    "SCHEMA_VERSION",
    "CauseRow",
    "DayCost",
    "RoutingReport",
    "ShadowRow",
    "ShadowStep",
    "TierRow",
    "expand_inputs",
    "read_routing_logs",
]

SCHEMA_VERSION = 1
"""The newest ``schema`` this reader understands."""
EXAMPLE_IDS = 5
"""How many ids of sessions that escalated and still failed the report names."""
WORST_STEPS = 5
"""How many of the steps that disagreed most the report names."""
NO_ESCALATION = "(no escalation)"
UNKNOWN_TIER = "?"


@dataclass(frozen=True, slots=True)
class TierRow:
    """One tier: the calls routed to it and their cost; the sessions that reached it, those
    that ended on it as their highest tier, and how those went."""

    tier: str
    calls: int
    cost_usd: float
    sessions_reached: int
    sessions_highest: int
    cost_usd_highest: float
    """Total cost of the sessions whose highest tier this is."""
    judged: int
    """Of ``sessions_highest``, those with a verdict (solved or failed)."""
    solved: int


@dataclass(frozen=True, slots=True)
class CauseRow:
    """One escalation cause: how often it escalated, and how the sessions it escalated went
    (a session counts once per distinct cause; ``(no escalation)``: sessions that never
    climbed)."""

    cause: str
    escalations: int
    share: float
    """Of all escalations."""
    sessions: int
    judged: int
    solved: int


@dataclass(frozen=True, slots=True)
class DayCost:
    day: str
    """``YYYY-MM-DD`` (UTC)."""
    tier: str
    calls: int
    cost_usd: float


@dataclass(frozen=True, slots=True)
class ShadowRow:
    """One served tier and decision cause: its shadowed steps and how far the reference tier
    agreed with what was served."""

    tier: str
    cause: str
    shadowed: int
    failed: int
    """Of ``shadowed``, shadow calls that gave no comparison (agreement null)."""
    mean_agreement: float | None
    """Over the ``shadowed - failed`` comparisons (``None``: there were none)."""
    below_share: float | None
    """Of those comparisons, the share below 0.5."""
    cost_usd: float
    """The shadow calls' cost (their own ledger, not in any session's cost)."""


@dataclass(frozen=True, slots=True)
class ShadowStep:
    """A shadowed step, among those that disagreed most."""

    session_id: str
    step: int
    served_tier: str
    reference_tier: str
    agreement: float
    reason: str


@dataclass(frozen=True, slots=True)
class RoutingReport:
    """What a routing log says about a period: every figure ``agentroute report`` prints."""

    files: tuple[str, ...]
    lines: int
    bad_lines: int
    """Lines skipped as invalid (only with ``skip_bad``)."""
    duplicate_sessions: int
    """Session lines whose ``record_id`` was already read (the first is kept)."""
    sessions: int
    calls: int
    cost_usd: float
    first_time: float | None
    last_time: float | None
    tiers: tuple[TierRow, ...]
    """In tier order, cheapest (as inferred) first."""
    escalations: int
    step_downs: int
    causes: tuple[CauseRow, ...]
    """Most frequent first; ``(no escalation)`` last."""
    switches: tuple[tuple[str, int], ...]
    """Sessions by their number of tier switches: ``0``, ``1``, ``2``, ``3``, ``4+``."""
    with_outcome: int
    without_outcome: int
    no_verdict: int
    """Sessions whose outcome has neither ``success`` nor ``score``."""
    solved: int
    judged: int
    escalated_failed: int
    escalated_failed_ids: tuple[str, ...]
    """The first :data:`EXAMPLE_IDS` of them, in reading order."""
    outcome_lines: int
    unknown_session_outcomes: int
    """Outcome lines with ``session_known: false``."""
    orphan_outcomes: int
    """Outcome lines naming a session line that is not in the logs read."""
    days: tuple[DayCost, ...] = field(default=())
    """Calls and cost per UTC day and tier, by day then tier order."""
    shadow: tuple[ShadowRow, ...] = ()
    """Shadowed steps per served tier and cause (empty: no shadow data)."""
    shadow_worst: tuple[ShadowStep, ...] = ()
    """The :data:`WORST_STEPS` lowest agreements, lowest first."""
    shadow_lines: int = 0
    """``kind: "shadow"`` lines read."""
    shadow_unjoined: int = 0
    """Shadow lines whose session line is not in the logs read (counted in ``shadow``)."""

    def to_json(self) -> dict[str, Any]:
        """Plain data for ``--json`` (every field, rows as objects)."""
        out: dict[str, Any] = {"schema": SCHEMA_VERSION}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if name in ("tiers", "causes", "days", "shadow", "shadow_worst"):
                value = [{k: getattr(r, k) for k in r.__dataclass_fields__} for r in value]
            elif name == "switches":
                value = dict(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[name] = value
        return out


def expand_inputs(patterns: Sequence[str]) -> list[str]:
    """Each pattern as the files it names: ``-`` (stdin) as is, a glob (``*``, ``?``, ``[``)
    expanded in sorted order, a plain path as is. A glob matching nothing, or a path that does
    not exist, raises :class:`ConfigurationError`."""
    out: list[str] = []
    for pattern in patterns:
        if pattern == "-":
            out.append(pattern)
        elif any(c in pattern for c in "*?["):
            matched = sorted(p for p in glob(pattern, recursive=True) if Path(p).is_file())
            if not matched:
                raise ConfigurationError(f"LOG: no file matches {pattern!r}")
            out += matched
        elif not Path(pattern).is_file():
            raise ConfigurationError(f"LOG: no such file: {pattern}")
        else:
            out.append(pattern)
    return out


def total_bytes(files: Iterable[str]) -> int | None:
    """The files' sizes on disk (compressed for ``.gz``); ``None`` when stdin is among them."""
    files = list(files)
    if "-" in files:
        return None
    return sum(Path(f).stat().st_size for f in files)


def _open(name: str) -> tuple[Iterable[bytes], IO[bytes]]:
    """(lines to read, the raw stream whose position measures progress)."""
    if name == "-":
        raw: IO[bytes] = sys.stdin.buffer
        return raw, raw
    raw = open(name, "rb")  # noqa: SIM115 (closed by the caller)
    if name.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw, mode="rb"), raw
    return raw, raw


def _error(name: str, lineno: int, exc: ValidationError) -> ConfigurationError:
    """The first problem of a bad line, naming ``file:line`` and the field."""
    first = exc.errors(include_url=False)[0]
    loc = [str(p) for p in first["loc"]]
    if loc and loc[0] in ("session", "outcome", "shadow"):  # the union's tag: the line's kind
        loc = loc[1:]
    where = ".".join(loc) or ("kind" if first["type"].startswith("union_tag") else "line")
    if first["type"] == "json_invalid":
        return ConfigurationError(f"{name}:{lineno}: not a JSON object: {first['msg']}")
    return ConfigurationError(f"{name}:{lineno}: {where}: {first['msg']}")


def _newer_schema(line: bytes) -> object | None:
    """The ``schema`` of a line that declares a newer one than this reader's, else ``None``."""
    try:
        data = json.loads(line)
    except ValueError:
        return None
    schema = data.get("schema") if isinstance(data, dict) else None
    if isinstance(schema, int) and not isinstance(schema, bool) and schema > SCHEMA_VERSION:
        return schema
    return None


def iter_lines(
    files: Sequence[str],
    *,
    skip_bad: bool = False,
    progress: Callable[[int], None] | None = None,
    on_bad: Callable[[], None] | None = None,
) -> Iterator[SessionLine | OutcomeLine | ShadowLine]:
    """Every valid line of ``files``, in order. ``progress(bytes_read)`` is called every 256
    lines and at each file's end (bytes: of all files so far, compressed for ``.gz``)."""
    done = 0
    for name in files:
        shown = "<stdin>" if name == "-" else name
        stream, raw = _open(name)
        try:
            for lineno, line in enumerate(stream, start=1):
                if not line.strip():
                    continue
                try:
                    yield RoutingLogLine.validate_json(line)
                except ValidationError as exc:
                    schema = _newer_schema(line)
                    if schema is not None:
                        raise ConfigurationError(
                            f"{shown}:{lineno}: schema: {schema} is newer than this agentroute "
                            f"reads ({SCHEMA_VERSION}): upgrade agentroute to report on it"
                        ) from None
                    if not skip_bad:
                        raise _error(shown, lineno, exc) from None
                    if on_bad is not None:
                        on_bad()
                if progress is not None and lineno % 256 == 0 and raw.seekable():
                    progress(done + raw.tell())
            if raw.seekable():
                done += raw.tell()
                if progress is not None:
                    progress(done)
        except (OSError, EOFError) as exc:  # unreadable, a truncated .gz
            raise ConfigurationError(f"{shown}: cannot be read: {exc}") from None
        finally:
            if raw is not sys.stdin.buffer:
                if isinstance(stream, gzip.GzipFile):
                    stream.close()
                raw.close()


def verdict(outcome: OutcomeRecord | None) -> bool | None:
    """Solved (``True``), failed (``False``) or no verdict (``None``): see the module doc."""
    if outcome is None:
        return None
    if outcome.success is not None:
        return outcome.success
    if outcome.score is not None:
        return outcome.score >= 0.5
    return None


@dataclass(slots=True)
class _Session:
    """What the report keeps of one session line (the line itself is dropped)."""

    session_id: str
    highest: str | None
    reached: tuple[str, ...]
    cost: float
    switches: tuple[tuple[str, str, str], ...]
    """(from tier, to tier, cause) of every tier switch."""
    outcome: OutcomeRecord | None


def _escalation_cause(cause: str | None, contributions: dict[str, float]) -> str:
    if cause is None:
        return "(not recorded)"
    if cause == "score" and contributions:
        return f"score:{max(contributions.items(), key=lambda kv: kv[1])[0]}"
    return cause


@dataclass
class _Builder:
    """Accumulates lines; :meth:`finish` makes the report."""

    files: tuple[str, ...]
    lines: int = 0
    bad: int = 0
    duplicates: int = 0
    calls: int = 0
    cost: float = 0.0
    first: float | None = None
    last: float | None = None
    sessions: dict[str, _Session] = field(default_factory=dict)
    tier_calls: Counter[str] = field(default_factory=Counter)
    tier_cost: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    day_calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    day_cost: defaultdict[tuple[str, str], float] = field(
        default_factory=lambda: defaultdict(float)
    )
    seen_order: dict[str, int] = field(default_factory=dict)
    above: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    outcome_lines: int = 0
    unknown: int = 0
    pending: list[OutcomeLine] = field(default_factory=list)
    shadow: LoggedShadows = field(default_factory=LoggedShadows)

    def add(self, line: SessionLine | OutcomeLine | ShadowLine) -> None:
        self.lines += 1
        if isinstance(line, ShadowLine):
            self.shadow.add_line(line)
            return
        if isinstance(line, OutcomeLine):
            self.outcome_lines += 1
            if line.session_record is None or not line.session_known:
                self.unknown += 1
            else:
                self.pending.append(line)  # joined at the end: its session may come later
            return
        if line.record_id in self.sessions:
            self.duplicates += 1
            return
        switches: list[tuple[str, str, str]] = []
        day_cache: tuple[float, str] = (-1.0, "")
        for step in line.steps:
            tier = step.tier or UNKNOWN_TIER
            self.seen_order.setdefault(tier, len(self.seen_order))
            self.calls += 1
            self.cost += step.cost_usd
            self.tier_calls[tier] += 1
            self.tier_cost[tier] += step.cost_usd
            t = step.time
            if not day_cache[0] <= t < day_cache[0] + 86_400:
                start = t - t % 86_400
                day_cache = (start, datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%d"))
            self.day_calls[day_cache[1], tier] += 1
            self.day_cost[day_cache[1], tier] += step.cost_usd
            if self.first is None or t < self.first:
                self.first = t
            if self.last is None or t > self.last:
                self.last = t
            if step.shadow is not None:
                self.shadow.add(
                    LoggedShadow(line.record_id, line.session_id, step.step, step.shadow)
                )
            prev = step.previous_tier
            if prev is not None and step.tier is not None and prev != step.tier:
                cause = _escalation_cause(step.cause, step.contributions)
                switches.append((prev, step.tier, cause))
        for tier in line.tiers_reached:
            self.seen_order.setdefault(tier, len(self.seen_order))
        if line.highest_tier is not None:
            self.seen_order.setdefault(line.highest_tier, len(self.seen_order))
            self.above[line.highest_tier].update(
                t for t in line.tiers_reached if t != line.highest_tier
            )
        self.sessions[line.record_id] = _Session(
            line.session_id,
            line.highest_tier,
            tuple(line.tiers_reached),
            line.total_cost_usd,
            tuple(switches),
            line.outcome,
        )

    def finish(self) -> RoutingReport:
        orphans = 0
        for o in self.pending:  # in reading order: a tie of recorded_at goes to the later
            s = self.sessions.get(o.session_record or "")
            if s is None:
                orphans += 1
            elif s.outcome is None or o.outcome.recorded_at >= s.outcome.recorded_at:
                s.outcome = o.outcome
        order = sorted(self.seen_order, key=lambda t: (len(self.above[t]), self.seen_order[t]))
        rank = {t: i for i, t in enumerate(order)}
        rank[UNKNOWN_TIER] = len(order)  # a step without a recorded tier: last

        reached: Counter[str] = Counter()
        highest: Counter[str] = Counter()
        highest_cost: defaultdict[str, float] = defaultdict(float)
        tier_judged: Counter[str] = Counter()
        tier_solved: Counter[str] = Counter()
        escalations: Counter[str] = Counter()
        cause_sessions: Counter[str] = Counter()
        cause_judged: Counter[str] = Counter()
        cause_solved: Counter[str] = Counter()
        switch_hist: Counter[str] = Counter()
        step_downs = with_outcome = no_verdict = solved = judged = failed_up = 0
        failed_ids: list[str] = []
        for s in self.sessions.values():
            ups = [c for a, b, c in s.switches if rank[b] > rank[a]]
            step_downs += len(s.switches) - len(ups)
            escalations.update(ups)
            n = len(s.switches)
            switch_hist["4+" if n >= 4 else str(n)] += 1
            reached.update(s.reached)
            ok = verdict(s.outcome)
            if s.outcome is not None:
                with_outcome += 1
                no_verdict += ok is None
            if ok is not None:
                judged += 1
                solved += ok
            if s.highest is not None:
                highest[s.highest] += 1
                highest_cost[s.highest] += s.cost
                if ok is not None:
                    tier_judged[s.highest] += 1
                    tier_solved[s.highest] += ok
            for cause in set(ups) or {NO_ESCALATION}:
                cause_sessions[cause] += 1
                if ok is not None:
                    cause_judged[cause] += 1
                    cause_solved[cause] += ok
            if ups and ok is False:
                failed_up += 1
                if len(failed_ids) < EXAMPLE_IDS:
                    failed_ids.append(s.session_id)

        tiers = tuple(
            TierRow(
                t,
                self.tier_calls[t],
                self.tier_cost[t],
                reached[t],
                highest[t],
                highest_cost[t],
                tier_judged[t],
                tier_solved[t],
            )
            for t in sorted(rank, key=rank.__getitem__)
            if t in self.seen_order
        )
        total_up = sum(escalations.values())
        causes = [
            CauseRow(
                c,
                escalations[c],
                escalations[c] / total_up if total_up else 0.0,
                cause_sessions[c],
                cause_judged[c],
                cause_solved[c],
            )
            for c in sorted(escalations, key=lambda c: (-escalations[c], c))
        ]
        if cause_sessions[NO_ESCALATION]:
            c = NO_ESCALATION
            causes.append(CauseRow(c, 0, 0.0, cause_sessions[c], cause_judged[c], cause_solved[c]))
        days = tuple(
            DayCost(day, tier, self.day_calls[day, tier], self.day_cost[day, tier])
            for day, tier in sorted(self.day_calls, key=lambda k: (k[0], rank[k[1]]))
        )
        return RoutingReport(
            files=self.files,
            lines=self.lines,
            bad_lines=self.bad,
            duplicate_sessions=self.duplicates,
            sessions=len(self.sessions),
            calls=self.calls,
            cost_usd=self.cost,
            first_time=self.first,
            last_time=self.last,
            tiers=tiers,
            escalations=total_up,
            step_downs=step_downs,
            causes=tuple(causes),
            switches=tuple((k, switch_hist[k]) for k in ("0", "1", "2", "3", "4+")),
            with_outcome=with_outcome,
            without_outcome=len(self.sessions) - with_outcome,
            no_verdict=no_verdict,
            solved=solved,
            judged=judged,
            escalated_failed=failed_up,
            escalated_failed_ids=tuple(failed_ids),
            outcome_lines=self.outcome_lines,
            unknown_session_outcomes=self.unknown,
            orphan_outcomes=orphans,
            days=days,
            shadow=_shadow_rows(self.shadow.samples, rank),
            shadow_worst=_worst(self.shadow.samples),
            shadow_lines=self.shadow.lines,
            shadow_unjoined=self.shadow.unjoined(self.sessions),
        )


def _shadow_rows(samples: Sequence[LoggedShadow], rank: dict[str, int]) -> tuple[ShadowRow, ...]:
    """Per (served tier, cause): see the module docstring."""
    groups: dict[tuple[str, str], list[LoggedShadow]] = {}
    for s in samples:
        key = (s.shadow.served_tier, s.shadow.cause or "(not recorded)")
        groups.setdefault(key, []).append(s)
    rows = []
    for (tier, cause), group in groups.items():
        scores = [s.shadow.agreement for s in group if s.shadow.agreement is not None]
        rows.append(
            ShadowRow(
                tier,
                cause,
                len(group),
                len(group) - len(scores),
                sum(scores) / len(scores) if scores else None,
                sum(a < LOW_AGREEMENT for a in scores) / len(scores) if scores else None,
                sum(s.shadow.cost_usd for s in group),
            )
        )
    last = len(rank) + 1
    rows.sort(key=lambda r: (rank.get(r.tier, last), r.tier, -r.shadowed, r.cause))
    return tuple(rows)


def _worst(samples: Sequence[LoggedShadow]) -> tuple[ShadowStep, ...]:
    judged = [s for s in samples if s.shadow.agreement is not None]
    judged.sort(key=lambda s: s.shadow.agreement or 0.0)  # stable: a tie keeps reading order
    return tuple(
        ShadowStep(
            s.session_id,
            s.step,
            s.shadow.served_tier,
            s.shadow.reference_tier,
            s.shadow.agreement or 0.0,
            s.shadow.reason,
        )
        for s in judged[:WORST_STEPS]
    )


def read_routing_logs(
    files: Sequence[str],
    *,
    skip_bad: bool = False,
    progress: Callable[[int], None] | None = None,
) -> RoutingReport:
    """The report over ``files`` (names as :func:`expand_inputs` gives them).

    Raises :class:`ConfigurationError` for an unreadable file, a bad line (unless
    ``skip_bad``: then counted in ``bad_lines``) or a line of a newer schema.
    """
    builder = _Builder(tuple("<stdin>" if f == "-" else f for f in files))

    def bad() -> None:
        builder.bad += 1

    for line in iter_lines(files, skip_bad=skip_bad, progress=progress, on_bad=bad):
        builder.add(line)
    return builder.finish()
