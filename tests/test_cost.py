"""Cost of real-shaped provider usage, each against a figure computed by hand in a comment;
prices from the genai-prices database for models configured without one."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import date, time
from decimal import Decimal
from typing import Any

import anthropic.types
import openai.types.chat
import openai.types.responses
import pytest

from agentroute import ConfigurationError, ModelResult, Router, RouterConfig, Usage
from agentroute.config import ModelConfig, Price
from agentroute.pricing import PriceNotFound, cost_usd, lookup_price
from agentroute.providers.usage import usage_from_response
from agentroute.testing import FakeClock, ScriptedProvider
from tests.helpers import CONVERSATION, config_dict

# Prices in USD per million tokens, as the providers list them.
GPT_4O = Price(input=2.5, output=10.0, cache_read=1.25)  # OpenAI: cache writes are free
SONNET = Price(input=3.0, output=15.0, cache_read=0.3, cache_write=3.75, cache_write_1h=6.0)
DEEPSEEK = Price(input=0.27, output=1.1, cache_read=0.07)  # cache miss = input, hit = read


def _cost(response: object, price: Price) -> float:
    usage = usage_from_response(response)
    assert usage is not None
    return cost_usd(usage, price)


# OpenAI Chat Completions -------------------------------------------------------------------

OPENAI_CHAT = {
    "id": "chatcmpl-AbC",
    "object": "chat.completion",
    "created": 1_727_000_000,
    "model": "gpt-4o-2024-08-06",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Done.", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 2006,
        "completion_tokens": 300,
        "total_tokens": 2306,
        "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 128,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    },
    "system_fingerprint": "fp_abc",
}
# cached_tokens (1920) are *inside* prompt_tokens (2006): 86 fresh; reasoning (128) is inside
# completion_tokens (300) and not charged again.
#   86 × 2.50 + 1920 × 1.25 + 300 × 10 = 215 + 2400 + 3000 = 5615 → $0.005615
OPENAI_CHAT_COST = 0.005615

OPENAI_STREAM_LAST_CHUNK = {
    "id": "chatcmpl-AbC",
    "object": "chat.completion.chunk",
    "created": 1_727_000_000,
    "model": "gpt-4o-2024-08-06",
    "choices": [],
    "usage": {
        "prompt_tokens": 1200,
        "completion_tokens": 40,
        "total_tokens": 1240,
        "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    },
}
#   176 × 2.50 + 1024 × 1.25 + 40 × 10 = 440 + 1280 + 400 = 2120 → $0.00212
OPENAI_STREAM_COST = 0.00212

OPENAI_RESPONSES_USAGE = {
    "input_tokens": 125,
    "input_tokens_details": {"cached_tokens": 98, "cache_write_tokens": 0},
    "output_tokens": 48,
    "output_tokens_details": {"reasoning_tokens": 16},
    "total_tokens": 173,
}
#   27 × 2.50 + 98 × 1.25 + 48 × 10 = 67.5 + 122.5 + 480 = 670 → $0.00067
OPENAI_RESPONSES_COST = 0.00067


# Anthropic Messages -------------------------------------------------------------------------


def _anthropic(usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [{"type": "text", "text": "Done."}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": usage,
    }


ANTHROPIC_5M = _anthropic(
    {
        "input_tokens": 50,
        "cache_creation_input_tokens": 2000,
        "cache_read_input_tokens": 1000,
        "cache_creation": {"ephemeral_5m_input_tokens": 2000, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 400,
        "service_tier": "standard",
    }
)
# input_tokens (50) does *not* include the cache read (1000) nor the write (2000):
#   50 × 3 + 1000 × 0.30 + 2000 × 3.75 + 400 × 15 = 150 + 300 + 7500 + 6000 = 13950 → $0.01395
ANTHROPIC_5M_COST = 0.01395

ANTHROPIC_1H = _anthropic(
    {
        "input_tokens": 50,
        "cache_creation_input_tokens": 2000,
        "cache_read_input_tokens": 1000,
        "cache_creation": {"ephemeral_5m_input_tokens": 500, "ephemeral_1h_input_tokens": 1500},
        "output_tokens": 400,
        "service_tier": "standard",
    }
)
# the same write split 500 five-minute / 1500 one-hour:
#   50 × 3 + 1000 × 0.30 + 500 × 3.75 + 1500 × 6 + 400 × 15
#   = 150 + 300 + 1875 + 9000 + 6000 = 17325 → $0.017325
ANTHROPIC_1H_COST = 0.017325

ANTHROPIC_NO_SPLIT = _anthropic(
    {
        "input_tokens": 3,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 12_000,
        "output_tokens": 250,
    }
)
# an older response without the split, all from cache:
#   3 × 3 + 12000 × 0.30 + 250 × 15 = 9 + 3600 + 3750 = 7359 → $0.007359
ANTHROPIC_NO_SPLIT_COST = 0.007359


# DeepSeek -----------------------------------------------------------------------------------

DEEPSEEK_CHAT = {
    "id": "930c60df-bf64-41c9-a88e-3ec75f81e00e",
    "object": "chat.completion",
    "created": 1_705_651_092,
    "model": "deepseek-chat",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Done."},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 1500,
        "completion_tokens": 80,
        "total_tokens": 1580,
        "prompt_cache_hit_tokens": 1200,
        "prompt_cache_miss_tokens": 300,
    },
    "system_fingerprint": "fp_abc",
}
# prompt_tokens = hit + miss; hits at the cache price, misses at the input price:
#   300 × 0.27 + 1200 × 0.07 + 80 × 1.10 = 81 + 84 + 88 = 253 → $0.000253
DEEPSEEK_COST = 0.000253


# OpenRouter ---------------------------------------------------------------------------------


def _openrouter(usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "gen-1750000000-abc",
        "provider": "Anthropic",
        "model": "anthropic/claude-sonnet-4.5",
        "object": "chat.completion",
        "created": 1_750_000_000,
        "choices": [
            {
                "logprobs": None,
                "finish_reason": "stop",
                "native_finish_reason": "end_turn",
                "index": 0,
                "message": {"role": "assistant", "content": "Done.", "refusal": None},
            }
        ],
        "usage": usage,
    }


OPENROUTER_WRITE = _openrouter(
    {
        "prompt_tokens": 194,
        "completion_tokens": 2,
        "total_tokens": 196,
        "cost": 0.000687,
        "is_byok": False,
        "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 100, "audio_tokens": 0},
        "cost_details": {"upstream_inference_cost": None},
        "completion_tokens_details": {"reasoning_tokens": 0, "image_tokens": 0},
    }
)
# OpenRouter's prompt_tokens include the cache write (100):
#   94 × 3 + 100 × 3.75 + 2 × 15 = 282 + 375 + 30 = 687 → $0.000687 (its own "cost" agrees)
OPENROUTER_WRITE_COST = 0.000687

OPENROUTER_READ_AND_WRITE = _openrouter(
    {
        "prompt_tokens": 10_000,
        "completion_tokens": 500,
        "total_tokens": 10_500,
        "prompt_tokens_details": {"cached_tokens": 6000, "cache_write_tokens": 3000},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }
)
#   (10000 − 6000 − 3000) × 3 + 6000 × 0.30 + 3000 × 3.75 + 500 × 15
#   = 3000 + 1800 + 11250 + 7500 = 23550 → $0.02355
OPENROUTER_READ_AND_WRITE_COST = 0.02355


@pytest.mark.parametrize(
    ("response", "price", "expected"),
    [
        pytest.param(OPENAI_CHAT, GPT_4O, OPENAI_CHAT_COST, id="openai-chat"),
        pytest.param(
            openai.types.chat.ChatCompletion.model_validate(OPENAI_CHAT),
            GPT_4O,
            OPENAI_CHAT_COST,
            id="openai-chat-sdk-object",
        ),
        pytest.param(OPENAI_STREAM_LAST_CHUNK, GPT_4O, OPENAI_STREAM_COST, id="openai-stream"),
        pytest.param(
            {"usage": OPENAI_RESPONSES_USAGE}, GPT_4O, OPENAI_RESPONSES_COST, id="openai-responses"
        ),
        pytest.param(
            openai.types.responses.ResponseUsage.model_validate(OPENAI_RESPONSES_USAGE),
            GPT_4O,
            OPENAI_RESPONSES_COST,
            id="openai-responses-sdk-object",
        ),
        pytest.param(ANTHROPIC_5M, SONNET, ANTHROPIC_5M_COST, id="anthropic-5m-write"),
        pytest.param(ANTHROPIC_1H, SONNET, ANTHROPIC_1H_COST, id="anthropic-1h-write"),
        pytest.param(
            anthropic.types.Message.model_validate(ANTHROPIC_1H),
            SONNET,
            ANTHROPIC_1H_COST,
            id="anthropic-1h-write-sdk-object",
        ),
        pytest.param(ANTHROPIC_NO_SPLIT, SONNET, ANTHROPIC_NO_SPLIT_COST, id="anthropic-read"),
        pytest.param(DEEPSEEK_CHAT, DEEPSEEK, DEEPSEEK_COST, id="deepseek-hit-miss"),
        pytest.param(
            openai.types.chat.ChatCompletion.model_validate(DEEPSEEK_CHAT),
            DEEPSEEK,
            DEEPSEEK_COST,
            id="deepseek-sdk-object",
        ),
        pytest.param(OPENROUTER_WRITE, SONNET, OPENROUTER_WRITE_COST, id="openrouter-write"),
        pytest.param(
            openai.types.chat.ChatCompletion.model_validate(OPENROUTER_WRITE),
            SONNET,
            OPENROUTER_WRITE_COST,
            id="openrouter-write-sdk-object",
        ),
        pytest.param(
            OPENROUTER_READ_AND_WRITE,
            SONNET,
            OPENROUTER_READ_AND_WRITE_COST,
            id="openrouter-read-and-write",
        ),
    ],
)
def test_cost_of_provider_usage(response: object, price: Price, expected: float) -> None:
    assert _cost(response, price) == pytest.approx(expected, rel=1e-12)


def test_a_price_without_cache_prices_charges_cached_tokens_as_input() -> None:
    # A model priced without cache prices: reads and writes cost the input price, so the
    # total is every input token at $3 — 3050 × 3 + 400 × 15 = 9150 + 6000 → $0.01515.
    assert _cost(ANTHROPIC_5M, Price(input=3, output=15)) == pytest.approx(0.01515)


# Per attempt, per decision, per session through the router ---------------------------------


def usage_to_result(raw: dict[str, Any], finish_reason: str) -> ModelResult:
    """A provider's answer as a result (its usage normalized), with this finish reason."""
    usage = usage_from_response(raw)
    assert usage is not None
    return ModelResult(raw=raw, finish_reason=finish_reason, usage=usage)


