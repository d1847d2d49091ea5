"""``agentroute._json_text``: bounded parsing, lenient text and strict wire JSON of any value.

The router reads and sends data it did not write (tool results, model arguments); these are
the primitives that make every value readable and every unsendable value nameable (issue 14,
item 7 and 7a).
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentroute._json_text import (
    MAX_PARSE_DEPTH,
    NotJSON,
    encode,
    not_json,
    parse,
    safe_repr,
    safe_str,
    text_of,
    wire_bytes,
)
from tests.malformed import CYCLE, CYCLE_DICT, HUGE, LONE, nested_dict, nested_list


def test_parse_reads_json_up_to_the_bound_and_no_deeper() -> None:
    at_bound = "[" * MAX_PARSE_DEPTH + "]" * MAX_PARSE_DEPTH
    assert parse(at_bound) == nested_list(MAX_PARSE_DEPTH - 1)
    for too_deep in ("[" * (MAX_PARSE_DEPTH + 1) + "]" * (MAX_PARSE_DEPTH + 1), "[" * 100_000):
        with pytest.raises(ValueError, match="nested more than"):
            parse(too_deep)
    # brackets inside strings are not nesting
    assert parse(json.dumps({"text": "[" * 5000})) == {"text": "[" * 5000}
    with pytest.raises(ValueError, match="integer string conversion"):
        parse("1" * 5000)  # an integer Python will not read
    with pytest.raises(ValueError, match="Expecting property name"):
        parse("{not json")


def test_text_of_reads_any_value_and_never_raises() -> None:
    assert text_of(nested_list(5000)) == "[" * 5001 + "]" * 5001
    assert text_of(CYCLE) == '["[...]"]'
    assert text_of(CYCLE_DICT) == '{"a": "[...]"}'
    assert text_of({"b": b"x\xff", "s": {2, 1}}) == '{"b": "x\\ufffd", "s": [1, 2]}'
    assert text_of(HUGE) == f'"{HUGE:#x}"'
    assert text_of({(1, 2): 3, 1: 2}, sort_keys=True) == '{"(1, 2)": 3, "1": 2}'
    assert text_of({1: "a", "b": 2}, sort_keys=True) == '{"1": "a", "b": 2}'
    assert text_of(math.nan) == "NaN"
    assert json.loads(text_of({"deep": nested_dict(50), "h": HUGE, "c": CYCLE}))  # JSON again


def test_encode_names_what_json_cannot_carry_at_any_depth() -> None:
    assert encode(nested_dict(3000)) == '{"a":' * 3000 + "{}" + "}" * 3000
    cases: list[tuple[Any, str, str]] = [
        ({"a": [1, b"x"]}, ".a[1]", "a value of type bytes"),
        ({"a": {1, 2}}, ".a", "a value of type set"),
        ({"x": math.nan}, ".x", "a NaN or infinity"),
        ([math.inf], "[0]", "a NaN or infinity"),
        ({"n": HUGE}, ".n", "an integer of more than 4300 digits"),
        ({"k": {(1,): 2}}, ".k[(1,)]", "a key of type tuple"),
        ({"c": CYCLE}, ".c[0]", "a value that contains itself"),
        ({"odd key": object()}, "['odd key']", "a value of type object"),
        ([nested_list(2000), b"x"], "[1]", "a value of type bytes"),
    ]
    for value, path, problem in cases:
        with pytest.raises(NotJSON) as caught:
            encode(value)
        assert (caught.value.path, caught.value.problem) == (path, problem)
        assert not_json(value) == (path, problem)
    shared = [1, 2]
    assert not_json({"a": shared, "b": [shared]}) is None  # the same list twice is no cycle


def test_wire_bytes_replaces_lone_surrogates_and_joins_pairs() -> None:
    assert wire_bytes("ok") == b"ok"
    assert wire_bytes(f"a{LONE}b\ud83d\ude00").decode() == "a\ufffdb\U0001f600"


def test_safe_repr_and_str_never_raise() -> None:
    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no")

        def __str__(self) -> str:
            raise RuntimeError("no")

    assert safe_repr(HUGE) == f"<int of {HUGE.bit_length()} bits>"
    assert safe_repr(nested_list(5000)) == "[[[[[[[...]]]]]]]"
    assert safe_repr(Broken()).startswith("<")
    assert safe_str(Broken()) == "<Broken object>"
    assert safe_str(HUGE) == f"{HUGE:#x}"
    assert len(safe_repr("x" * 10_000)) < 100


_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
)
_TREE = st.recursive(
    _LEAF,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.one_of(st.text(), st.integers()), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_TREE, st.booleans(), st.booleans())
def test_text_and_encode_are_json_dumps_where_it_works(
    value: Any, sort_keys: bool, ensure_ascii: bool
) -> None:
    """The fallback encoder writes what ``json.dumps`` writes, so a value's text does not
    depend on which of the two wrote it (nor on how deep the stack was)."""
    from agentroute._json_text import _iterative

    try:
        expected = json.dumps(value, sort_keys=sort_keys, ensure_ascii=ensure_ascii)
    except TypeError:  # keys of mixed types do not sort
        expected = None
    fallback = _iterative(
        value,
        lenient=True,
        sort_keys=sort_keys,
        separators=(", ", ": "),
        ensure_ascii=ensure_ascii,
        allow_nan=True,
    )
    text = text_of(value, sort_keys=sort_keys, ensure_ascii=ensure_ascii)
    if expected is not None:
        assert fallback == text == expected
    strict = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    assert encode(value) == strict
