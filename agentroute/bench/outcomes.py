"""Outcome tables: one recorded agent run per (task, model), read and checked row by row.

A table has the columns ``task_id, model, resolved, cost_usd, calls`` (others are ignored):
whether that model's run solved the task, what the whole run cost, and how many model calls
it made. Two formats, chosen by the file's extension:

* ``.csv``: a header line naming the columns, then one row per line;
* ``.jsonl`` (or ``.ndjson``): one JSON object per line; blank lines are skipped.

Every problem is an :class:`OutcomeError` naming the file, the line and the column
(``runs.csv:7: column 'cost_usd': not a number: 'abc'``): a benchmark that silently skipped
bad rows would report numbers over a table nobody wrote. Accepted values: ``resolved`` is
``true/false``, ``yes/no``, ``1/0`` (any case; JSON booleans and 0/1 too); ``cost_usd`` a
finite number ≥ 0; ``calls`` a whole number ≥ 1. A (task, model) pair may appear once.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from agentroute._frozen import value_object
from agentroute.errors import ConfigurationError

__all__ = [
    "COLUMNS",
    "Outcome",
    "OutcomeError",
    "OutcomeTable",
    "load_outcomes",
    "write_outcomes",
]

COLUMNS = ("task_id", "model", "resolved", "cost_usd", "calls")

_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})
_JSONL = (".jsonl", ".ndjson")

_Fail = Callable[[str, str], "OutcomeError"]


class OutcomeError(ConfigurationError):
    """An outcome table (or its fit to the config) is wrong; names the line and column.

    ``line`` is 1-based (a CSV's header is line 1); ``None`` when the problem is not one row's.
    """

    def __init__(
        self, message: str, *, source: str, line: int | None = None, column: str | None = None
    ) -> None:
        where = source if line is None else f"{source}:{line}"
        what = f"column {column!r}: " if column is not None else ""
        super().__init__(f"{where}: {what}{message}")
        self.source = source
        self.line = line
        self.column = column


@value_object
class Outcome:
    """One model's recorded run on one task. ``line`` is where the row was read (0: made).

    ``censored``: the run was left before it ended (a routing log's session escalated away
    from the model), so ``resolved`` is false and ``calls``/``cost_usd`` are what it made
    before it was left; ``imputed``: the row was not observed but estimated from the model's
    complete runs (:mod:`agentroute.bench.log_table`). ``steps``: a routing log's per-step
    ``contributions`` (signal → weighted share) of the decisions that kept the run on its
    model, one tuple of ``(signal, share)`` per step, then the one that left it when the
    session went on (:mod:`agentroute.bench.logged_leave`); empty for a row without logged
    steps. None of the three is written to or read from a file: the CSV/JSONL formats stay
    five columns.
    """

    task_id: str
    model: str
    resolved: bool
    cost_usd: float
    calls: int
    line: int = 0
    censored: bool = False
    imputed: bool = False
    steps: tuple[tuple[tuple[str, float], ...], ...] = ()


@value_object
class OutcomeTable:
    """The rows of one table, in file order; ``tasks`` and ``models`` in order of first sight."""

    rows: tuple[Outcome, ...]
    source: str = "outcomes"

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.task_id for r in self.rows))

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.model for r in self.rows))

    def index(self) -> dict[tuple[str, str], Outcome]:
        """(task_id, model) → row."""
        return {(r.task_id, r.model): r for r in self.rows}

    def first_line(self, model: str) -> int:
        """The line of ``model``'s first row (0 when it has none)."""
        return next((r.line for r in self.rows if r.model == model), 0)


def load_outcomes(path: str | Path) -> OutcomeTable:
    """Read and check a CSV or JSONL outcome table (format by extension).

    Raises :class:`OutcomeError` on an unreadable file, an unknown extension, a missing column,
    a bad value, a duplicate (task, model) pair, or a table without rows.
    """
    p = Path(path)
    source = str(p)
    suffix = p.suffix.lower()
    if suffix != ".csv" and suffix not in _JSONL:
        raise OutcomeError(
            f"unknown format {suffix or '(no extension)'!r}: use .csv or .jsonl", source=source
        )
    try:
        text = p.read_text(encoding="utf-8-sig")  # a spreadsheet's CSV often starts with a BOM
    except OSError as exc:
        raise OutcomeError(f"cannot read: {exc.strerror}", source=source) from None
    raw = _csv_rows(text, source) if suffix == ".csv" else _jsonl_rows(text, source)
    return table_from_records(raw, source=source)


def table_from_records(
    records: Iterable[tuple[int, dict[str, Any]]], *, source: str = "outcomes"
) -> OutcomeTable:
    """Check ``(line, {column: value})`` records and build the table (see :func:`load_outcomes`)."""
    rows: list[Outcome] = []
    seen: dict[tuple[str, str], int] = {}
    for line, record in records:
        row = _outcome(record, line, source)
        key = (row.task_id, row.model)
        if key in seen:
            raise OutcomeError(
                f"task {row.task_id!r} on model {row.model!r} again (first at line {seen[key]})",
                source=source,
                line=line,
                column="task_id",
            )
        seen[key] = line
        rows.append(row)
    if not rows:
        raise OutcomeError("no rows", source=source)
    return OutcomeTable(tuple(rows), source)


def write_outcomes(table: OutcomeTable, path: str | Path) -> None:
    """Write ``table`` as CSV or JSONL (by extension); :func:`load_outcomes` reads it back."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix != ".csv" and suffix not in _JSONL:
        raise OutcomeError(f"unknown format {suffix!r}: use .csv or .jsonl", source=str(p))
    dicts = [
        {"task_id": r.task_id, "model": r.model, "resolved": r.resolved}
        | {"cost_usd": r.cost_usd, "calls": r.calls}
        for r in table.rows
    ]
    if suffix == ".csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for d in dicts:
            writer.writerow({**d, "resolved": "true" if d["resolved"] else "false"})
        text = buffer.getvalue()
    else:
        text = "".join(json.dumps(d) + "\n" for d in dicts)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")


# Reading --------------------------------------------------------------------------------------


def _csv_rows(text: str, source: str) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in reader.fieldnames or []]
    if not header:
        raise OutcomeError("no header line", source=source, line=1)
    reader.fieldnames = header
    for column in COLUMNS:
        if column not in header:
            raise OutcomeError(
                f"missing from the header (it has: {', '.join(header)})",
                source=source,
                line=1,
                column=column,
            )
    try:
        for record in reader:
            if None in record:
                raise OutcomeError(
                    f"more fields than the header's {len(header)}",
                    source=source,
                    line=reader.line_num,
                )
            if any(v not in (None, "") for v in record.values()):
                yield reader.line_num, record
    except csv.Error as exc:
        raise OutcomeError(f"not valid CSV: {exc}", source=source, line=reader.line_num) from None


def _jsonl_rows(text: str, source: str) -> Iterator[tuple[int, dict[str, Any]]]:
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except ValueError as exc:
            raise OutcomeError(f"not valid JSON: {exc}", source=source, line=line) from None
        if not isinstance(item, dict):
            raise OutcomeError("expected a JSON object", source=source, line=line)
        yield line, item


def _outcome(record: dict[str, Any], line: int, source: str) -> Outcome:
    def fail(column: str, message: str) -> OutcomeError:
        return OutcomeError(message, source=source, line=line, column=column)

    values: dict[str, Any] = {}
    for column in COLUMNS:
        value = record.get(column)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise fail(column, "missing" if value is None else "empty")
        values[column] = value.strip() if isinstance(value, str) else value
    task, model = values["task_id"], values["model"]
    if not isinstance(task, str | int) or isinstance(task, bool):
        raise fail("task_id", f"expected a string, got {_show(task)}")
    if not isinstance(model, str):
        raise fail("model", f"expected a string, got {_show(model)}")
    return Outcome(
        task_id=str(task),
        model=model,
        resolved=_resolved(values["resolved"], fail),
        cost_usd=_cost(values["cost_usd"], fail),
        calls=_calls(values["calls"], fail),
        line=line,
    )


def _resolved(value: Any, fail: _Fail) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
    raise fail("resolved", f"expected true/false, yes/no or 1/0, got {_show(value)}")


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _cost(value: Any, fail: _Fail) -> float:
    number = _number(value)
    if number is None or not math.isfinite(number):
        raise fail("cost_usd", f"not a number: {_show(value)}")
    if number < 0:
        raise fail("cost_usd", f"must be >= 0, got {_show(value)}")
    return number


def _calls(value: Any, fail: _Fail) -> int:
    number = _number(value)
    if number is None or not math.isfinite(number) or number != int(number):
        raise fail("calls", f"expected a whole number, got {_show(value)}")
    if number < 1:
        raise fail("calls", f"a run makes at least 1 call, got {_show(value)}")
    return int(number)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