@pytest.mark.anyio
async def test_router_charges_every_billed_attempt_to_the_session() -> None:
    # "big" is priced like Sonnet's cache (in 10, out 30, read 1, write 12.5); a content-filter
    # stop is billed, then the content_policy_fallback model ("mid": in 2, out 4) answers.
    cfg = config_dict(
        resilience={"max_retries": 0, "content_policy_fallback": "mid"},
        policy={"start_tier": "complex"},
    )
    refused = _anthropic(
        {
            "input_tokens": 100,
            "cache_creation_input_tokens": 1000,
            "cache_read_input_tokens": 0,
            "output_tokens": 10,
        }
    )
    refused["stop_reason"] = "refusal"
    beta = ScriptedProvider(
        [
            usage_to_result(refused, "content_filter"),
            _anthropic({"input_tokens": 500, "output_tokens": 100}),
        ]
    )
    router = Router(cfg, providers={"beta": beta, "alpha": beta}, clock=FakeClock())
    async with router.session("s") as session:
        result = await router.complete(CONVERSATION)
    # refused attempt on big: 100 × 10 + 1000 × 12.5 + 10 × 30 = 1000 + 12500 + 300 = 13800
    # answer on mid: 500 × 2 + 100 × 4 = 1000 + 400 = 1400
    assert [a.cost_usd for a in result.attempts] == pytest.approx([0.0138, 0.0014])
    assert result.cost_usd == pytest.approx(0.0014)
    assert session.cost_usd == pytest.approx(0.0152)
    assert session.usage == Usage(1100, 10, cache_write_tokens=1000) + Usage(500, 100)


