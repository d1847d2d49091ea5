"""The public surface is pinned: a change to it must be deliberate."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import agentroute
import agentroute.testing

EXPECTED = {
    "AgentRouteError",
    "AllAttemptsFailed",
    "Attempt",
    "AttemptOutcome",
    "AuthenticationFailed",
    "BadRequest",
    "BaseProvider",
    "BudgetExceeded",
    "CallMode",
    "CallNext",
    "Cause",
    "Clock",
    "ConfigurationError",
    "ContentPolicyRefusal",
    "ContentRules",
    "ContextWindowExceeded",
    "Decision",
    "Deployment",
    "HybridClassifier",
    "MemoryStateStore",
    "Message",
    "Middleware",
    "ModelCall",
    "ModelNotFound",
    "ModelResult",
    "Policy",
    "Provider",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderTimeout",
    "ProviderUnavailable",
    "RateLimited",
    "RoutedStream",
    "Router",
    "RouterConfig",
    "Secret",
    "Session",
    "SessionState",
    "Signals",
    "StateStore",
    "StepLimitExceeded",
    "StreamChunk",
    "StreamInterrupted",
    "SwitchCost",
    "SystemClock",
    "Target",
    "ToolCall",
    "ToolCallDelta",
    "ToolErrorDetector",
    "ToolErrorSpec",
    "ToolResult",
    "Usage",
    "UsageOf",
    "Validator",
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


def public_modules() -> list[str]:
    """Every module of the package whose dotted path has no component starting with ``_``."""
    return sorted(
        info.name
        for info in pkgutil.walk_packages(agentroute.__path__, "agentroute.")
        if not any(part.startswith("_") for part in info.name.split("."))
    )


def test_the_walk_finds_the_public_modules_and_not_the_private_ones() -> None:
    modules = public_modules()
    assert {"agentroute.router", "agentroute.sim.server", "agentroute.telemetry"} <= set(modules)
    assert "agentroute.integrations.pydantic_ai" in modules
    assert not [m for m in modules if "._" in m]
    assert len(modules) > 60


@pytest.mark.parametrize("name", public_modules())
def test_every_public_module_declares_all_and_every_name_in_it_exists(name: str) -> None:
    try:
        module = importlib.import_module(name)
    except ImportError as exc:  # an integration whose optional extra is not installed
        pytest.skip(f"{name} needs an optional extra: {exc}")
    assert "__all__" in vars(module), f"{name} has no __all__"
    exported = module.__all__
    assert isinstance(exported, list | tuple) and all(isinstance(n, str) for n in exported)
    assert len(set(exported)) == len(exported), f"{name}.__all__ repeats a name"
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names what it does not have: {missing}"


def test_the_names_users_handle_come_from_the_package_itself() -> None:
    # what used to need a private module: a streamed tool call's pieces, a config secret
    from agentroute._secrets import Secret
    from agentroute._types import ToolCallDelta

    assert agentroute.Secret is Secret and agentroute.ToolCallDelta is ToolCallDelta
    chunk = agentroute.StreamChunk(tool_calls=(agentroute.ToolCallDelta(0, "c1", "f", "{"),))
    assert chunk.tool_calls[0].arguments == "{"
    assert agentroute.Secret.parse("env:X").display == "env:X"


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
