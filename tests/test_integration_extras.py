"""An integration imported without its framework says which extra installs it (an ImportError
naming ``agentroute[<extra>]``), never a bare ``No module named …``."""

from __future__ import annotations

import subprocess
import sys

import pytest

CASES = [
    ("pydantic_ai", "pydantic_ai", "pydantic-ai"),
    ("langchain", "langchain", "langchain"),
    ("openai_agents", "agents", "openai-agents"),
    ("openai", "openai", "openai"),
    ("anthropic", "anthropic", "anthropic"),
]


@pytest.mark.parametrize(("integration", "framework", "extra"), CASES)
def test_a_missing_framework_names_the_extra(integration: str, framework: str, extra: str) -> None:
    # a fresh interpreter where the framework cannot be imported (None in sys.modules)
    code = (
        f"import sys; sys.modules[{framework!r}] = None\n"
        "try:\n"
        f"    import agentroute.integrations.{integration}\n"
        "except ImportError as exc:\n"
        "    print(type(exc).__name__, '|', exc, '|', type(exc.__cause__).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    kind, message, cause = (part.strip() for part in out.stdout.split("|"))
    assert kind == "ImportError"
    assert f"pip install 'agentroute[{extra}]'" in message
    assert f"agentroute.integrations.{integration}" in message
    assert cause == "ModuleNotFoundError"


def test_the_router_method_says_it_too() -> None:
    code = (
        "import sys; sys.modules['openai'] = None\n"
        "from tests.helpers import make_router\n"
        "try:\n"
        "    make_router().openai_client()\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'agentroute[openai]'" in out.stdout
