"""usage_from_response against real SDK objects and recorded dict shapes, hand-computed figures."""

from __future__ import annotations

from typing import Any

import anthropic.types
import openai.types.chat
import openai.types.responses
import pytest

from agentroute._types import Usage
from agentroute.providers.usage import usage_from_response


def _chat(usage: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-4o-2024-08-06",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "hi"},
            }
        ],
        "usage": usage,
    }


def _message(usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [{"type": "text", "text": "hi"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": usage,
    }


OPENAI_CHAT_USAGE = {
    "prompt_tokens": 2006,
    "completion_tokens": 300,
    "total_tokens": 2306,
    "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 128, "audio_tokens": 0},
}
# 2006 prompt tokens already include the 1920 cached ones; 300 output include 128 reasoning.
OPENAI_CHAT_EXPECTED = Usage(
    input_tokens=2006, output_tokens=300, cache_read_tokens=1920, reasoning_tokens=128
)

# OpenRouter's documented usage object (docs "Usage Accounting"): cache_write_tokens sits in
# prompt_tokens_details next to cached_tokens.
OPENROUTER_USAGE = {
    "completion_tokens": 2,
    "completion_tokens_details": {"reasoning_tokens": 0},
    "cost": 0.95,
    "cost_details": {"upstream_inference_cost": 19},
    "prompt_tokens": 194,
    "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 100, "audio_tokens": 0},
    "total_tokens": 196,
}
OPENROUTER_EXPECTED = Usage(input_tokens=194, output_tokens=2, cache_write_tokens=100)

# DeepSeek: prompt_tokens = hit + miss = 1200 + 300; no prompt_tokens_details.
DEEPSEEK_USAGE = {
    "prompt_tokens": 1500,
    "completion_tokens": 80,
    "total_tokens": 1580,
    "prompt_cache_hit_tokens": 1200,
    "prompt_cache_miss_tokens": 300,
    "completion_tokens_details": {"reasoning_tokens": 50},
}
DEEPSEEK_EXPECTED = Usage(
    input_tokens=1500, output_tokens=80, cache_read_tokens=1200, reasoning_tokens=50
)

RESPONSES_USAGE = {
    "input_tokens": 125,
    "input_tokens_details": {"cached_tokens": 98, "cache_write_tokens": 0},
    "output_tokens": 48,
    "output_tokens_details": {"reasoning_tokens": 16},
    "total_tokens": 173,
}
RESPONSES_EXPECTED = Usage(
    input_tokens=125, output_tokens=48, cache_read_tokens=98, reasoning_tokens=16
)

# Anthropic: input_tokens (50) excludes cache reads (1000) and writes (2000) → 3050 in all.
ANTHROPIC_USAGE = {
    "input_tokens": 50,
    "cache_read_input_tokens": 1000,
    "cache_creation_input_tokens": 2000,
    "output_tokens": 400,
}
ANTHROPIC_EXPECTED = Usage(
    input_tokens=3050, output_tokens=400, cache_read_tokens=1000, cache_write_tokens=2000
)

# 1h/5m split of a 2000-token write: 1500 with a one-hour TTL, 500 with five minutes.
ANTHROPIC_TTL_USAGE = {
    **ANTHROPIC_USAGE,
    "cache_creation": {"ephemeral_5m_input_tokens": 500, "ephemeral_1h_input_tokens": 1500},
}
ANTHROPIC_TTL_EXPECTED = Usage(
    input_tokens=3050,
    output_tokens=400,
    cache_read_tokens=1000,
    cache_write_tokens=2000,
    cache_write_1h_tokens=1500,
)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        pytest.param(_chat(OPENAI_CHAT_USAGE), OPENAI_CHAT_EXPECTED, id="openai-chat-dict"),
        pytest.param(
            openai.types.chat.ChatCompletion.model_validate(_chat(OPENAI_CHAT_USAGE)),
            OPENAI_CHAT_EXPECTED,
            id="openai-chat-object",
        ),
        pytest.param(
            _chat(
                {
                    "prompt_tokens": 10,
                    "completion_tokens": 5,
                    "total_tokens": 15,
                    "prompt_tokens_details": None,
                    "completion_tokens_details": None,
                }
            ),
            Usage(input_tokens=10, output_tokens=5),
            id="openai-details-null",
        ),
        pytest.param(
            openai.types.chat.ChatCompletion.model_validate(
                _chat({"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15})
            ),
            Usage(input_tokens=10, output_tokens=5),
            id="openai-details-absent-object",
        ),
        pytest.param(
            {"usage": {"prompt_tokens": 7, "completion_tokens": None}},
            Usage(input_tokens=7),
            id="null-counts-are-zero",
        ),
        pytest.param(_chat(OPENROUTER_USAGE), OPENROUTER_EXPECTED, id="openrouter-dict"),
        pytest.param(
            openai.types.chat.ChatCompletion.model_validate(_chat(OPENROUTER_USAGE)),
            OPENROUTER_EXPECTED,
            id="openrouter-object",
        ),
        pytest.param(_chat(DEEPSEEK_USAGE), DEEPSEEK_EXPECTED, id="deepseek-dict"),
        pytest.param(
            # DeepSeek's extra fields are pydantic extras on the openai SDK's CompletionUsage.
            openai.types.chat.ChatCompletion.model_validate(_chat(DEEPSEEK_USAGE)),
            DEEPSEEK_EXPECTED,
            id="deepseek-object",
        ),
        pytest.param({"usage": RESPONSES_USAGE}, RESPONSES_EXPECTED, id="responses-dict"),
        pytest.param(
            openai.types.responses.ResponseUsage.model_validate(RESPONSES_USAGE),
            RESPONSES_EXPECTED,
            id="responses-usage-object-itself",
        ),
        pytest.param(_message(ANTHROPIC_USAGE), ANTHROPIC_EXPECTED, id="anthropic-dict"),
        pytest.param(
            anthropic.types.Message.model_validate(_message(ANTHROPIC_USAGE)),
            ANTHROPIC_EXPECTED,
            id="anthropic-object",
        ),
        pytest.param(
            _message(ANTHROPIC_TTL_USAGE), ANTHROPIC_TTL_EXPECTED, id="anthropic-ttl-dict"
        ),
        pytest.param(
            anthropic.types.Message.model_validate(_message(ANTHROPIC_TTL_USAGE)),
            ANTHROPIC_TTL_EXPECTED,
            id="anthropic-ttl-object",
        ),
        pytest.param(
            _message(
                {
                    "input_tokens": 12,
                    "output_tokens": 7,
                    "cache_read_input_tokens": None,
                    "cache_creation_input_tokens": None,
                }
            ),
            Usage(input_tokens=12, output_tokens=7),
            id="anthropic-cache-null",
        ),
        pytest.param(
            # Only the split is given: the write is 5m + 1h = 300 + 200.
            {
                "usage": {
                    "input_tokens": 4,
                    "output_tokens": 1,
                    "cache_creation": {
                        "ephemeral_5m_input_tokens": 300,
                        "ephemeral_1h_input_tokens": 200,
                    },
                }
            },
            Usage(
                input_tokens=504, output_tokens=1, cache_write_tokens=500, cache_write_1h_tokens=200
            ),
            id="anthropic-split-only",
        ),
        pytest.param(
            anthropic.types.Message.model_validate(
                _message(
                    {
                        "input_tokens": 20,
                        "output_tokens": 900,
                        "output_tokens_details": {"thinking_tokens": 700},
                    }
                )
            ),
            Usage(input_tokens=20, output_tokens=900, reasoning_tokens=700),
            id="anthropic-thinking-tokens",
        ),
        pytest.param(
            # A streaming message_delta event: usage at the top level, output only.
            {"type": "message_delta", "usage": {"output_tokens": 15}},
            Usage(output_tokens=15),
            id="anthropic-message-delta",
        ),
    ],
)
def test_usage_shapes(response: object, expected: Usage) -> None:
    assert usage_from_response(response) == expected


@pytest.mark.parametrize(
    "response",
    [
        None,
        {},
        {"usage": None},
        _chat(None),
        openai.types.chat.ChatCompletion.model_validate(_chat(None)),
        {"usage": {}},
        object(),
    ],
    ids=[
        "none",
        "empty-dict",
        "usage-null",
        "chat-no-usage",
        "chat-object-no-usage",
        "empty",
        "obj",
    ],
)
def test_no_usage(response: object) -> None:
    assert usage_from_response(response) is None


@pytest.mark.parametrize(
    ("usage", "message"),
    [
        (
            {"prompt_tokens": "abc", "completion_tokens": 1},
            "usage.prompt_tokens is not an integer: 'abc'",
        ),
        (
            {
                "prompt_tokens": 3,
                "completion_tokens": 1,
                "prompt_tokens_details": {"cached_tokens": 1.5},
            },
            "usage.prompt_tokens_details.cached_tokens is not an integer: 1.5",
        ),
        ({"input_tokens": 3, "output_tokens": True}, "usage.output_tokens is not an integer: True"),
        (
            {"input_tokens": 3, "output_tokens": 1, "cache_read_input_tokens": "10"},
            "usage.cache_read_input_tokens is not an integer: '10'",
        ),
        ({"input_tokens": -1, "output_tokens": 1}, "usage.input_tokens is negative: -1"),
        ("garbage", "usage is not an object: 'garbage'"),
    ],
)
def test_garbage_names_the_field(usage: object, message: str) -> None:
    with pytest.raises(ValueError, match="usage") as info:
        usage_from_response({"usage": usage})
    assert str(info.value) == message


def test_integral_float_is_accepted() -> None:
    assert usage_from_response({"usage": {"prompt_tokens": 10.0, "completion_tokens": 2}}) == Usage(
        input_tokens=10, output_tokens=2
    )


def test_uncached_input_after_normalization() -> None:
    # The point of normalizing: full-price input is what neither hit nor filled the cache.
    anthropic_usage = usage_from_response(_message(ANTHROPIC_USAGE))
    deepseek_usage = usage_from_response(_chat(DEEPSEEK_USAGE))
    openrouter_usage = usage_from_response(_chat(OPENROUTER_USAGE))
    assert anthropic_usage is not None and anthropic_usage.uncached_input_tokens == 50
    assert deepseek_usage is not None and deepseek_usage.uncached_input_tokens == 300
    assert openrouter_usage is not None and openrouter_usage.uncached_input_tokens == 94
