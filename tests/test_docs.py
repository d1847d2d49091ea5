"""The design document lives in the repository, and the code points at it, not elsewhere.

``docs/architecture.md`` describes the codebase as it is; docstrings, comments and strings cite
its sections by heading, as ``(docs/architecture.md, "Resilience")``. These tests keep that
true: the document has its sections, every such reference names a heading that exists, and no
file cites the founding design document (kept outside the repository) by section number.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"

SCANNED_DIRS = ("agentroute", "tests", "benchmarks", "examples", "docs")
SCANNED_FILES = ("README.md",)
TEXT_SUFFIXES = frozenset({".py", ".md", ".yaml", ".yml", ".toml", ".txt", ".json", ".cfg"})

REQUIRED_SECTIONS = (
    "Call path",
    "Layers",
    "State ownership",
    "Telemetry",
    "Errors",
    "Resilience",
    "Streaming",
    "Integrations",
    "Extension points",
    "How to add a signal",
    "How to add a provider",
    "How to add a middleware",
    "Known debt",
)

# Built from two pieces so that this file does not contain the citation it looks for.
CITATION = "DESIGN" + " §"

REFERENCE = re.compile(r"docs/architecture\.md,\s+([\"'])(.+?)\1", re.DOTALL)
"""``docs/architecture.md, "Heading"`` (either quote), possibly wrapped onto the next line."""
ANCHOR = re.compile(r"docs/architecture\.md#([A-Za-z0-9_-]+)")
"""A markdown link to a heading: ``docs/architecture.md#call-path``."""


def headings(markdown: str) -> list[str]:
    """Every ATX heading's text (any level), in order; fenced code blocks are skipped."""
    found: list[str] = []
    fenced = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (match := re.match(r"#{1,6} +(.+?) *#* *$", line)):
            found.append(match.group(1))
    return found


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def scanned_files() -> Iterator[Path]:
    for name in SCANNED_DIRS:
        for path in sorted((ROOT / name).rglob("*")):
            if path.is_file() and path.suffix in TEXT_SUFFIXES and "__pycache__" not in path.parts:
                yield path
    for name in SCANNED_FILES:
        yield ROOT / name


def normalized(text: str) -> str:
    """A wrapped reference read as one line: a comment's ``#`` continuation and the leading
    whitespace of the next line become one space."""
    return re.sub(r"\s*\n\s*(?:#\s*)?", " ", text)


def test_the_architecture_document_has_its_sections() -> None:
    assert DOC.is_file(), "docs/architecture.md is missing"
    present = headings(DOC.read_text(encoding="utf-8"))
    missing = [s for s in REQUIRED_SECTIONS if s not in present]
    assert not missing, f"docs/architecture.md lacks the sections {missing}"
    assert len(present) == len(set(present)), "two headings with the same text: ambiguous refs"


def test_no_file_cites_the_founding_design_by_section() -> None:
    citing = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in scanned_files()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if CITATION in line
    ]
    assert not citing, f"cite docs/architecture.md instead of {CITATION}n: {citing}"


def test_every_reference_to_the_document_names_one_of_its_headings() -> None:
    present = headings(DOC.read_text(encoding="utf-8"))
    anchors = {slug(h) for h in present}
    seen = 0
    broken: list[str] = []
    for path in scanned_files():
        if path == Path(__file__).resolve():
            continue  # its docstrings show the pattern with made-up headings
        text = normalized(path.read_text(encoding="utf-8"))
        for match in REFERENCE.finditer(text):
            seen += 1
            if match.group(2) not in present:
                broken.append(f"{path.relative_to(ROOT)}: {match.group(2)!r}")
        for match in ANCHOR.finditer(text):
            seen += 1
            if match.group(1) not in anchors:
                broken.append(f"{path.relative_to(ROOT)}: #{match.group(1)}")
    assert not broken, f"references to headings docs/architecture.md does not have: {broken}"
    assert seen >= 10, f"only {seen} references found: is the pattern still the one in use?"


def test_the_reference_checks_catch_what_they_are_for() -> None:
    """The helpers above find a heading, a wrapped reference and a wrong one."""
    assert headings("# T\n\n## Call path\n```\n## not a heading\n```\n### Sub #\n") == [
        "T",
        "Call path",
        "Sub",
    ]
    wrapped = normalized('pointer (docs/architecture.md,\n    "Call\n    # path") here')
    assert [m.group(2) for m in REFERENCE.finditer(wrapped)] == ["Call path"]
    assert slug("How to add a signal") == "how-to-add-a-signal"
    assert CITATION not in Path(__file__).read_text(encoding="utf-8")
