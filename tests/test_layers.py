"""The layers contract: agentroute's modules import downward only, and never in a cycle.

Every module under ``agentroute/`` is parsed with :mod:`ast` and *all* its imports count: top
level ones, those under ``if TYPE_CHECKING:`` and those inside functions (a lazy import is
still a dependency; it only moves the cost). Relative imports are resolved against the
importing package; ``from a.b import c`` is an edge to ``a.b.c`` when that is a module, else
to ``a.b``; ``import a.b.c`` is an edge to ``a.b.c``; ``importlib.import_module("a.b")`` with a
literal name counts too. The parent packages Python runs on the way (``a`` and ``a.b`` for
``import a.b.c``) are not edges: a package's ``__init__`` always starts before its children,
so counting them would only report cycles that cannot happen.

Two rules, each failing with the edge and its layers named:

- an import goes to a module of the same layer or of a lower one (:data:`LAYERS`);
- the module graph has no cycle (the failure shows the cycle's path).

:data:`KNOWN` lists today's violations that need a redesign, each with its reason. They are
exempt from both rules, and each must still be needed (the edge still exists and is still
upward or on a cycle): the list only shrinks. A new module must be given a layer here.

This is an ``ast`` test rather than an import-linter contract so that it needs no new tool in
the dev extras and so that it can say under which condition (top level, ``TYPE_CHECKING``,
function) each offending import is made.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "agentroute"

LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # Value types and protocols, and the leaf helpers they and every other layer use: the
    # chain's value objects and protocols, the error tree, secrets, message reading, the clock.
    (
        "foundation",
        (
            "agentroute._async_callable",
            "agentroute._chain",
            "agentroute._deadline",
            "agentroute._error_scrub",
            "agentroute._frozen",
            "agentroute._history_marks",
            "agentroute._json_text",
            "agentroute._pin_event",
            "agentroute._secrets",
            "agentroute._types",
            "agentroute._urls",
            "agentroute._version",
            "agentroute.clock",
            "agentroute.errors",
            "agentroute.messages",
        ),
    ),
    # The validated configuration, the model catalog built from it, prices, and the router as
    # the integrations see it (its config, wrap() and bind_session(): a protocol).
    (
        "configuration",
        (
            "agentroute._catalog",
            "agentroute._router_like",
            "agentroute.config",
            "agentroute.config.*",
            "agentroute.pricing",
        ),
    ),
    # What the middleware steps are built from: the policy (signals, scores), the providers
    # and call shapes, session state and the state stores, telemetry; and the one rule for a
    # caught exception (translated by the providers' classifier, masked), which all of them use.
    (
        "services",
        (
            "agentroute._call_checks",
            "agentroute._call_shape",
            "agentroute._error_translation",
            "agentroute._sdk_retries",
            "agentroute.implicit_sessions",
            "agentroute.policy",
            "agentroute.policy.*",
            "agentroute.providers",
            "agentroute.providers.*",
            "agentroute.session",
            "agentroute.shadow.answer",  # shadow routing's pure parts, like the policy
            "agentroute.shadow.compare",
            "agentroute.shadow.ledger",
            "agentroute.state",
            "agentroute.state.*",
            "agentroute.telemetry",
            "agentroute.telemetry.*",
        ),
    ),
    # The chain's steps: routing, affinity, budget, validation, fallback; and shadow routing's
    # step and runner (what reads and compares answers is pure: a service).
    (
        "middleware",
        (
            "agentroute.middleware",
            "agentroute.middleware.*",
            "agentroute.shadow",
            "agentroute.shadow._host",
            "agentroute.shadow.runner",
            "agentroute.shadow.step",
        ),
    ),
    # The router, what it assembles per call, the SDK stand-ins it hands out
    # (Router.openai_client(), .anthropic_client(): typed against the RouterLike protocol, they
    # import nothing of the router) and the package's public face.
    (
        "router",
        (
            "agentroute",
            "agentroute._routed_function",
            "agentroute._steps",
            "agentroute.integrations._extras",
            "agentroute.integrations._sdk_clients",
            "agentroute.integrations.anthropic",
            "agentroute.integrations.openai",
            "agentroute.router",
            "agentroute.streaming",
        ),
    ),
    # What is built on the router: the framework integrations (the other ones), the CLI, the
    # simulator, the benchmarks, the demo, replay and the testing helpers.
    (
        "applications",
        (
            "agentroute.__main__",
            "agentroute._cli_tables",
            "agentroute.bench",
            "agentroute.bench.*",
            "agentroute.cli",
            "agentroute.demo",
            "agentroute.integrations",
            "agentroute.integrations._pydantic_ai_view",
            "agentroute.integrations.langchain",
            "agentroute.integrations.openai_agents",
            "agentroute.integrations.pydantic_ai",
            "agentroute.replay",
            "agentroute.sim",
            "agentroute.sim.*",
            "agentroute.testing",
        ),
    ),
)
"""The layers, bottom first, each with the modules it holds (``pkg.*``: every module below
``pkg``). A module may import from its own layer and the ones before it."""

KNOWN: Mapping[tuple[str, str], str] = {}
"""Edges (importer, imported) that break a rule today, with why they need more than a move."""


@dataclass(frozen=True)
class Import:
    """One import of an agentroute module by another."""

    target: str
    line: int
    where: str
    """``top level``, ``under TYPE_CHECKING`` or ``in a function``."""


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    is_package: bool


def discover(package_dir: Path = PACKAGE_DIR) -> dict[str, Module]:
    """Every module under ``package_dir``, by dotted name."""
    modules: dict[str, Module] = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        name = ".".join(parts)
        modules[name] = Module(name, path, is_package)
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, where: str) -> Iterator[tuple[ast.AST, str]]:
    """Every node below ``node`` with the condition it runs under."""
    for child in ast.iter_child_nodes(node):
        inner = where
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            inner = "in a function"
        elif isinstance(child, ast.If) and _is_type_checking(child.test) and where == "top level":
            yield child, where
            for stmt in child.body:
                yield stmt, "under TYPE_CHECKING"
                yield from _walk(stmt, "under TYPE_CHECKING")
            for stmt in child.orelse:
                yield stmt, where
                yield from _walk(stmt, where)
            continue
        yield child, inner
        yield from _walk(child, inner)


def imports_of(
    source: str, name: str, *, is_package: bool, known: Mapping[str, object]
) -> list[Import]:
    """The imports of modules in ``known`` that the module ``name`` (source ``source``) makes."""

    def owner(dotted: str) -> str | None:
        while dotted and dotted not in known:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    package = name if is_package else name.rpartition(".")[0]
    found: list[Import] = []
    for node, where in _walk(ast.parse(source), "top level"):
        targets: list[str | None] = []
        if isinstance(node, ast.Import):
            targets = [owner(alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source_module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source_module = node.module or ""
            for alias in node.names:
                child = f"{source_module}.{alias.name}"
                targets.append(child if child in known else owner(source_module))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
            == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            targets = [owner(node.args[0].value)]
        line = getattr(node, "lineno", 0)
        found += [Import(t, line, where) for t in targets if t is not None and t != name]
    return found


def import_graph(modules: Mapping[str, Module]) -> dict[str, dict[str, Import]]:
    """importer -> imported -> the first import that makes the edge."""
    graph: dict[str, dict[str, Import]] = {}
    for module in modules.values():
        edges: dict[str, Import] = {}
        source = module.path.read_text(encoding="utf-8")
        for imp in imports_of(source, module.name, is_package=module.is_package, known=modules):
            edges.setdefault(imp.target, imp)
        graph[module.name] = edges
    return graph


def layer_of(module: str) -> int | None:
    """The index in :data:`LAYERS` of the layer holding ``module`` (``None``: unplaced)."""
    for index, (_, patterns) in enumerate(LAYERS):
        for pattern in patterns:
            if pattern == module or (pattern.endswith(".*") and module.startswith(pattern[:-1])):
                return index
    return None


def find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """One cycle of ``graph`` (node -> iterable of nodes) as a path that ends where it starts."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)) is not None:
            return cycle
    return None


