"""The public surface is pinned: a change to it must be deliberate."""

from __future__ import annotations

import agentroute
import agentroute.testing

EXPECTED = {
    "AgentRouteError",
    "AllAttemptsFailed",
    "Attempt",
    "AuthenticationFailed",
    "BadRequest",
    "BudgetExceeded",
    "CallNext",
    "Cause",
    "ConfigurationError",
    "ContentPolicyRefusal",
    "ContextWindowExceeded",
    "Decision",
    "Deployment",
    "Middleware",
    "ModelCall",
    "ModelNotFound",
    "ModelResult",
    "Provider",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderTimeout",
    "ProviderUnavailable",
    "RateLimited",
    "RoutedStream",
    "Router",
    "RouterConfig",
    "Session",
    "SessionState",
    "Signals",
    "StepLimitExceeded",
    "StreamChunk",
    "StreamInterrupted",
    "SwitchCost",
    "Target",
    "ToolCall",
    "ToolResult",
    "Usage",
    "__version__",
    "build_chain",
    "current_session",
    "load_config",
}


def test_all_is_pinned() -> None:
    assert set(agentroute.__all__) == EXPECTED
    assert len(agentroute.__all__) == len(EXPECTED)


def test_every_public_name_exists() -> None:
    for name in agentroute.__all__:
        assert hasattr(agentroute, name), name
    for name in agentroute.testing.__all__:
        assert hasattr(agentroute.testing, name), name


def test_package_is_typed() -> None:
    from importlib.resources import files

    assert files("agentroute").joinpath("py.typed").is_file()


def test_import_does_not_pull_in_the_cli_the_otel_sdk_or_a_framework() -> None:
    # (rich and click are not checked: structlog.dev imports rich, and httpx imports its own
    # CLI (click, pygments, rich) whenever they are installed)
    import subprocess
    import sys

    code = (
        "import sys, agentroute; "
        "bad = [m for m in ('opentelemetry.sdk', 'agentroute.cli', 'openai', 'anthropic', "
        "'agentroute.integrations', 'pydantic_ai', 'langchain', 'langchain_core', 'langgraph', "
        "'agents', 'litellm') if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_suite_cannot_reach_the_network() -> None:
    import socket

    import pytest

    with socket.socket() as s, pytest.raises(RuntimeError, match="must not reach the network"):
        s.connect(("192.0.2.1", 443))
