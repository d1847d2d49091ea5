"""The middleware chain: order, short-circuit, several calls; user middleware in a Router."""

from __future__ import annotations

import pytest

from agentroute import (
    AllAttemptsFailed,
    CallNext,
    ModelCall,
    ModelResult,
    ProviderUnavailable,
    build_chain,
)
from agentroute.testing import CallRecorder, ScriptedProvider, text_result
from tests.helpers import CONVERSATION, make_router

pytestmark = pytest.mark.anyio

CALL = ModelCall(messages=CONVERSATION)


def tracer(name: str, log: list[str]):  # type: ignore[no-untyped-def]
    async def mw(call: ModelCall, call_next: CallNext) -> ModelResult:
        log.append(f"{name}>")
        result = await call_next(call)
        log.append(f"<{name}")
        return result

    return mw


async def test_first_middleware_is_outermost() -> None:
    log: list[str] = []

    async def terminal(call: ModelCall) -> ModelResult:
        log.append("terminal")
        return text_result("ok")

    chain = build_chain([tracer("a", log), tracer("b", log), tracer("c", log)], terminal)
    result = await chain(CALL)
    assert result.text == "ok"
    assert log == ["a>", "b>", "c>", "terminal", "<c", "<b", "<a"]


async def test_short_circuit_skips_the_rest() -> None:
    log: list[str] = []

    async def cache_hit(call: ModelCall, call_next: CallNext) -> ModelResult:
        return text_result("cached")

    async def terminal(call: ModelCall) -> ModelResult:  # pragma: no cover - must not run
        log.append("terminal")
        return text_result("fresh")

    chain = build_chain([tracer("a", log), cache_hit, tracer("b", log)], terminal)
    assert (await chain(CALL)).text == "cached"
    assert log == ["a>", "<a"]


async def test_middleware_may_call_next_several_times() -> None:
    seen: list[int] = []

    async def twice(call: ModelCall, call_next: CallNext) -> ModelResult:
        await call_next(call)
        return await call_next(call)

    async def terminal(call: ModelCall) -> ModelResult:
        seen.append(1)
        return text_result(f"n={len(seen)}")

    assert (await build_chain([twice], terminal)(CALL)).text == "n=2"
    assert seen == [1, 1]


async def test_empty_chain_is_the_terminal() -> None:
    async def terminal(call: ModelCall) -> ModelResult:
        return text_result("t")

    assert (await build_chain([], terminal)(CALL)).text == "t"


async def test_user_middleware_sees_decision_and_wraps_all_attempts() -> None:
    recorder = CallRecorder()
    provider = ScriptedProvider(["from beta"])
    alpha = ScriptedProvider([ProviderUnavailable("down", status_code=503)])
    router = make_router(
        providers={"alpha": alpha, "beta": provider},
        middleware=[recorder],
        policy=None,
    )
    result = await router.complete(CONVERSATION, hints={"min_tier": "medium"})
    assert result.text == "from beta"
    # once per routed call, although two deployments were tried below it
    assert len(recorder.calls) == 1
    seen = recorder.calls[0]
    assert seen.decision is not None and seen.decision.tier == "medium"
    assert [t.key for t in seen.targets] == ["alpha/mid-1", "beta/mid-b"]
    assert seen.target is None
    assert [a.outcome for a in result.attempts] == ["error", "ok"]


async def test_user_middleware_can_short_circuit_a_routed_call() -> None:
    async def canned(call: ModelCall, call_next: CallNext) -> ModelResult:
        return text_result("canned")

    provider = ScriptedProvider()  # empty: any call would raise ScriptExhausted
    router = make_router(providers={"alpha": provider}, middleware=[canned])
    assert (await router.complete(CONVERSATION)).text == "canned"
    assert provider.calls == []


async def test_user_middleware_sees_the_failure_group() -> None:
    recorder = CallRecorder()
    alpha = ScriptedProvider([ProviderUnavailable("down", status_code=503)])
    router = make_router(providers={"alpha": alpha}, middleware=[recorder])
    with pytest.raises(AllAttemptsFailed):
        await router.complete(CONVERSATION)
    assert isinstance(recorder.results[0], AllAttemptsFailed)
