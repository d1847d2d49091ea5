"""README Quickstart section 1 is examples/quickstart_wrap.py's code, and runs as printed.

The example file holds, between two marker lines, exactly the README's code block; run
offline against the simulator (as ``.ci/run`` runs every example), it prints exactly the
output the README shows.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "examples" / "quickstart_wrap.py"
HEADING = "### 1. Wrap the call function your agent already has"
BEGIN = f'# --- README.md Quickstart "{HEADING}" (begin) ---'
END = "# --- README.md Quickstart (end) ---"


def readme_blocks() -> list[tuple[str, str]]:
    """(language, text) of each fenced block in README's Quickstart section 1."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split(f"\n{HEADING}\n", 1)[1].split("\n### ", 1)[0]
    return re.findall(r"^```(\w*)\n(.*?)^```$", section, flags=re.DOTALL | re.MULTILINE)


def example_block() -> str:
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)
    begin, end = lines.index(BEGIN + "\n"), lines.index(END + "\n")
    return "".join(lines[begin + 1 : end]).strip("\n") + "\n"


def load_example() -> ModuleType:
    """A fresh copy of the example module (its SDK clients belong to one event loop)."""
    spec = importlib.util.spec_from_file_location("quickstart_wrap", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_block_is_the_example_code() -> None:
    python = [text for lang, text in readme_blocks() if lang == "python"]
    assert python, f"no python block under {HEADING!r}"
    assert python[0] == example_block()


def test_the_readme_code_is_real_code() -> None:
    """No pseudo code: the official SDK with its retries off, a tool loop, a session."""
    code = example_block()
    assert "clients.for_url" not in code
    assert "openai.AsyncOpenAI(" in code and "max_retries=0" in code
    assert "router.wrap(call_llm)" in code and "router.session(" in code
    assert "s.decisions" in code and "s.cost_usd" in code
    compile(code, "README quickstart", "exec")


async def test_the_example_runs_offline_and_prints_what_the_readme_shows(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHEAPCLOUD_API_KEY", "sk-sim-cheap")
    monkeypatch.setenv("BIGCLOUD_API_KEY", "sk-sim-big")
    example = load_example()
    await example.offline()
    printed = capsys.readouterr().out
    shown = [text for lang, text in readme_blocks() if lang == ""]
    assert shown, f"no output block under {HEADING!r}"
    assert printed == shown[0]
    # per-step routing: the tool error moved the second step up a tier
    assert "step 1: simple (start)" in printed and "step 2: complex" in printed
