"""Token counting: the estimate's behaviour, the exact counter, message text extraction."""

from __future__ import annotations

import pytest

from agentroute.policy.tokens import (
    CharsPerTokenCounter,
    EstimateCounter,
    ExactCounter,
    count_tools,
    make_counter,
    message_text,
)


@pytest.mark.parametrize(
    "text",
    [
        "The quick brown fox jumps over the lazy dog. " * 20,
        "def f(x):\n    return {'a': [1, 2, 3], 'b': x ** 2}\n" * 20,
        '{"flight": "HAT101", "seats": 4, "price": 129.5, "date": "2024-05-20"}' * 10,
    ],
    ids=["prose", "code", "json"],
)
def test_estimate_is_within_ten_percent_of_the_exact_count(text: str) -> None:
    exact = ExactCounter().count(text)
    assert abs(EstimateCounter().count(text) - exact) / exact < 0.10


def test_chars_per_token_baseline_misses_code_by_far() -> None:
    code = "def f(x):\n    return {'a': [1, 2, 3], 'b': x ** 2}\n" * 20
    exact = ExactCounter().count(code)
    assert CharsPerTokenCounter().count(code) < 0.6 * exact


def test_edge_cases() -> None:
    est = EstimateCounter()
    assert est.count("") == 0
    assert est.count("a") == 1
    assert make_counter("estimate").count("hello world") == est.count("hello world")
    assert isinstance(make_counter("auto"), ExactCounter)  # installed with the dev extra


def test_message_text_reads_both_shapes() -> None:
    assert message_text({"role": "user", "content": "hi"}) == "hi"
    openai_call = {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "1", "function": {"name": "get", "arguments": '{"a":1}'}}],
    }
    assert message_text(openai_call) == 'get{"a":1}'
    anthropic = {
        "role": "user",
        "content": [
            {"type": "text", "text": "see "},
            {
                "type": "tool_result",
                "tool_use_id": "t",
                "content": [{"type": "text", "text": "ok"}],
            },
            {"type": "tool_use", "id": "u", "name": "f", "input": {"x": 1}},
        ],
    }
    assert message_text(anthropic) == 'see okf{"x": 1}'
    assert count_tools(EstimateCounter(), None) == 0
    assert count_tools(EstimateCounter(), [{"type": "function", "function": {"name": "f"}}]) > 0
