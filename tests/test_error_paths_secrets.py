"""Every path that turns an exception into an agentroute error keeps a configured key out of
the error (its message, args, notes, attributes and whole cause/context chain), the log events
and the spans: an HTTP provider's error answer and connection failure, a custom provider's own
error, a ``wrap()``-ed function raising an SDK-like error, a stream broken midway (routed and
wrapped), a failing state store and a failing classifier.

Each path is fed an exception that quotes the key everywhere it can (message, body, note,
chained cause); the assertions walk everything the caller, the log and the tracer get.
"""

from __future__ import annotations

import traceback
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

import httpx
import httpx2
import openai
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentroute import (
    AllAttemptsFailed,
    HybridClassifier,
    ModelCall,
    ModelResult,
    ProviderUnavailable,
    Router,
    StreamChunk,
    StreamInterrupted,
    Usage,
)
from agentroute._error_translation import error_text, translate
from agentroute._secrets import Secret
from agentroute._types import Target
from agentroute.errors import ProviderConnectionError
from agentroute.providers.openai import OpenAIProvider
from agentroute.testing import FakeClock, capture_logs, text_result
from tests.helpers import CONVERSATION, config_dict

pytestmark = pytest.mark.anyio

KEY = "sk-every-path-secret-13579"
MASK = "**********"
ENV = "AR_ERROR_PATHS_KEY"
MEDIUM = {"min_tier": "medium"}  # model mid: alpha/mid-1, then beta/mid-b


# What the caller, the log and the tracer got -------------------------------------------------


def _links(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception reachable from it (causes, contexts, group members)."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        link = todo.pop()
        if id(link) in seen:
            continue
        seen.add(id(link))
        yield link
        todo += [e for e in (link.__cause__, link.__context__) if e is not None]
        if isinstance(link, BaseExceptionGroup):
            todo += link.exceptions


def _texts_of_error(exc: BaseException) -> list[str]:
    texts = ["".join(traceback.format_exception(exc))]
    for link in _links(exc):
        texts += [str(link), repr(link), repr(link.args), repr(getattr(link, "__notes__", None))]
        texts += [repr(v) for k, v in vars(link).items() if not k.startswith("__")]
    return texts


class Seen:
    """The log events and finished spans of one test."""

    def __init__(self, events: list[Mapping[str, Any]], exporter: InMemorySpanExporter) -> None:
        self.events = events
        self.exporter = exporter

    def texts(self) -> list[str]:
        texts = [repr(self.events)]
        for span in self.exporter.get_finished_spans():
            texts += [repr(dict(span.attributes or {})), str(span.status.description)]
            texts += [repr((e.name, dict(e.attributes or {}))) for e in span.events]
        return texts


def assert_no_key(*texts: str) -> None:
    leaking = [t for t in texts if KEY in t]
    assert not leaking, f"the key leaked in: {leaking[0][:400]}"


def assert_clean(seen: Seen, exc: BaseException | None = None) -> None:
    assert_no_key(*seen.texts(), *(_texts_of_error(exc) if exc is not None else ()))


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(ENV, KEY)
    return KEY


@pytest.fixture
def seen() -> Iterator[Seen]:
    with capture_logs() as events:
        yield Seen(events, InMemorySpanExporter())


def keyed_config(**overrides: Any) -> dict[str, Any]:
    data = config_dict(**overrides)
    for provider in data["providers"].values():
        provider["api_key"] = f"env:{ENV}"
        provider["kwargs"] = {"api_key": f"env:{ENV}"}
    return data


def make_router(seen: Seen, data: Mapping[str, Any] | None = None, **kwargs: Any) -> Router:
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(seen.exporter))
    kwargs.setdefault("clock", FakeClock())
    return Router(data or keyed_config(), tracer_provider=tracer_provider, **kwargs)


def leaky(kind: type[BaseException], text: str, secret: str) -> BaseException:
    """``kind(text + secret)`` with a note and a cause that quote ``secret`` too."""
    try:
        raise ValueError(f"Invalid header value b'Bearer {secret}'")
    except ValueError as inner:
        err = kind(f"{text} {secret}")
        err.add_note(f"sent with {secret}")
        err.__cause__ = inner
        err.__context__ = inner
        return err


def sdk_error(secret: str) -> openai.AuthenticationError:
    request = httpx2.Request("POST", "https://api.example.invalid/v1/chat/completions")
    body = {"error": {"message": f"Incorrect API key provided: {secret}", "code": "bad"}}
    err = openai.AuthenticationError(
        f"Error code: 401 - {body}",
        response=httpx2.Response(401, json=body, request=request),
        body=body,
    )
    err.add_note(f"sent with {secret}")
    err.__cause__ = leaky(ValueError, "bad header", secret)
    return err


