"""A key set through ``env:`` never shows: not in reprs, error text, attempts or log events."""

from __future__ import annotations

from typing import Any

import httpx2
import openai
import pytest

from agentroute import AllAttemptsFailed, Router
from agentroute.testing import capture_logs
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
