"""compare(): how far a reference answer agrees with the served one, and a reason that names
tools and argument keys only.

The answers on both sides are read from real SDK objects (the builders of
tests/test_shadow_answer.py), as the shadow runner reads them: the served tier's answer in one
wire format, the reference tier's in another. Hypothesis checks the properties: a score in
[0, 1], symmetric, 1.0 for equal answers, and a reason of at most 300 characters that never
holds an argument value or a text.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentroute._types import ModelResult
from agentroute.shadow.answer import Answer, answer_of
from agentroute.shadow.compare import MAX_REASON_CHARS, MAX_WORDS, Agreement, compare, lcs_length
from agentroute.telemetry.routing_log_schema import ShadowRecord
from tests.test_shadow_answer import SEARCH, SHAPES, UPDATE, Call

BASIC: Call = ("update_reservation", {"reservation_id": "ZFA04Y", "cabin": "basic_economy"})
GET: Call = ("get_reservation", {"reservation_id": "ZFA04Y"})


def answer(shape: str, text: str | None, *calls: Call) -> Answer:
    read = answer_of(ModelResult(raw=SHAPES[shape](text, *calls)))
    assert read is not None
    return read


def calls(*pairs: tuple[str, Any]) -> Answer:
    return Answer(
        None, tuple((n, json.dumps(a, sort_keys=True, separators=(",", ":"))) for n, a in pairs)
    )


# Real answers on both sides -----------------------------------------------------------------------

PAIRS = [
    ("openai_chat_completion", "anthropic_message"),
    ("openai_responses", "langchain_ai_message_anthropic_blocks"),
    ("pydantic_ai_model_response", "openai_chat_completion_dict"),
    ("langchain_ai_message", "openai_responses_dict"),
    ("assistant_dict", "anthropic_message_dict"),
]


@pytest.mark.parametrize(("served", "reference"), PAIRS)
def test_the_same_calls_in_two_wire_formats_agree(served: str, reference: str) -> None:
    # The reference asks in the other order, with text next to its calls.
    got = compare(
        answer(served, None, UPDATE, SEARCH), answer(reference, "Sure, let me.", SEARCH, UPDATE)
    )
    assert got == Agreement(1.0, "same tool calls (2); text ignored")


@pytest.mark.parametrize(("served", "reference"), PAIRS)
def test_the_weak_tiers_cabin_disagrees_by_half(served: str, reference: str) -> None:
    # The simulator's airline scenario: the small model asks for basic_economy.
    got = compare(answer(served, None, BASIC), answer(reference, None, UPDATE))
    assert got == Agreement(0.5, "same tools, different arguments: update_reservation (cabin)")
    assert "economy" not in got.reason and "ZFA04Y" not in got.reason


@pytest.mark.parametrize(("served", "reference"), PAIRS)
def test_tools_against_text(served: str, reference: str) -> None:
    tools, text = answer(served, None, UPDATE), answer(reference, "Your cabin is now economy.")
    assert compare(tools, text) == Agreement(
        0.0, "served called tools (update_reservation), reference answered in text"
    )
    assert compare(text, tools) == Agreement(
        0.0, "served answered in text, reference called tools (update_reservation)"
    )


@pytest.mark.parametrize(("served", "reference"), PAIRS)
def test_texts_in_two_wire_formats(served: str, reference: str) -> None:
    got = compare(
        answer(served, "Your flight  is BOOKED!"), answer(reference, "your flight is booked")
    )
    assert got == Agreement(1.0, "text similarity 1.00")


# Tool calls ---------------------------------------------------------------------------------------


def test_different_tools() -> None:
    got = compare(calls(("get_reservation", {})), calls(("search_flights", {})))
    assert got == Agreement(0.0, "different tools: get_reservation vs search_flights")


def test_one_of_two_matched() -> None:
    got = compare(calls(GET, UPDATE), calls(GET, SEARCH))
    assert got == Agreement(
        0.5, "1 of 2 tool calls matched; different tools: update_reservation vs search_flights"
    )


def test_a_missing_call_costs_like_a_wrong_one() -> None:
    assert compare(calls(GET, UPDATE), calls(GET)) == Agreement(
        0.5, "1 of 2 tool calls matched; only served called update_reservation"
    )
    assert compare(calls(GET), calls(GET, UPDATE)) == Agreement(
        0.5, "1 of 2 tool calls matched; only reference called update_reservation"
    )


def test_calls_are_a_multiset() -> None:
    assert compare(calls(GET, GET), calls(GET)).score == 0.5
    assert compare(calls(GET, GET), calls(GET, GET)) == Agreement(1.0, "same tool calls (2)")
    assert compare(calls(GET, UPDATE, GET), calls(UPDATE, GET, GET)).score == 1.0


def test_partial_and_exact_credit_add_up() -> None:
    # GET exact (1), update_reservation same name (0.5), search_flights unmatched (0): 1.5 / 3.
    got = compare(calls(GET, BASIC, SEARCH), calls(GET, UPDATE, ("cancel", {})))
    assert got.score == 0.5
    assert got.reason == (
        "1 of 3 tool calls matched; same tools, different arguments: update_reservation "
        "(cabin); different tools: search_flights vs cancel"
    )


def test_differing_keys_include_missing_ones() -> None:
    got = compare(calls(("f", {"a": 1, "b": 2})), calls(("f", {"a": 1, "c": 2, "d": [1]})))
    assert got.reason == "same tools, different arguments: f (b, c, d)"


def test_arguments_that_are_not_objects() -> None:
    got = compare(Answer(None, (("f", "SECRET-1"),)), Answer(None, (("f", '["SECRET-2"]'),)))
    assert got == Agreement(0.5, "same tools, different arguments: f (arguments)")


def test_text_beside_calls_is_ignored() -> None:
    served = Answer("Something else entirely", (("f", "{}"),))
    assert compare(served, Answer(None, (("f", "{}"),))) == Agreement(
        1.0, "same tool calls (1); text ignored"
    )


def test_an_empty_answer_against_calls() -> None:
    assert compare(Answer(None), calls(GET)) == Agreement(
        0.0, "served gave no answer, reference called tools (get_reservation)"
    )


# Text ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "y", "score"),
    [
        ("a b c d", "a b x d", 0.75),
        ("Hello,   World!", "hello world", 1.0),
        ("«Bonjour» — monde…", "bonjour monde", 1.0),
        ("one two", "three four", 0.0),
        ("", "", 1.0),
        (None, "", 1.0),
        ("words", None, 0.0),
        ("a b c", "c b a", 1 / 3),
    ],
)
def test_text_similarity(x: str | None, y: str | None, score: float) -> None:
    got = compare(Answer(x), Answer(y))
    assert got.score == pytest.approx(score)
    assert got.reason == f"text similarity {score:.2f}"


def test_a_degenerate_repetitive_text_is_compared_in_bounded_time() -> None:
    # difflib.SequenceMatcher (junk heuristic off) takes minutes on this pair; the
    # bit-parallel LCS takes milliseconds. The test completes: that is the assertion.
    got = compare(Answer("the " * MAX_WORDS), Answer("a the " * (MAX_WORDS // 2)))
    assert got.score == 0.5  # 1,000 common words of 4,000


def test_words_past_the_cap_are_ignored() -> None:
    same = "word " * MAX_WORDS
    assert compare(Answer(same + "tail one"), Answer(same + "other end")).score == 1.0


# Reasons ------------------------------------------------------------------------------------------


def test_names_are_cut_and_counted() -> None:
    long_names = [(f"{i}" + "n" * 100, {}) for i in range(7)]
    got = compare(calls(*long_names), Answer("text"))
    assert got.score == 0.0
    shown = ["0" + "n" * 63 + "…", "1" + "n" * 63 + "…", "2" + "n" * 63 + "…"]
    assert got.reason == (
        f"served called tools ({', '.join(shown)} … and 4 more), reference answered in text"
    )
    assert len(got.reason) <= MAX_REASON_CHARS


def test_control_characters_and_empty_names() -> None:
    got = compare(calls(("bad\nname", {})), calls(("", {})))
    assert got.reason == "different tools: bad?name vs ''"


def test_every_reason_fits_the_routing_log() -> None:
    many = [(f"tool_{i}_" + "x" * 70, {"k" * 80: i}) for i in range(10)]
    other = [(f"tool_{i}_" + "x" * 70, {"k" * 80: -i, "j": 1}) for i in range(10)]
    got = compare(Answer("t", (*calls(*many).tool_calls, ("a", "{}"))), calls(*other, ("b", {})))
    assert len(got.reason) == MAX_REASON_CHARS and got.reason.endswith("…")
    ShadowRecord(  # the schema takes it
        served_tier="cheap",
        served_model=None,
        cause=None,
        reference_tier="strong",
        reference_model=None,
        agreement=got.score,
        reason=got.reason,
        judge=False,
        cost_usd=0.0,
        error_type=None,
    )


# The LCS ------------------------------------------------------------------------------------------


def _lcs_table(a: list[str], b: list[str]) -> int:
    row = [0] * (len(b) + 1)
    for x in a:
        previous = 0
        for j, y in enumerate(b, 1):
            previous, row[j] = row[j], previous + 1 if x == y else max(row[j], row[j - 1])
    return row[-1]


_WORDS = st.lists(st.sampled_from(["a", "b", "c", "d", "the"]), max_size=40)


@settings(max_examples=300, deadline=None)
@given(a=_WORDS, b=_WORDS)
def test_lcs_is_the_dynamic_programming_answer_and_never_below_difflib(
    a: list[str], b: list[str]
) -> None:
    length = lcs_length(a, b)
    assert length == _lcs_table(a, b) == lcs_length(b, a)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    assert length >= sum(block.size for block in matcher.get_matching_blocks())


# Fuzz ---------------------------------------------------------------------------------------------

MARKER = "§VALUE§"
_NAMES = st.sampled_from(["get_reservation", "search_flights", "update_reservation", "f", ""])
_KEYS = st.text(alphabet="abcxyz_", max_size=6)
_MARKED = st.one_of(
    st.text(max_size=8).map(lambda t: f"{t}{MARKER}{t}"),
    st.integers(),
    st.lists(st.text(max_size=3).map(lambda t: MARKER + t), max_size=2),
)


def _arguments() -> st.SearchStrategy[str]:
    objects = st.dictionaries(_KEYS, _MARKED, max_size=3).map(
        lambda d: json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    )
    other = st.one_of(_MARKED.map(lambda v: json.dumps(v)), st.just(MARKER + " not json"))
    return st.one_of(objects, objects, other)


_ANSWERS = st.builds(
    Answer,
    st.one_of(st.none(), st.text(max_size=30).map(lambda t: f"{t} {MARKER} {t}"), st.just("")),
    st.lists(st.tuples(_NAMES, _arguments()), max_size=5).map(tuple),
)


@settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(a=_ANSWERS, b=_ANSWERS)
def test_fuzz_compare(a: Answer, b: Answer) -> None:
    got = compare(a, b)
    assert 0.0 <= got.score <= 1.0
    assert got.score == compare(b, a).score
    assert compare(a, a).score == 1.0
    assert compare(b, b).score == 1.0
    assert len(got.reason) <= MAX_REASON_CHARS
    assert MARKER not in got.reason
    assert "§" not in got.reason  # not even a piece of one