# Prices from genai-prices ------------------------------------------------------------------


@pytest.fixture
def fake_prices() -> Iterator[None]:
    """A small price database of our own, so the figures below do not move with upstream."""
    pytest.importorskip("genai_prices")
    from genai_prices import data_snapshot
    from genai_prices.types import (
        ClauseEquals,
        ClauseStartsWith,
        ConditionalPrice,
        ModelInfo,
        ModelPrice,
        Provider,
        StartDateConstraint,
        Tier,
        TieredPrices,
        TimeOfDateConstraint,
    )

    def mp(**kw: Any) -> ModelPrice:
        return ModelPrice(
            **{k: v if isinstance(v, TieredPrices) else Decimal(v) for k, v in kw.items()}
        )

    acme = Provider(
        id="acme",
        name="Acme",
        api_pattern=r"https://api\.acme\.test",
        model_match=ClauseStartsWith(starts_with="acme-"),
        models=[
            ModelInfo(
                id="acme-large",
                match=ClauseEquals(equals="acme-large"),
                prices=mp(
                    input_mtok=TieredPrices(
                        base=Decimal(3), tiers=[Tier(start=200_000, price=Decimal(6))]
                    ),
                    output_mtok="15",
                    cache_read_mtok="0.3",
                    cache_write_mtok="3.75",
                    cache_write_1h_mtok="6",
                ),
            ),
            ModelInfo(
                id="acme-offpeak",
                match=ClauseEquals(equals="acme-offpeak"),
                prices=[
                    ConditionalPrice(prices=mp(input_mtok="0.135", output_mtok="0.55")),
                    ConditionalPrice(
                        constraint=TimeOfDateConstraint(
                            start_time=time(0, 30), end_time=time(16, 30)
                        ),
                        prices=mp(input_mtok="0.27", output_mtok="1.1", cache_read_mtok="0.07"),
                    ),
                ],
            ),
            ModelInfo(
                id="acme-repriced",
                match=ClauseEquals(equals="acme-repriced"),
                prices=[
                    ConditionalPrice(prices=mp(input_mtok="1", output_mtok="2")),
                    ConditionalPrice(
                        constraint=StartDateConstraint(start_date=date(2020, 1, 1)),
                        prices=mp(input_mtok="0.5", output_mtok="1"),
                    ),
                    ConditionalPrice(
                        constraint=StartDateConstraint(start_date=date(2999, 1, 1)),
                        prices=mp(input_mtok="9", output_mtok="9"),
                    ),
                ],
            ),
            ModelInfo(
                id="acme-image",
                match=ClauseEquals(equals="acme-image"),
                prices=ModelPrice(output_mtok=Decimal(40)),
            ),
        ],
    )
    lookup_price.cache_clear()
    data_snapshot.set_custom_snapshot(
        data_snapshot.DataSnapshot(providers=[acme], from_auto_update=False)
    )
    yield
    data_snapshot.set_custom_snapshot(None)
    lookup_price.cache_clear()


