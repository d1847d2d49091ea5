"""Reading outcome tables: good files load, every bad one names its line and column."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentroute import RouterConfig
from agentroute.bench.outcomes import (
    Outcome,
    OutcomeError,
    OutcomeTable,
    load_outcomes,
    write_outcomes,
)
from agentroute.bench.synthetic import (
    SyntheticSpec,
    costs_per_call,
    generate,
    model_strengths,
)
from agentroute.errors import ConfigurationError
from tests.helpers import config_dict

HEADER = "task_id,model,resolved,cost_usd,calls\n"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_loads_with_lines_and_loose_spellings(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "runs.csv",
        "model, task_id ,resolved,cost_usd,calls,notes\n"
        "small,t1,TRUE,0.25,3,first\n"
        "\n"
        "big,t1, no ,1e-1,4.0,\n"
        "small,t2,1,0,1,x\n",
    )
    table = load_outcomes(path)
    assert table.rows == (
        Outcome("t1", "small", True, 0.25, 3, 2),
        Outcome("t1", "big", False, 0.1, 4, 4),
        Outcome("t2", "small", True, 0.0, 1, 5),
    )
    assert table.tasks == ("t1", "t2")
    assert table.models == ("small", "big")
    assert table.source == str(path)


def test_csv_with_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeff".encode() + (HEADER + "t,m,yes,1,1\n").encode())
    assert load_outcomes(path).rows == (Outcome("t", "m", True, 1.0, 1, 2),)


def test_jsonl_loads(tmp_path: Path) -> None:
    lines = [
        {"task_id": 7, "model": "m", "resolved": True, "cost_usd": 1, "calls": 2},
        {"task_id": "8", "model": "m", "resolved": 0, "cost_usd": 0.5, "calls": 3, "x": [1]},
    ]
    path = write(tmp_path, "runs.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n\n")
    table = load_outcomes(path)
    assert table.rows == (Outcome("7", "m", True, 1.0, 2, 1), Outcome("8", "m", False, 0.5, 3, 2))


@pytest.mark.parametrize("name", ["out.csv", "out.jsonl"])
def test_write_then_load_round_trips(tmp_path: Path, name: str) -> None:
    config = RouterConfig.from_mapping(config_dict())
    table = generate(config, SyntheticSpec(tasks=15, seed=1))
    write_outcomes(table, tmp_path / name)
    again = load_outcomes(tmp_path / name)
    strip = [(r.task_id, r.model, r.resolved, r.cost_usd, r.calls) for r in table.rows]
    assert [(r.task_id, r.model, r.resolved, r.cost_usd, r.calls) for r in again.rows] == strip


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            "a.csv",
            "task_id,model,resolved,calls\nt,m,true,1\n",
            "a.csv:1: column 'cost_usd': missing from the header",
        ),
        (
            "a.csv",
            HEADER + "t,m,true,0.1,1\nt2,m,true,abc,1\n",
            "a.csv:3: column 'cost_usd': not a number: 'abc'",
        ),
        ("a.csv", HEADER + "t,m,maybe,0.1,1\n", "a.csv:2: column 'resolved': expected true/false"),
        ("a.csv", HEADER + "t,m,true,-1,1\n", "a.csv:2: column 'cost_usd': must be >= 0"),
        ("a.csv", HEADER + "t,m,true,nan,1\n", "a.csv:2: column 'cost_usd': not a number"),
        ("a.csv", HEADER + "t,m,true,1,0\n", "a.csv:2: column 'calls': a run makes at least 1"),
        ("a.csv", HEADER + "t,m,true,1,2.5\n", "a.csv:2: column 'calls': expected a whole number"),
        ("a.csv", HEADER + "t,,true,1,2\n", "a.csv:2: column 'model': empty"),
        ("a.csv", HEADER + "t,m,true\n", "a.csv:2: column 'cost_usd': missing"),
        ("a.csv", HEADER + "t,m,true,1,2,3\n", "a.csv:2: more fields than the header's 5"),
        (
            "a.csv",
            HEADER + "t,m,true,1,2\nu,m,true,1,2\nt,m,false,1,2\n",
            "a.csv:4: column 'task_id': task 't' on model 'm' again (first at line 2)",
        ),
        ("a.csv", HEADER, "a.csv: no rows"),
        ("a.csv", "", "a.csv:1: no header line"),
        ("a.jsonl", '{"task_id": "t"}\n', "a.jsonl:1: column 'model': missing"),
        (
            "a.jsonl",
            '\n{"task_id": "t", "model": "m", "resolved": "ok", "cost_usd": 1, "calls": 1}\n',
            "a.jsonl:2: column 'resolved': expected true/false, yes/no or 1/0, got 'ok'",
        ),
        (
            "a.jsonl",
            '{"task_id": "t", "model": "m", "resolved": true, "cost_usd": true, "calls": 1}\n',
            "a.jsonl:1: column 'cost_usd': not a number: True",
        ),
        (
            "a.jsonl",
            '{"task_id": "t", "model": 3, "resolved": true, "cost_usd": 1, "calls": 1}\n',
            "a.jsonl:1: column 'model': expected a string, got 3",
        ),
        ("a.jsonl", "[1, 2]\n", "a.jsonl:1: expected a JSON object"),
        ("a.jsonl", "{oops\n", "a.jsonl:1: not valid JSON"),
        ("a.txt", HEADER, "a.txt: unknown format '.txt': use .csv or .jsonl"),
    ],
)
def test_bad_tables_name_line_and_column(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(OutcomeError) as caught:
        load_outcomes(path)
    assert str(caught.value).startswith(str(tmp_path / expected))
    assert isinstance(caught.value, ConfigurationError)


def test_error_carries_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", HEADER + "t,m,true,0.1,1\nt2,m,true,x,1\n")
    with pytest.raises(OutcomeError) as caught:
        load_outcomes(path)
    assert (caught.value.line, caught.value.column) == (3, "cost_usd")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(OutcomeError, match="cannot read"):
        load_outcomes(tmp_path / "none.csv")


# The synthetic generator -----------------------------------------------------------------------


@pytest.fixture
def config() -> RouterConfig:
    return RouterConfig.from_mapping(config_dict())


def test_synthetic_is_deterministic_given_the_seed(config: RouterConfig) -> None:
    spec = SyntheticSpec(tasks=40, seed=7)
    assert generate(config, spec) == generate(config, spec)
    assert generate(config, spec) != generate(config, SyntheticSpec(tasks=40, seed=8))


def test_synthetic_shape_and_costs(config: RouterConfig) -> None:
    table = generate(config, SyntheticSpec(tasks=30, seed=0, max_calls=25))
    assert table.models == ("small", "mid", "big")  # the config's tier models, ladder order
    assert len(table.tasks) == 30 and len(table.rows) == 90
    assert table.tasks[0] == "t0000"
    per_call = costs_per_call(config, SyntheticSpec())
    # small: 4000 input tokens at $1/M + 250 output tokens at $2/M
    assert per_call["small"] == pytest.approx(0.0045)
    for row in table.rows:
        assert 1 <= row.calls <= 25
        assert row.cost_usd == pytest.approx(row.calls * per_call[row.model])


def test_synthetic_parameters_steer_the_table(config: RouterConfig) -> None:
    table = generate(config, SyntheticSpec(tasks=600, seed=2))
    solved = {m: sum(r.resolved for r in table.rows if r.model == m) for m in table.models}
    assert solved["small"] < solved["mid"] < solved["big"]  # strength spread by ladder order

    def mean(rows: list[Outcome]) -> float:
        return sum(r.calls for r in rows) / len(rows)

    ok = [r for r in table.rows if r.resolved]
    failed = [r for r in table.rows if not r.resolved]
    assert mean(failed) > 1.5 * mean(ok)  # fail_factor 2: failed runs flail longer

    easy = generate(config, SyntheticSpec(tasks=300, seed=2, mix=(("easy", 1.0, 0.1),)))
    hard = generate(config, SyntheticSpec(tasks=300, seed=2, mix=(("hard", 1.0, 0.9),)))
    assert sum(r.resolved for r in easy.rows) > 2 * sum(r.resolved for r in hard.rows)

    strong = SyntheticSpec(tasks=10, strength=(("small", 1.0),), cost_per_call=(("big", 2.0),))
    assert model_strengths(config, strong)["small"] == 1.0
    assert model_strengths(config, SyntheticSpec())["big"] == pytest.approx(0.85)
    assert all(
        r.cost_usd == pytest.approx(2.0 * r.calls)
        for r in generate(config, strong).rows
        if r.model == "big"
    )


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        (SyntheticSpec(tasks=0), "tasks: at least 1"),
        (SyntheticSpec(strength=(("nope", 0.5),)), "strength.nope: not a model"),
        (SyntheticSpec(mix=(("x", 0.0, 0.5),)), "mix:"),
    ],
)
def test_synthetic_spec_errors(config: RouterConfig, spec: SyntheticSpec, problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        generate(config, spec)


def test_tables_are_value_objects() -> None:
    row = Outcome("t", "m", True, 1.0, 1)
    table = OutcomeTable((row,))
    with pytest.raises(AttributeError):
        table.rows = ()  # type: ignore[misc]
    assert table.index() == {("t", "m"): row}