# The HTTP providers ------------------------------------------------------------------------


def http_provider(name: str, handler: Any) -> OpenAIProvider:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return OpenAIProvider(
        name=name, base_url="http://127.0.0.1:9/v1", api_key=Secret(env=ENV), client=client
    )


async def test_an_http_error_answer_and_a_connection_failure(key: str, seen: Seen) -> None:
    def echoes_the_key(request: httpx.Request) -> httpx.Response:
        sent = request.headers["authorization"].removeprefix("Bearer ")
        body = {"error": {"message": f"Incorrect API key provided: {sent}", "code": "bad"}}
        return httpx.Response(401, json=body, headers={"x-echo": sent})

    def drops(request: httpx.Request) -> httpx.Response:
        sent = request.headers["authorization"]
        raise httpx.ConnectError(f"connection refused for {sent}", request=request)

    alpha, beta = http_provider("alpha", echoes_the_key), http_provider("beta", drops)
    router = make_router(seen, providers={"alpha": alpha, "beta": beta})
    with pytest.raises(AllAttemptsFailed) as info:
        await router.complete(CONVERSATION, hints=MEDIUM)
    first, second = info.value.exceptions
    assert f"Incorrect API key provided: {MASK}" in str(first)
    assert isinstance(second, ProviderConnectionError)
    assert (first.provider, second.provider) == ("alpha", "beta")
    assert (first.model, second.deployment) == ("mid", "mid-b")
    assert_clean(seen, info.value)
    await router.aclose()


async def test_a_custom_providers_own_errors(key: str, seen: Seen) -> None:
    class Raising:
        def __init__(self, exc: BaseException) -> None:
            self.exc = exc

        async def send(self, call: ModelCall, /) -> ModelResult:
            raise self.exc

    own = leaky(ProviderUnavailable, "busy, key", KEY)
    foreign = leaky(ConnectionResetError, "reset, key", KEY)
    router = make_router(seen, providers={"alpha": Raising(own), "beta": Raising(foreign)})
    with pytest.raises(AllAttemptsFailed) as info:
        await router.complete(CONVERSATION, hints=MEDIUM)
    first, second = info.value.exceptions
    assert first is own and f"busy, key {MASK}" in str(first)
    assert isinstance(second, ProviderConnectionError) and second.__cause__ is foreign
    assert_clean(seen, info.value)


# wrap() -------------------------------------------------------------------------------------


async def test_a_wrapped_function_raising_an_sdk_error(key: str, seen: Seen) -> None:
    router = make_router(seen)

    async def call_llm(messages: list[Any], *, model: str, api_key: str) -> Any:
        raise sdk_error(api_key)

    with pytest.raises(AllAttemptsFailed) as info:
        await router.wrap(call_llm)(CONVERSATION)
    assert f"Incorrect API key provided: {MASK}" in str(info.value.exceptions[0])
    assert_clean(seen, info.value)


async def test_a_wrapped_function_raising_a_programming_error(key: str, seen: Seen) -> None:
    router = make_router(seen)

    async def call_llm(messages: list[Any], *, model: str, api_key: str) -> Any:
        raise leaky(KeyError, "no client for", api_key)

    with pytest.raises(KeyError) as info:
        await router.wrap(call_llm)(CONVERSATION)
    assert MASK in str(info.value)
    assert_clean(seen, info.value)


async def test_a_wrapped_stream_broken_midway(key: str, seen: Seen) -> None:
    router = make_router(seen)

    async def call_llm(messages: list[Any], *, model: str, api_key: str) -> Any:
        async def events() -> AsyncIterator[dict[str, Any]]:
            yield {"choices": [{"delta": {"content": "Hel"}}]}
            raise leaky(ConnectionResetError, "reset while sending with", api_key)

        return events()

    stream = await router.wrap(call_llm)(CONVERSATION)
    with pytest.raises(ConnectionResetError) as info:  # the function's own error, its type kept
        async for _ in stream:
            pass
    assert f"reset while sending with {MASK}" in str(info.value)
    assert_clean(seen, info.value)


# Router.stream() ----------------------------------------------------------------------------