@pytest.mark.usefixtures("fake_prices")
@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        # tiered by prompt length: the base tier
        (
            "acme:acme-large",
            Price(input=3, output=15, cache_read=0.3, cache_write=3.75, cache_write_1h=6),
        ),
        # the provider guessed from the model name
        (
            "acme-large",
            Price(input=3, output=15, cache_read=0.3, cache_write=3.75, cache_write_1h=6),
        ),
        # a time-of-day discount: the full (highest) price, whatever the time now
        ("acme:acme-offpeak", Price(input=0.27, output=1.1, cache_read=0.07)),
        # dated prices: the latest in force today (not the future one)
        ("acme:acme-repriced", Price(input=0.5, output=1)),
    ],
)
def test_lookup_price(ref: str, expected: Price) -> None:
    assert lookup_price(ref) == expected


@pytest.mark.usefixtures("fake_prices")
@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("nobody:acme-large", "knows no provider 'nobody'"),
        ("acme:acme-tiny", "no model 'acme-tiny' for provider 'acme'"),
        ("other-model", "no model 'other-model' for any provider"),
        ("acme:acme-image", "no input/output token price for acme:acme-image"),
        ("acme:", "names no model"),
    ],
)
def test_lookup_price_failures(ref: str, message: str) -> None:
    with pytest.raises(PriceNotFound, match=message):
        lookup_price(ref)