def reaches(graph: Mapping[str, Mapping[str, object]], start: str, goal: str) -> bool:
    seen, todo = {start}, [start]
    while todo:
        for nxt in graph.get(todo.pop(), {}):
            if nxt == goal:
                return True
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return False


MODULES = discover()
GRAPH = import_graph(MODULES)


def _describe(importer: str, imp: Import) -> str:
    def named(module: str) -> str:
        index = layer_of(module)
        return f"{module} ({LAYERS[index][0] if index is not None else 'no layer'})"

    return f"{named(importer)} imports {named(imp.target)} {imp.where}, line {imp.line}"


def test_every_module_has_a_layer() -> None:
    unplaced = sorted(name for name in MODULES if layer_of(name) is None)
    if unplaced:
        pytest.fail(f"give these modules a layer in tests/test_layers.py LAYERS: {unplaced}")
    doubly = [
        name
        for name in MODULES
        if sum(
            pattern == name or (pattern.endswith(".*") and name.startswith(pattern[:-1]))
            for _, patterns in LAYERS
            for pattern in patterns
        )
        > 1
    ]
    if doubly:
        pytest.fail(f"modules placed in more than one layer: {doubly}")
    stale = [
        pattern
        for _, patterns in LAYERS
        for pattern in patterns
        if pattern.removesuffix(".*") not in MODULES
    ]
    if stale:
        pytest.fail(f"LAYERS names modules that do not exist: {stale}")


