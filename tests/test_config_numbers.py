"""Numbers in the config are finite and never booleans; escalation keywords are never blank.

A NaN weight or threshold sent every call to the top tier, ``price.input: inf`` made costs
NaN (so budgets never tripped), ``context_window: true`` was taken as 1 and an empty
escalation keyword escalated every step. The numeric fields are found by walking the
config's models, so a field added later is covered without touching this file.
"""

from __future__ import annotations

import copy
import math
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from agentroute import RouterConfig, load_config
from agentroute.errors import ConfigurationError

Path_ = tuple[str | int, ...]

FULL: dict[str, Any] = {
    "providers": {"p": {"kind": "openai", "base_url": "https://example.invalid/v1"}},
    "models": {
        "small": {
            "context_window": 16000,
            "max_output_tokens": 1000,
            "price": {
                "input": 1.0,
                "output": 2.0,
                "cache_read": 0.1,
                "cache_write": 1.25,
                "cache_write_1h": 2.0,
            },
            "deployments": [{"provider": "p", "name": "small-1", "weight": 2.0}],
        },
        "big": {
            "context_window": 64000,
            "price": {"input": 10.0, "output": 30.0},
            "deployments": [{"provider": "p", "name": "big-1"}],
        },
    },
    "tiers": {"simple": ["small"], "complex": ["big"]},
    "policy": {"thresholds": {"complex": 0.5}, "escalation_keywords": ["human agent"]},
    "budget": {"max_cost_usd": 1.0, "max_steps": 20},
    "state": {"kind": "memory"},
}


def _scalar_type(annotation: Any) -> type | None:
    """``int`` or ``float`` when ``annotation`` is one (optional, annotated), else None."""
    if get_origin(annotation) is Annotated:
        return _scalar_type(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        found = {_scalar_type(a) for a in get_args(annotation) if a is not type(None)}
        return found.pop() if len(found) == 1 else None
    return annotation if annotation in (int, float) else None


def numeric_fields(model: BaseModel, prefix: Path_ = ()) -> Iterator[tuple[Path_, type]]:
    """Every int or float field (and dict entry) of ``model`` and the models inside it."""
    for name, field in type(model).model_fields.items():
        path, value = (*prefix, name), getattr(model, name)
        kind = _scalar_type(field.annotation)
        if kind is not None:
            yield path, kind
        elif isinstance(value, BaseModel):
            yield from numeric_fields(value, path)
        elif isinstance(value, dict):
            args = get_args(field.annotation)
            entry_kind = _scalar_type(args[1]) if len(args) == 2 else None
            for key, item in value.items():
                if entry_kind is not None:
                    yield (*path, key), entry_kind
                elif isinstance(item, BaseModel):
                    yield from numeric_fields(item, (*path, key))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, BaseModel):
                    yield from numeric_fields(item, (*path, i))


FIELDS = sorted(numeric_fields(RouterConfig.from_mapping(FULL)), key=str)


def _with(path: Path_, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(FULL)
    node: Any = data
    for part in path[:-1]:
        node = node[part] if isinstance(part, int) else node.setdefault(part, {})
    node[path[-1]] = value
    return data


def _dotted(path: Path_) -> str:
    return ".".join(map(str, path))


def _problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigurationError) as info:
        RouterConfig.from_mapping(data)
    return str(info.value).splitlines()[1:]


def test_the_walk_finds_every_kind_of_numeric_field() -> None:
    found = {_dotted(p) for p, _ in FIELDS}
    for expected in (
        "models.small.context_window",
        "models.small.price.cache_write_1h",
        "models.small.deployments.0.weight",
        "policy.weights.step",
        "policy.thresholds.complex",
        "budget.cap_tier_at_fraction",
        "resilience.deadline_s",
        "sessions.max_implicit",
        "providers.p.cache_ttl_s",
    ):
        assert expected in found
    assert len(FIELDS) > 35


NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
BOOLEANS = {"true": True, "false": False}
CASES = [
    pytest.param(path, value, id=f"{_dotted(path)}={name}")
    for path, kind in FIELDS
    for name, value in (NON_FINITE | BOOLEANS if kind is float else BOOLEANS).items()
]


@pytest.mark.parametrize(("path", "value"), CASES)
def test_non_finite_and_boolean_numbers_are_refused_naming_the_field(
    path: Path_, value: Any
) -> None:
    problems = _problems(_with(path, value))
    assert [line.split(": ", 1)[0].strip() for line in problems] == [_dotted(path)]
    assert "true/false" in problems[0] if isinstance(value, bool) else "finite" in problems[0]


@settings(max_examples=200, deadline=None)
@given(field=st.sampled_from(FIELDS), value=st.floats())
def test_any_float_in_any_numeric_field_is_finite_or_refused_there(
    field: tuple[Path_, type], value: float
) -> None:
    """Property: whatever float lands in a numeric field, the config is refused (one
    ConfigurationError, nothing else), or holds only finite numbers; a non-finite one is
    always refused, with that field (and only that field) named."""
    path, _ = field
    try:
        config = RouterConfig.from_mapping(_with(path, value))
    except ConfigurationError as exc:
        if not math.isfinite(value):
            problems = str(exc).splitlines()[1:]
            assert [line.split(": ", 1)[0].strip() for line in problems] == [_dotted(path)]
        return
    assert math.isfinite(value)
    numbers = [_get(config, p) for p, _ in numeric_fields(config)]
    assert all(math.isfinite(n) for n in numbers if n is not None)


def _get(config: RouterConfig, path: Path_) -> Any:
    node: Any = config
    for part in path:
        node = node[part] if isinstance(node, (dict, list)) else getattr(node, part)
    return node


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("price: {input: .inf, output: 2}", "models.m.price.input"),
        ("price: {input: 1, output: .nan}", "models.m.price.output"),
        ("context_window: yes\n    price: {input: 1, output: 2}", "models.m.context_window"),
    ],
)
def test_yaml_special_numbers_are_refused(tmp_path: Path, text: str, path: str) -> None:
    body = (
        "providers: {p: {kind: openai}}\nmodels:\n  m:\n"
        + ("" if "context_window" in text else "    context_window: 1000\n")
        + f"    {text}\n    deployments: [{{provider: p, name: m-1}}]\ntiers: {{simple: [m]}}\n"
    )
    file = tmp_path / "router.yaml"
    file.write_text(body)
    with pytest.raises(ConfigurationError, match=rf"{path}: "):
        load_config(file)


@pytest.mark.parametrize(
    ("keywords", "bad"),
    [([""], 0), (["   "], 0), (["human agent", "\t\n"], 1)],
    ids=["empty", "spaces", "second-blank"],
)
def test_blank_escalation_keyword_is_refused(keywords: list[str], bad: int) -> None:
    problems = _problems(_with(("policy", "escalation_keywords"), keywords))
    assert len(problems) == 1
    assert problems[0].strip().startswith(f"policy.escalation_keywords.{bad}: ")
    assert "blank" in problems[0]


def test_numbers_written_as_text_are_still_read() -> None:
    """YAML 1.1 reads ``1e-6`` (no dot) as text: such a price still works, as before."""
    config = RouterConfig.from_mapping(_with(("models", "small", "price", "input"), "1e-6"))
    assert config.models["small"].price.input == 1e-6
