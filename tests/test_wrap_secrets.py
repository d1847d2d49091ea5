"""wrap(): a configured secret never shows in what a wrapped function's failure produces — the
error, its chained causes in a full traceback, the route.attempt event, the chat span."""

from __future__ import annotations

import traceback
from typing import Any

import httpx2
import openai
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentroute import AllAttemptsFailed, AuthenticationFailed, ConfigurationError, Router
from agentroute._error_scrub import RedactedError
from agentroute.testing import capture_logs
from tests.helpers import CONVERSATION, config_dict

pytestmark = pytest.mark.anyio

KEY = "sk-wrap-scrub-secret-24680"
MASK = "**********"


def keyed_router(monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> Router:
    monkeypatch.setenv("AR_SCRUB_KEY", KEY)
    data = config_dict()
    for provider in data["providers"].values():
        provider["kwargs"] = {"api_key": "env:AR_SCRUB_KEY"}
    return Router(data, **kwargs)


def full_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


def _sdk_error(api_key: str) -> openai.AuthenticationError:
    request = httpx2.Request("POST", "https://api.example.invalid/v1/chat/completions")
    body = {"error": {"message": f"Incorrect API key provided: {api_key}", "code": "bad"}}
    return openai.AuthenticationError(
        f"Error code: 401 - {body}",
        response=httpx2.Response(401, json=body, request=request),
        body=body,
    )


async def test_a_provider_error_raised_by_the_function_is_masked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    router = keyed_router(monkeypatch)

    async def call_llm(messages: list[Any], *, model: str, api_key: str) -> Any:
        raise AuthenticationFailed(f"key {api_key} was refused", status_code=401)

    with capture_logs() as events, pytest.raises(AllAttemptsFailed) as info:
        await router.wrap(call_llm)(CONVERSATION)
    (err,) = info.value.exceptions
    assert f"key {MASK} was refused" in str(err)
    attempts = [e for e in events if e["event"] == "route.attempt"]
    assert attempts and f"key {MASK} was refused" in attempts[0]["error"]
    assert KEY not in repr(events)
    assert KEY not in full_text(info.value)


async def test_chained_sdk_errors_are_masked_in_a_full_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    router = keyed_router(monkeypatch)
    raised: list[BaseException] = []

    async def call_llm(messages: list[Any], *, model: str, api_key: str) -> Any:
        try:
            raise ValueError(f"Invalid header value b'Bearer {api_key}'")
        except ValueError as inner:
            err = _sdk_error(api_key)
            err.add_note(f"sent with {api_key}")
            raised.append(err)
            raise err from inner

    with pytest.raises(AllAttemptsFailed) as info:
        await router.wrap(call_llm)(CONVERSATION)
    text = full_text(info.value)
    assert KEY not in text
    assert MASK in text
    (err,) = info.value.exceptions
    assert err.__cause__ is raised[0]  # the original stays reachable, scrubbed in place
    cause = raised[0]
    assert isinstance(cause, openai.AuthenticationError)
    assert KEY not in cause.message and KEY not in str(cause.body)
    assert isinstance(cause.__cause__, ValueError)
    assert str(cause.__cause__) == f"Invalid header value b'Bearer {MASK}'"


async def test_a_programming_error_keeps_its_type_with_the_secret_masked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    router = keyed_router(monkeypatch)

    async def call_llm(messages: list[Any], *, model: str, api_key: str) -> Any:
        raise KeyError(f"no client for {api_key}")

    with pytest.raises(KeyError) as info:
        await router.wrap(call_llm)(CONVERSATION)
    assert KEY not in full_text(info.value)
    assert MASK in str(info.value)


class _OddError(Exception):
    """Its text comes from an object the scrubber does not rewrite."""

    def __init__(self, key: str) -> None:
        super().__init__("odd")
        self.parts = [object(), key]  # a list: scrubbed; but __str__ reads a closure

        def text() -> str:
            return f"odd failure with {key}"

        self.text = text

    def __str__(self) -> str:
        return self.text()


async def test_a_cause_whose_text_cannot_be_masked_is_replaced_in_the_chain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    router = keyed_router(monkeypatch)

    async def call_llm(messages: list[Any], *, model: str, api_key: str) -> Any:
        raise _sdk_error("(hidden)") from _OddError(api_key)

    with pytest.raises(AllAttemptsFailed) as info:
        await router.wrap(call_llm)(CONVERSATION)
    text = full_text(info.value)
    assert KEY not in text
    sdk = info.value.exceptions[0].__cause__
    assert sdk is not None
    assert isinstance(sdk.__cause__, RedactedError)
    assert str(sdk.__cause__).endswith(f"_OddError: odd failure with {MASK}")


async def test_the_attempt_span_holds_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    router = keyed_router(monkeypatch, tracer_provider=provider)

    async def call_llm(messages: list[Any], *, model: str, api_key: str) -> Any:
        raise _sdk_error(api_key)

    with pytest.raises(AllAttemptsFailed):
        await router.wrap(call_llm)(CONVERSATION)
    spans = exporter.get_finished_spans()
    assert spans
    dumped = repr(
        [
            (
                s.name,
                dict(s.attributes or {}),
                [(e.name, dict(e.attributes or {})) for e in s.events],
                s.status.description,
            )
            for s in spans
        ]
    )
    assert KEY not in dumped
    assert MASK in dumped


async def test_a_bad_usage_error_holds_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    router = keyed_router(monkeypatch)

    async def call_llm(messages: list[Any], *, model: str, api_key: str) -> Any:
        return {"usage": {"prompt_tokens": f"{api_key}"}}

    with pytest.raises(ConfigurationError, match="cannot read token usage") as info:
        await router.wrap(call_llm)(CONVERSATION)
    assert KEY not in full_text(info.value)