def test_no_upward_import() -> None:
    upward = [
        _describe(importer, imp)
        for importer, edges in GRAPH.items()
        for imp in edges.values()
        if (importer, imp.target) not in KNOWN
        and (layer_of(imp.target) or 0) > (layer_of(importer) or 0)
    ]
    if upward:
        pytest.fail(
            "upward imports (a module may import only its own layer and the ones below; move "
            "the shared piece down instead):\n  " + "\n  ".join(upward),
            pytrace=False,
        )


def test_no_cycle() -> None:
    graph = {
        importer: {t for t in edges if (importer, t) not in KNOWN}
        for importer, edges in GRAPH.items()
    }
    cycle = find_cycle(graph)
    if cycle is not None:
        pytest.fail(
            "import cycle:\n  "
            + "\n  ".join(_describe(a, GRAPH[a][b]) for a, b in itertools.pairwise(cycle)),
            pytrace=False,
        )


def test_every_known_violation_is_still_needed() -> None:
    """The allowlist only shrinks (it is empty now: keep it so)."""
    for (importer, imported), reason in sorted(KNOWN.items()):
        if imported not in GRAPH.get(importer, {}):
            pytest.fail(f"{importer} no longer imports {imported}: remove it from KNOWN")
        upward = (layer_of(imported) or 0) > (layer_of(importer) or 0)
        if not upward and not reaches(GRAPH, imported, importer):
            pytest.fail(
                f"{importer} -> {imported} is neither upward nor on a cycle any more: remove "
                "it from KNOWN"
            )
        assert reason


# The checker itself: it must see every kind of import, or the contract above proves nothing.

_SAMPLE = """
from __future__ import annotations
import importlib
import typing
from typing import TYPE_CHECKING
import pkg.low
from . import sibling
from .deep import helper
from ..top import thing
from pkg.sub import deep as also_deep

if TYPE_CHECKING:
    from pkg.high import HighType
else:
    import pkg.other

if typing.TYPE_CHECKING:
    import pkg.sub

def lazy() -> None:
    from pkg.lazy import later
    importlib.import_module("pkg.dynamic")
"""


def test_the_checker_sees_every_kind_of_import() -> None:
    known = dict.fromkeys(
        [
            "pkg",
            "pkg.low",
            "pkg.high",
            "pkg.other",
            "pkg.lazy",
            "pkg.dynamic",
            "pkg.top",
            "pkg.sub",
            "pkg.sub.sibling",
            "pkg.sub.deep",
            "pkg.sub.mod",
        ]
    )
    found = {
        (i.target, i.where)
        for i in imports_of(_SAMPLE, "pkg.sub.mod", is_package=False, known=known)
    }
    assert found == {
        ("pkg.low", "top level"),
        ("pkg.sub.sibling", "top level"),
        ("pkg.sub.deep", "top level"),
        ("pkg.top", "top level"),
        ("pkg.high", "under TYPE_CHECKING"),
        ("pkg.other", "top level"),
        ("pkg.sub", "under TYPE_CHECKING"),
        ("pkg.lazy", "in a function"),
        ("pkg.dynamic", "in a function"),
    }


def test_the_checker_finds_a_cycle_and_its_path() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert layer_of("agentroute.router") == layer_of("agentroute._steps")
    assert (layer_of("agentroute.errors") or 0) < (layer_of("agentroute.middleware.budget") or 0)
    assert layer_of("agentroute.no_such_module_here.x") is None
