"""The scan's fast paths give the answers of the plain ones.

* The token estimate counts an ASCII text over its bytes: the same four class counts as over
  the string, so the same estimate, for any text.
* Repeated tool calls compare arguments by their text first and by canonical JSON only when
  the text differs and the names agree: the same repeats as comparing canonical forms always,
  and no argument of a tool whose name is new is ever parsed.
"""

from __future__ import annotations

import json
import random
import string
from typing import Any

import pytest

from agentroute.policy import signals
from agentroute.policy.signals import SignalExtractor, ToolCall
from agentroute.policy.tokens import WEIGHTS, EstimateCounter


def _reference(text: str) -> int:
    """The estimate over the string's characters (the path every non-ASCII text takes)."""
    n = len(text)
    if n == 0:
        return 0
    letters = sum(c in string.ascii_letters for c in text)
    digits = sum(c in string.digits for c in text)
    spaces = text.count(" ") + text.count("\n")
    other = n - letters - digits - spaces
    w_letter, w_digit, w_other, w_space = WEIGHTS
    return (
        int(letters * w_letter + digits * w_digit + other * w_other + spaces * w_space + 0.5) or 1
    )


@pytest.mark.parametrize("alphabet", [string.printable, string.printable + "éü€😀\u00a0"])
def test_the_estimate_is_the_same_over_bytes(alphabet: str) -> None:
    rng = random.Random(7)
    counter = EstimateCounter()
    for size in (0, 1, 2, 17, 300, 5000):
        for _ in range(20):
            text = "".join(rng.choice(alphabet) for _ in range(size))
            assert counter.count(text) == _reference(text), text


def _turn(*calls: tuple[str, Any]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": f"c{i}", "type": "function", "function": {"name": n, "arguments": a}}
            for i, (n, a) in enumerate(calls)
        ],
    }


def _repeats(*turns: dict[str, Any]) -> list[int]:
    return SignalExtractor(EstimateCounter()).scan(list(turns), None).turn_repeats


def test_the_same_arguments_written_differently_repeat() -> None:
    assert _repeats(
        _turn(("get", '{"a": 1, "b": [1, 2]}')),
        _turn(("get", '{"b":[1,2],"a":1}')),
        _turn(("get", '{"b":[1,2],"a":2}'), ("put", '{"a": 1, "b": [1, 2]}')),
    ) == [0, 1, 0]


def test_one_turn_counts_each_repeated_call_once() -> None:
    # the same call twice in a turn (written two ways) is one repeat, as one signature was
    assert _repeats(
        _turn(("get", "{}")),
        _turn(("get", ""), ("get", "{ }"), ("put", "x")),
    ) == [0, 1]


def test_text_and_value_arguments_compare_by_canonical_form() -> None:
    anthropic = {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": "t", "name": "get", "input": {"b": 2, "a": 1}}],
    }
    assert _repeats(_turn(("get", '{"a":1, "b":2}')), anthropic) == [0, 1]
    assert _repeats(_turn(("get", "not json")), _turn(("get", "not json"))) == [0, 1]


def test_a_new_tool_name_parses_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[str] = []
    real = signals._canonical

    def counting(arguments: Any) -> str:
        parsed.append(arguments)
        return real(arguments)

    monkeypatch.setattr(signals, "_canonical", counting)
    args = json.dumps({"id": "R1"})
    _repeats(_turn(("a", args)), _turn(("b", args)), _turn(("c", args), ("d", args)))
    assert parsed == []  # every name new: nothing to compare
    _repeats(_turn(("a", args)), _turn(("a", args)))
    assert parsed == []  # the same text: equal without parsing
    _repeats(_turn(("a", args)), _turn(("a", '{"id":"R1"}')))
    assert sorted(parsed) == sorted([args, '{"id":"R1"}'])


def test_a_canonical_form_is_computed_once() -> None:
    call = ToolCall("get", '{"b": 1, "a": 2}')
    assert call.canonical() == '{"a":2,"b":1}'
    assert call.canonical() is call.canonical()
    assert ToolCall("get", "").canonical() == "{}"
    assert ToolCall("get", {"b": 1}).text == '{"b":1}'
