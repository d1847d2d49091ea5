"""The context-window rule of ScorePolicy (agentroute/policy/score.py, counting by
agentroute/policy/tokens.py): a call goes to the lowest tier with a model it fits, keeping
the margin; a call that fits nothing fails before any provider call."""

from __future__ import annotations

from typing import Any

import pytest

from agentroute import ContextWindowExceeded, Router
from tests.helpers import Msg, all_calls, answer, mock_providers, policy_config, words_for


def window_config(**policy: Any) -> dict[str, Any]:
    data = policy_config(
        weights={"tool_errors_recent": 0.45}, **policy
    )  # no context_fraction weight
    data["models"]["small_long"] = {
        "context_window": 24000,
        "price": {"input": 1.5, "output": 3.0},
        "deployments": [{"provider": "alpha", "name": "small-long-1"}],
    }
    data["tiers"] = {"simple": ["small", "small_long"], "medium": ["mid"], "complex": ["big"]}
    return data


@pytest.mark.anyio
async def test_a_call_too_big_for_the_small_model_goes_to_the_larger_window_model() -> None:
    provs = mock_providers(answer)
    router = Router(window_config(), providers=provs)
    async with router.session() as s:
        result = await router.complete([{"role": "user", "content": words_for(19_000)}])
    (d,) = s.decisions
    assert d.signals is not None and 15_200 < d.signals.context_tokens <= 22_800
    assert (d.tier, d.candidates, str(d.cause)) == ("simple", ("small_long",), "start")
    assert d.reason == "larger-window models only"
    (call,) = all_calls(provs)
    assert [t.deployment for t in call.targets] == ["small-long-1"]  # small is never tried
    assert result.target is not None and result.target.model == "small_long"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("tokens", "tier", "model", "band"),
    [
        (26_500, "medium", "mid", (22_800, 30_400)),
        (45_000, "complex", "big", (30_400, 60_800)),
    ],
)
async def test_a_call_goes_to_the_lowest_tier_with_a_model_that_fits(
    tokens: int, tier: str, model: str, band: tuple[int, int]
) -> None:
    provs = mock_providers(answer)
    router = Router(window_config(), providers=provs)
    async with router.session() as s:
        result = await router.complete([{"role": "user", "content": words_for(tokens)}])
    (d,) = s.decisions
    assert d.signals is not None and band[0] < d.signals.context_tokens <= band[1]
    assert (d.tier, d.candidates, str(d.cause)) == (tier, (model,), "context_window")
    assert "do not fit simple" in d.reason
    assert result.target is not None and result.target.model == model
    assert len(all_calls(provs)) == 1


@pytest.mark.anyio
async def test_the_context_margin_is_kept() -> None:
    messages = [{"role": "user", "content": words_for(14_000)}]
    for margin, candidates in ((0.05, ("small", "small_long")), (0.2, ("small_long",))):
        router = Router(window_config(context_margin=margin), providers=mock_providers(answer))
        async with router.session() as s:
            await router.complete(messages)
        assert s.decisions[0].candidates == candidates


@pytest.mark.anyio
async def test_a_call_that_fits_nothing_raises_before_any_provider_call() -> None:
    provs = mock_providers(answer)
    router = Router(window_config(), providers=provs)
    async with router.session() as s:
        with pytest.raises(ContextWindowExceeded, match="largest configured window is 64,000"):
            await router.complete([{"role": "user", "content": words_for(80_000)}])
    assert all_calls(provs) == []
    assert s.decisions == ()


@pytest.mark.anyio
async def test_tool_schemas_count_towards_the_window() -> None:
    big_tools = [
        {"type": "function", "function": {"name": f"t{i}", "description": words_for(400)}}
        for i in range(40)
    ]
    router = Router(window_config(), providers=mock_providers(answer))
    async with router.session() as s:
        await router.complete([{"role": "user", "content": "hi"}], tools=big_tools)
    d = s.decisions[0]
    assert d.signals is not None and d.signals.context_tokens > 15_200
    assert d.candidates == ("small_long",)


@pytest.mark.anyio
async def test_a_session_moved_up_by_the_window_rule_survives_its_calm_steps() -> None:
    router = Router(
        policy_config(weights={"tool_errors_recent": 0.45}), providers=mock_providers(answer)
    )
    messages: list[Msg] = [{"role": "user", "content": words_for(20_000)}]
    async with router.session() as s:
        for _ in range(6):
            await router.complete(messages)
            messages += [
                {"role": "assistant", "content": "ok"},
                {"role": "user", "content": "more"},
            ]
    assert [d.tier for d in s.decisions] == ["medium"] * 6
