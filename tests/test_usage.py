"""usage_from_response against real SDK objects and recorded dict shapes, hand-computed figures."""

from __future__ import annotations

import dataclasses
from typing import Any

import anthropic.types
import httpx2
import openai
import openai.types.chat
import openai.types.responses
import pydantic
import pytest

from agentroute._types import Usage
from agentroute.config import Price
from agentroute.pricing import cost_usd
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


# Framework objects (issue 13, defect 8). The frameworks are not dependencies, so these are
# stand-ins with the same structure as the real classes (checked against pydantic-ai 2.68's
# ``pydantic_ai.usage.RequestUsage`` / ``ModelResponse`` and langchain-core 1.8's ``AIMessage``):
# the reader goes by attribute names, never by type.


@dataclasses.dataclass
class PydanticAIRequestUsage:
    """pydantic-ai's ``RequestUsage``: ``input_tokens`` INCLUDES the cache reads and writes."""

    input_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    cache_read_tokens: int = 0
    output_tokens: int = 0
    unmeasured_requests: int = 0
    output_reasoning_tokens: int = 0
    input_audio_tokens: int = 0
    cache_audio_read_tokens: int = 0
    output_audio_tokens: int = 0
    audio_seconds: float = 0
    details: dict[str, int] = dataclasses.field(default_factory=dict)
    cost: Any = None

    @property
    def requests(self) -> int:
        return 1


@dataclasses.dataclass
class PydanticAIModelResponse:
    """pydantic-ai's ``ModelResponse`` (the parts that matter here)."""

    parts: list[Any]
    usage: PydanticAIRequestUsage
    model_name: str | None = None


class LangChainAIMessage(pydantic.BaseModel):
    """langchain-core's ``AIMessage``: usage in ``usage_metadata`` (a TypedDict), whose
    ``input_tokens`` is "the sum of all input token types" (cache included)."""

    content: str = ""
    response_metadata: dict[str, Any] = {}
    usage_metadata: dict[str, Any] | None = None


# A cached pydantic-ai run: 10,000 input tokens of which 9,000 read from the cache.
PYDANTIC_AI_CACHED = PydanticAIRequestUsage(
    input_tokens=10_000,
    cache_read_tokens=9_000,
    cache_write_tokens=500,
    cache_write_1h_tokens=200,
    output_tokens=300,
    output_reasoning_tokens=120,
)
PYDANTIC_AI_EXPECTED = Usage(
    input_tokens=10_000,
    output_tokens=300,
    cache_read_tokens=9_000,
    cache_write_tokens=500,
    cache_write_1h_tokens=200,
    reasoning_tokens=120,
)
LANGCHAIN_METADATA = {
    "input_tokens": 3_050,
    "output_tokens": 400,
    "total_tokens": 3_450,
    "input_token_details": {"cache_read": 1_000, "cache_creation": 2_000},
    "output_token_details": {"reasoning": 90},
}
LANGCHAIN_EXPECTED = Usage(
    input_tokens=3_050,
    output_tokens=400,
    cache_read_tokens=1_000,
    cache_write_tokens=2_000,
    reasoning_tokens=90,
)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        pytest.param(
            PydanticAIModelResponse([], PYDANTIC_AI_CACHED),
            PYDANTIC_AI_EXPECTED,
            id="pydantic-ai-model-response",
        ),
        pytest.param(PYDANTIC_AI_CACHED, PYDANTIC_AI_EXPECTED, id="pydantic-ai-usage-itself"),
        pytest.param(
            {"usage": dataclasses.asdict(PYDANTIC_AI_CACHED)},
            PYDANTIC_AI_EXPECTED,
            id="pydantic-ai-usage-dumped",
        ),
        pytest.param(
            # older pydantic-ai: reasoning in ``details`` (as its OpenAI model stored it)
            PydanticAIRequestUsage(
                input_tokens=100,
                cache_read_tokens=60,
                output_tokens=9,
                details={"reasoning_tokens": 4},
            ),
            Usage(input_tokens=100, output_tokens=9, cache_read_tokens=60, reasoning_tokens=4),
            id="pydantic-ai-reasoning-in-details",
        ),
        pytest.param(
            LangChainAIMessage(content="hi", usage_metadata=LANGCHAIN_METADATA),
            LANGCHAIN_EXPECTED,
            id="langchain-ai-message",
        ),
        pytest.param(LANGCHAIN_METADATA, LANGCHAIN_EXPECTED, id="langchain-usage-metadata-itself"),
        pytest.param(
            LangChainAIMessage(
                usage_metadata={
                    "input_tokens": 2_500,
                    "output_tokens": 10,
                    "total_tokens": 2_510,
                    "input_token_details": {
                        "cache_read": 0,
                        "cache_creation": 2_000,
                        "ephemeral_5m_input_tokens": 500,
                        "ephemeral_1h_input_tokens": 1_500,
                    },
                }
            ),
            Usage(
                input_tokens=2_500,
                output_tokens=10,
                cache_write_tokens=2_000,
                cache_write_1h_tokens=1_500,
            ),
            id="langchain-anthropic-ttl-split",
        ),
        pytest.param(
            Usage(7, 3, cache_read_tokens=5, reasoning_tokens=1),
            Usage(7, 3, cache_read_tokens=5, reasoning_tokens=1),
            id="agentroute-usage",
        ),
    ],
)
def test_framework_usage_shapes(response: object, expected: Usage) -> None:
    assert usage_from_response(response) == expected


def test_pydantic_ai_cached_run_is_billed_at_the_cache_price() -> None:
    # The defect: read as Anthropic's raw usage, the 9,000 cached tokens were billed as fresh.
    price = Price(input=3.0, output=15.0, cache_read=0.3, cache_write=3.75, cache_write_1h=6.0)
    usage = usage_from_response(PydanticAIModelResponse([], PYDANTIC_AI_CACHED))
    assert usage is not None
    fresh = 10_000 - 9_000 - 500
    # 500 fresh, 9,000 cache reads, 300 five-minute and 200 one-hour writes, 300 out
    expected = (fresh * 3.0 + 9_000 * 0.3 + 300 * 3.75 + 200 * 6.0 + 300 * 15.0) / 1e6
    assert usage.uncached_input_tokens == fresh
    assert cost_usd(usage, price) == pytest.approx(expected)


def test_pydantic_ai_response_that_omitted_usage_is_no_usage() -> None:
    # ``unmeasured_requests`` is 1 on a RequestUsage whose response carried no usage: its zero
    # counts carry no information, and must not be charged as a free call.
    omitted = PydanticAIRequestUsage(unmeasured_requests=1)
    assert usage_from_response(PydanticAIModelResponse([], omitted)) is None


@pytest.mark.anyio
async def test_openai_raw_response_is_read_through_parse() -> None:
    # What ``with_raw_response`` (and LangChain's ChatOpenAI) returns: a LegacyAPIResponse.
    body = _chat(OPENAI_CHAT_USAGE)

    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json=body)

    client = openai.AsyncOpenAI(
        api_key="k",
        base_url="http://127.0.0.1:9/v1",
        max_retries=0,
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(answer)),
    )
    async with client:
        raw = await client.chat.completions.with_raw_response.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )
    assert usage_from_response(raw) == OPENAI_CHAT_EXPECTED
    assert raw.parse().usage is not None  # still parses for the caller
