"""A key set through ``env:`` never shows: not in reprs, error text, attempts or log events."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
import yaml
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentroute import AllAttemptsFailed, ProviderUnavailable, Router, load_config
from agentroute._secrets import redact
from agentroute.testing import FakeClock, ScriptedProvider, capture_logs, text_result
from tests.helpers import CONVERSATION, config_dict

pytestmark = pytest.mark.anyio

KEY = "sk-e2e-very-secret-key-98765"


def secret_config() -> dict[str, Any]:
    data = config_dict()
    data["providers"]["alpha"]["api_key"] = "env:AR_E2E_KEY"
    data["providers"]["alpha"]["kwargs"] = {"api_key": "env:AR_E2E_KEY"}
    return data


async def test_secret_never_leaks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AR_E2E_KEY", KEY)
    router = Router(secret_config())

    async def echoing_provider(messages: list[Any], *, model: str, api_key: str) -> Any:
        # Providers do echo (parts of) keys back in their error messages.
        request = httpx2.Request("POST", "https://api.example.invalid/v1/chat/completions")
        body = {"error": {"message": f"Incorrect API key provided: {api_key}", "code": "bad"}}
        raise openai.AuthenticationError(
            f"Error code: 401 - {body}",
            response=httpx2.Response(401, json=body, request=request),
            body=body,
        )

    routed = router.wrap(echoing_provider)
    with capture_logs() as events, pytest.raises(AllAttemptsFailed) as info:
        await routed(CONVERSATION)
    group = info.value
    texts = [
        repr(router),
        repr(router.config),
        str(router.config),
        router.config.model_dump_json(),
        str(group),
        repr(group),
        *(str(e) for e in group.exceptions),
        *(repr(e) for e in group.exceptions),
        *(repr(a) for a in group.attempts),
        repr(events),
    ]
    assert events, "the failed attempt is logged"
    for text in texts:
        assert KEY not in text
    assert "env:AR_E2E_KEY" in repr(router.config)  # the reference is shown, not the value
    assert "Incorrect API key provided: **********" in str(group.exceptions[0])


# --------------------------------------------------------------------------------------------
# Every configured secret is masked from the start, whatever has been called.


def _span_texts(exporter: InMemorySpanExporter) -> list[str]:
    texts: list[str] = []
    for span in exporter.get_finished_spans():
        texts.append(span.name)
        texts.extend(str(v) for v in (span.attributes or {}).values())
        texts.append(str(span.status.description))
        for event in span.events:
            texts.append(event.name)
            texts.extend(str(v) for v in (event.attributes or {}).values())
    return texts


async def test_first_call_spans_and_logs_hold_no_configured_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Neither key was ever resolved (test doubles make no HTTP request): the env key and
    the literal Anthropic key are masked all the same, from the Router's construction."""
    env_key, literal_key = f"sk-env-{uuid.uuid4().hex}", f"sk-ant-{uuid.uuid4().hex}"
    monkeypatch.setenv("AR_FIRST_CALL_KEY", env_key)
    data = config_dict(policy={"start_tier": "medium"}, telemetry={"log_events": True})
    data["providers"]["alpha"]["api_key"] = "env:AR_FIRST_CALL_KEY"
    data["providers"]["beta"]["api_key"] = literal_key
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    # The agent echoes what the provider said; the provider echoes the key it was sent.
    alpha = ScriptedProvider([ProviderUnavailable(f"bad gateway for key {env_key}")])
    beta = ScriptedProvider([text_result(f"your keys are {env_key} and {literal_key}")])
    router = Router(
        data,
        providers={"alpha": alpha, "beta": beta},
        clock=FakeClock(),
        tracer_provider=tracer_provider,
        capture_content=True,
    )
    pasted = [{"role": "user", "content": f"use {env_key} or {literal_key} please"}]
    with capture_logs() as events:
        result = await router.complete(pasted)
    assert result.target is not None and result.target.provider == "beta"
    texts = _span_texts(exporter)
    assert any("**********" in t for t in texts)  # content was captured, keys masked
    for text in [*texts, repr(events)]:
        assert env_key not in text
        assert literal_key not in text


def test_config_load_makes_every_secret_known_to_redact(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Literal keys and set ``env:`` keys anywhere in the config (api_key, headers, kwargs,
    nested kwargs, the Redis URL) are masked as soon as the config is loaded."""
    keys = {name: f"{name}-{uuid.uuid4().hex}" for name in ("env", "lit", "hdr", "kw", "nest")}
    redis_password = uuid.uuid4().hex
    monkeypatch.setenv("AR_LOAD_KEY", keys["env"])
    monkeypatch.setenv("AR_REDIS_URL", f"redis://:{redis_password}@127.0.0.1:6379/0")
    data = config_dict()
    data["providers"]["alpha"] |= {
        "api_key": "env:AR_LOAD_KEY",
        "headers": {"X-Key": keys["hdr"]},
        "kwargs": {"token": keys["kw"], "extra": {"deep": [{"api_key": keys["nest"]}]}},
    }
    data["providers"]["beta"]["api_key"] = keys["lit"]
    data["state"] = {"kind": "redis", "url": "env:AR_REDIS_URL"}
    path = tmp_path / "router.yaml"
    path.write_text(yaml.safe_dump(data))
    load_config(path)
    text = " ".join(keys.values()) + f" {redis_password}"
    masked = redact(text)
    for value in [*keys.values(), redis_password]:
        assert value not in masked


def test_env_key_set_after_construction_is_masked_once_resolved(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    late = f"sk-late-{uuid.uuid4().hex}"
    data = config_dict()
    data["providers"]["alpha"]["api_key"] = "env:AR_LATE_KEY"
    monkeypatch.delenv("AR_LATE_KEY", raising=False)
    router = Router(data)
    assert late in redact(late)
    monkeypatch.setenv("AR_LATE_KEY", late)
    secret = router.config.providers["alpha"].api_key
    assert secret is not None
    secret.resolve()
    assert late not in redact(f"echo {late}")
