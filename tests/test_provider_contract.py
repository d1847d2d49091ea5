"""The provider contract: ``send``, ``stream``, ``aclose``; ``BaseProvider`` fills in the
optional parts, and an object with ``send`` only is completed once, when the Router is built."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agentroute import BaseProvider, ConfigurationError, ModelCall, ModelResult, Router
from agentroute._types import StreamChunk
from agentroute.providers.anthropic import AnthropicProvider
from agentroute.providers.base import as_provider
from agentroute.providers.openai import OpenAIProvider
from agentroute.testing import MockProvider, ScriptedProvider, StreamingProvider, text_result
from tests.helpers import CONVERSATION, config_dict

pytestmark = pytest.mark.anyio

SIMPLE = {"max_tier": "simple"}  # alpha/small-1 only


class SendOnly:
    """A custom provider as users wrote them before the contract: ``send`` and nothing else."""

    def __init__(self) -> None:
        self.calls: list[ModelCall] = []

    async def send(self, call: ModelCall, /) -> ModelResult:
        self.calls.append(call)
        return text_result("from send-only")


class SendAndStream(SendOnly):
    """``send`` and ``stream``, no ``aclose``, no base class."""

    async def stream(self, call: ModelCall, /) -> AsyncIterator[StreamChunk]:
        self.calls.append(call)
        yield StreamChunk(text="streamed")
        yield StreamChunk(finish_reason="stop")


def router_with(alpha: object) -> Router:
    return Router(config_dict(), providers={"alpha": alpha, "beta": ScriptedProvider()})  # type: ignore[dict-item]


async def read(router: Router) -> str:
    async with router.stream(CONVERSATION, hints=SIMPLE) as stream:
        return "".join([chunk.text async for chunk in stream])


async def test_a_send_only_provider_answers_complete() -> None:
    alpha = SendOnly()
    async with router_with(alpha) as router:
        result = await router.complete(CONVERSATION, hints=SIMPLE)
    assert result.text == "from send-only"
    assert len(alpha.calls) == 1


async def test_a_send_only_provider_cannot_stream_and_says_so() -> None:
    router = router_with(SendOnly())
    with pytest.raises(ConfigurationError) as info:
        await read(router)
    assert str(info.value) == (
        "provider 'alpha' (SendOnly) cannot stream: it has no stream(call) method"
    )


async def test_a_provider_with_its_own_stream_but_no_aclose_streams() -> None:
    alpha = SendAndStream()
    async with router_with(alpha) as router:  # closing the router leaves it alone
        text = await read(router)
    assert text == "streamed"
    assert len(alpha.calls) == 1


async def test_a_base_provider_without_stream_says_it_cannot_stream() -> None:
    router = router_with(ScriptedProvider(["hi"]))
    with pytest.raises(ConfigurationError, match=r"'alpha' \(ScriptedProvider\) cannot stream"):
        await read(router)


def test_an_object_without_send_is_refused_when_the_router_is_built() -> None:
    with pytest.raises(ConfigurationError, match=r"providers\['alpha'\]: object has no send"):
        router_with(object())


async def test_completion_happens_once_and_keeps_the_objects_own_methods() -> None:
    alpha = SendAndStream()
    full = as_provider("alpha", alpha)
    assert full is not alpha
    assert full.send == alpha.send  # its own bound method: no layer in between
    assert full.stream == alpha.stream
    await full.aclose()  # the default: nothing to close


def test_full_providers_are_used_as_they_are() -> None:
    for provider in (ScriptedProvider(), MockProvider(lambda call: "ok"), StreamingProvider()):
        assert isinstance(provider, BaseProvider)
        assert as_provider("alpha", provider) is provider


def test_the_built_in_http_providers_declare_the_contract() -> None:
    assert issubclass(OpenAIProvider, BaseProvider)
    assert issubclass(AnthropicProvider, BaseProvider)


def test_a_base_provider_must_implement_send() -> None:
    class NoSend(BaseProvider):
        pass

    with pytest.raises(TypeError, match="send"):
        NoSend()  # type: ignore[abstract]