class BreakingStream:
    """Streams one chunk, then raises ``exc``."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    async def send(self, call: ModelCall, /) -> ModelResult:
        raise AssertionError("streamed calls only")

    async def stream(self, call: ModelCall, /) -> AsyncIterator[StreamChunk]:
        yield StreamChunk(text="Hel")
        raise self.exc


async def read_routed_stream(router: Router) -> None:
    async with router.stream(CONVERSATION, hints=MEDIUM) as stream:
        async for _ in stream:
            pass


@pytest.mark.parametrize("kind", [ConnectionResetError, ProviderConnectionError])
async def test_a_routed_stream_broken_midway(
    key: str, seen: Seen, kind: type[BaseException]
) -> None:
    broken = BreakingStream(leaky(kind, "dropped, key", KEY))
    router = make_router(seen, providers={"alpha": broken, "beta": broken})
    with pytest.raises(StreamInterrupted) as info:
        await read_routed_stream(router)
    assert f"dropped, key {MASK}" in str(info.value)
    assert_clean(seen, info.value)


# The state store and the classifier ---------------------------------------------------------


class FailingStore:
    """A state store whose every operation fails with an error quoting the key."""

    def _fail(self, *args: Any) -> Any:
        raise leaky(RuntimeError, "store refused the password", KEY)

    async def add_failure(self, key: str, window_s: float) -> int:
        return self._fail()

    async def clear_failures(self, key: str) -> None:
        self._fail()

    async def set_cooldown(self, key: str, seconds: float) -> None:
        self._fail()

    async def cooling(self, keys: Sequence[str]) -> Mapping[str, float]:
        return self._fail()

    async def get_pin(self, session: str, model: str) -> str | None:
        return self._fail()

    async def set_pin(self, session: str, model: str, deployment: str, ttl_s: float) -> None:
        self._fail()

    async def drop_pin(self, session: str, model: str) -> None:
        self._fail()

    async def aclose(self) -> None:
        self._fail()


class Answering:
    async def send(self, call: ModelCall, /) -> ModelResult:
        return text_result("fine", Usage(input_tokens=10, output_tokens=2))


async def test_a_failing_state_store(key: str, seen: Seen) -> None:
    providers = {"alpha": Answering(), "beta": Answering()}
    router = make_router(seen, providers=providers, state_store=FailingStore())
    result = await router.complete(CONVERSATION)  # the store fails open
    assert result.text == "fine"
    await router.aclose()
    errors = [e for e in seen.events if e["event"] == "route.state_error"]
    assert errors and f"store refused the password {MASK}" in errors[0]["error"]
    assert_clean(seen)


async def test_a_failing_classifier(key: str, seen: Seen) -> None:
    async def ask(prompt: list[dict[str, Any]]) -> str:
        raise sdk_error(KEY)

    data = keyed_config(policy={"weights": {"content": 0.5}})
    providers = {"alpha": Answering(), "beta": Answering()}
    classifier = HybridClassifier(ask)
    router = make_router(seen, data, providers=providers, classifier=classifier)
    unsure = [{"role": "user", "content": "Please debug and refactor the booking module."}]
    result = await router.complete(unsure)  # the rules' judgement stands
    assert result.text == "fine" and classifier.asked == 1
    assert_clean(seen)


# The helper itself --------------------------------------------------------------------------

TARGET = Target(
    model="mid",
    tier="medium",
    provider="alpha",
    provider_kind="openai",
    deployment="mid-1",
    context_window=32000,
)


def test_translate_returns_what_to_raise(key: str) -> None:
    foreign = leaky(ConnectionResetError, "reset with", KEY)
    translated = translate(foreign, TARGET)
    assert isinstance(translated, ProviderConnectionError)
    where = (translated.provider, translated.model, translated.deployment)
    assert where == ("alpha", "mid", "mid-1")
    assert_no_key(*_texts_of_error(translated), *_texts_of_error(foreign))

    own = leaky(ProviderUnavailable, "busy with", KEY)
    assert translate(own, "alpha") is own and own.provider == "alpha" and own.model is None
    assert_no_key(*_texts_of_error(own))

    programming = leaky(KeyError, "no client for", KEY)
    assert translate(programming, TARGET) is programming
    assert_no_key(*_texts_of_error(programming))

    cancelled = leaky(KeyboardInterrupt, "stop", KEY)
    assert translate(cancelled, TARGET) is cancelled  # not an error to translate: untouched
    assert KEY in str(cancelled)


def test_error_text_is_the_masked_text(key: str) -> None:
    assert error_text(RuntimeError(f"refused {KEY}")) == f"refused {MASK}"

    class Broken(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no text")

    assert error_text(Broken()) == ""
