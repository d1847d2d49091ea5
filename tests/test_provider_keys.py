"""Keys that cannot be sent, and a ``base_url`` that is not a URL, over real loopback HTTP.

A key read from a file or an env var often ends in a newline: it is stripped, and the call
succeeds. A key that cannot be an HTTP header even then (a newline inside, non-ASCII text)
fails its deployment as AuthenticationFailed, so the fallback moves on to a healthy one. A
swapped ``base_url``/``api_key`` is a ConfigurationError naming the field. No message quotes
the key.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from agentroute import AuthenticationFailed, Router, RouterConfig
from agentroute.errors import ConfigurationError
from agentroute.providers.anthropic import AnthropicProvider
from agentroute.providers.openai import OpenAIProvider
from agentroute.sim.server import Simulator
from agentroute.testing import FakeClock, capture_logs
from tests.helpers import CONVERSATION, config_dict, simulator_fixture

pytestmark = pytest.mark.anyio

KEY = f"sk-keys-{uuid.uuid4().hex}"
SIM = {
    "instances": {
        "oa": {"kind": "openai", "api_key": KEY},
        "an": {"kind": "anthropic", "api_key": KEY},
    }
}
sim = simulator_fixture(SIM)


def _config(sim: Simulator, alpha_key: str) -> dict[str, Any]:
    """Model ``mid``: ``alpha/mid-1`` (OpenAI wire) first, then ``beta/mid-b`` (Anthropic)."""
    data = config_dict(policy={"start_tier": "medium"})
    data["providers"]["alpha"] |= {"base_url": sim.base_url("oa"), "api_key": alpha_key}
    data["providers"]["beta"] |= {"base_url": sim.base_url("an"), "api_key": "env:AR_BETA_KEY"}
    return data


@pytest.mark.parametrize("padding", ["\n", "\r\n", "  ", "\t\n"])
async def test_key_with_surrounding_whitespace_is_stripped(
    monkeypatch: pytest.MonkeyPatch, sim: Simulator, padding: str
) -> None:
    monkeypatch.setenv("AR_ALPHA_KEY", KEY + padding)
    monkeypatch.setenv("AR_BETA_KEY", KEY)
    async with Router(_config(sim, "env:AR_ALPHA_KEY"), clock=FakeClock()) as router:
        result = await router.complete(CONVERSATION)
    assert result.target is not None
    assert result.target.deployment == "mid-1"  # alpha served: its key was accepted
    assert sim.stats("oa").requests == 1


@pytest.mark.parametrize(
    ("bad_key", "source"),
    [
        pytest.param(KEY[:10] + "\n" + KEY[10:], "env", id="newline-inside-env"),
        pytest.param(KEY[:10] + "\n" + KEY[10:], "literal", id="newline-inside-literal"),
        pytest.param(KEY + "é", "env", id="non-ascii-env"),
        pytest.param(KEY[:10] + "\x00" + KEY[10:], "literal", id="nul-literal"),
        pytest.param(KEY[:10] + "\x7f" + KEY[10:], "literal", id="del-literal"),
    ],
)
async def test_unsendable_key_fails_its_deployment_and_the_next_one_serves(
    monkeypatch: pytest.MonkeyPatch, sim: Simulator, bad_key: str, source: str
) -> None:
    if source == "env":
        monkeypatch.setenv("AR_ALPHA_KEY", bad_key)
    monkeypatch.setenv("AR_BETA_KEY", KEY)
    alpha_key = "env:AR_ALPHA_KEY" if source == "env" else bad_key
    async with Router(_config(sim, alpha_key), clock=FakeClock()) as router:
        with capture_logs() as events:
            result = await router.complete(CONVERSATION)
    assert result.target is not None
    assert result.target.deployment == "mid-b"
    assert sim.stats("oa").requests == 0  # never sent
    (failed,) = [a for a in result.attempts if a.error is not None]
    error = failed.error
    assert isinstance(error, AuthenticationFailed)
    assert (error.provider, error.deployment) == ("alpha", "mid-1")
    assert "cannot be sent" in str(error)
    for text in (str(error), repr(error), repr(events), repr(result.attempts)):
        assert bad_key not in text
        assert KEY[10:] not in text


@pytest.mark.parametrize(
    "base_url",
    [
        pytest.param(KEY, id="the-key"),
        pytest.param(f"{KEY}/v1", id="key-with-path"),
        pytest.param("ftp://example.invalid/v1", id="ftp"),
        pytest.param("https://", id="no-host"),
        pytest.param("https://api.example.invalid/v1\n", id="newline"),
        pytest.param("https://api.exa mple.invalid/v1", id="space"),
        pytest.param("", id="empty"),
    ],
)
def test_base_url_that_is_not_an_http_url_is_a_config_error(base_url: str) -> None:
    data = config_dict()
    data["providers"]["alpha"] |= {"base_url": base_url, "api_key": "https://api.openai.com/v1"}
    with pytest.raises(ConfigurationError) as info:
        RouterConfig.from_mapping(data)
    message = str(info.value)
    assert "providers.alpha.base_url: must be an http:// or https:// URL" in message
    assert KEY not in message


@pytest.mark.parametrize("cls", [OpenAIProvider, AnthropicProvider])
def test_provider_built_in_python_checks_its_base_url(
    cls: type[OpenAIProvider] | type[AnthropicProvider],
) -> None:
    with pytest.raises(ConfigurationError) as info:
        cls(name="p", base_url=KEY, api_key="https://api.example.invalid")
    assert "provider 'p': base_url must be an http:// or https:// URL" in str(info.value)
    assert KEY not in str(info.value)


@pytest.mark.parametrize(
    "base_url",
    ["https://api.example.invalid/v1", "http://127.0.0.1:8080", "HTTPS://Example.invalid/"],
)
def test_http_urls_are_accepted(base_url: str) -> None:
    data = config_dict()
    data["providers"]["alpha"]["base_url"] = base_url
    assert RouterConfig.from_mapping(data).providers["alpha"].base_url == base_url