def _model(**fields: Any) -> dict[str, Any]:
    return {"context_window": 100_000, **fields}


@pytest.mark.usefixtures("fake_prices")
def test_model_without_price_gets_it_by_price_ref_or_first_deployment() -> None:
    by_ref = ModelConfig.model_validate(
        _model(
            price_ref="acme:acme-repriced", deployments=[{"provider": "x", "name": "acme-large"}]
        )
    )
    assert by_ref.price == Price(input=0.5, output=1)
    # the deployment's provider name is not a genai-prices id: guessed from the model name
    by_deployment = ModelConfig.model_validate(
        _model(deployments=[{"provider": "my-proxy", "name": "acme-large"}])
    )
    assert by_deployment.price.input == 3
    # a configured price always wins (and no lookup is made)
    configured = ModelConfig.model_validate(
        _model(
            price={"input": 1, "output": 1},
            price_ref="nobody:nothing",
            deployments=[{"provider": "acme", "name": "acme-large"}],
        )
    )
    assert configured.price == Price(input=1, output=1)


@pytest.mark.usefixtures("fake_prices")
def test_router_prices_calls_with_a_looked_up_price() -> None:
    cfg = config_dict()
    cfg["providers"]["acme"] = {"kind": "openai"}
    cfg["models"]["small"] = _model(deployments=[{"provider": "acme", "name": "acme-large"}])
    router = Router(cfg, clock=FakeClock())
    assert router.config.models["small"].price.output == 15
    # 1000 in (800 read from cache) + 100 out: 200 × 3 + 800 × 0.3 + 100 × 15 = 2340 → $0.00234
    price = router.config.models["small"].price
    assert cost_usd(Usage(1000, 100, cache_read_tokens=800), price) == pytest.approx(0.00234)


@pytest.mark.usefixtures("fake_prices")
def test_a_model_with_no_price_anywhere_is_a_configuration_error() -> None:
    cfg = config_dict()
    del cfg["models"]["mid"]["price"]  # deployments alpha/mid-1, beta/mid-b: unknown
    with pytest.raises(ConfigurationError) as info:
        Router(cfg)
    text = str(info.value)
    assert "models.mid.price: no price configured, and none found for 'alpha:mid-1'" in text
    assert "set the price" in text


def test_without_genai_prices_the_error_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "genai_prices", None)  # import fails
    lookup_price.cache_clear()
    cfg = config_dict()
    del cfg["models"]["big"]["price"]
    with pytest.raises(ConfigurationError, match=r"models\.big\.price: .*agentroute\[prices\]"):
        RouterConfig.from_mapping(cfg)
    lookup_price.cache_clear()


def test_live_database_knows_the_big_three() -> None:
    """The bundled data: the lookup works on real names (loose checks: prices move)."""
    pytest.importorskip("genai_prices")
    lookup_price.cache_clear()
    sonnet = lookup_price("anthropic:claude-sonnet-4-5")
    assert sonnet.cache_read is not None and sonnet.cache_read < sonnet.input
    assert sonnet.cache_write is not None and sonnet.cache_write > sonnet.input
    assert lookup_price("openrouter:anthropic/claude-sonnet-4.5").input == sonnet.input
    assert lookup_price("openai:gpt-4o-mini").output > 0
    assert lookup_price("deepseek:deepseek-chat").cache_read is not None


def test_genai_prices_is_not_imported_unless_a_price_is_missing() -> None:
    code = (
        "import sys, agentroute\n"
        "from tests.helpers import make_router\n"
        "make_router()\n"
        "print('genai_prices' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"
