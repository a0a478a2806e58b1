"""The package's import graph: no cycles anywhere, and a pure core that imports no I/O library.

Every module under ``sesmon/`` is parsed (not imported), and every import statement counts: module
level, inside functions, and under ``if TYPE_CHECKING:``. A type-only import does not run, but it is
still a dependency a reader has to follow, and a cycle through one becomes a runtime cycle the day
someone moves the import out of the guard. Implicit edges to parent packages (importing
``sesmon.events.records`` runs ``sesmon/events/__init__.py``) are not added: a package that re-exports
its own submodules would otherwise always form a cycle with them.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "sesmon"

# The pure core (docs/ARCHITECTURE.md#dependency-rules): parsing, windows, rates, rules, payload
# rendering, the status page, and the types and config they share. Time is an argument, never a call.
PURE_CORE = (
    "sesmon.alerts.render",
    "sesmon.alerts.routing",
    "sesmon.alerts.templates",
    "sesmon.batch",
    "sesmon.config",
    "sesmon.cloudformation",
    "sesmon.counting",
    "sesmon.demo.scenarios",
    "sesmon.denominators",
    "sesmon.demo.traffic",
    "sesmon.denominators",
    "sesmon.dnsauth",
    "sesmon.durations",
    "sesmon.events",
    "sesmon.globs",
    "sesmon.iam",
    "sesmon.model",
    "sesmon.promrules",
    "sesmon.redact",
    "sesmon.rules",
    "sesmon.signals",
    "sesmon.sparkline",
    "sesmon.status",
    "sesmon.statuspage",
    "sesmon.thresholds",
    "sesmon.windows",
    "sesmon.wiring",
)
# Libraries that do I/O or run machinery of their own (by top-level package); the pure core reaches
# none of them, directly or through another sesmon module. ``mypy_boto3_*`` stubs count as boto3.
FORBIDDEN_IN_CORE = frozenset(
    {
        "apscheduler",
        "boto3",
        "botocore",
        "cheroot",
        "http",
        "httpx",
        "prometheus_client",
        "psycopg",
        "socket",
        "sqlite3",
        "waitress",
        "wsgiref",
    }
)


def forbidden(name: str) -> bool:
    top = name.split(".", maxsplit=1)[0]
    return top in FORBIDDEN_IN_CORE or top.startswith("mypy_boto3") or name.startswith("urllib.request")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def discover() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported_names(path: Path, module: str, modules: Collection[str]) -> Iterator[str]:
    """Every absolute module name ``path`` imports.

    ``from X import Y`` names module ``X.Y`` when that is a module, else module ``X`` (Y is an attribute).
    """
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # Relative: level 1 is the module's own package.
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                yield submodule if submodule in modules else source


def build_graph(modules: Mapping[str, Path]) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(edges to other sesmon modules, names imported from outside the package) per module."""
    internal: dict[str, set[str]] = {}
    external: dict[str, set[str]] = {}
    for module, path in modules.items():
        edges: set[str] = set()
        outside: set[str] = set()
        for name in imported_names(path, module, modules):
            if name == "sesmon" or name.startswith("sesmon."):
                if name != module:
                    edges.add(name)
            else:
                outside.add(name)
        internal[module] = edges
        external[module] = outside
    return internal, external


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def closure(graph: Mapping[str, set[str]], start: str) -> set[str]:
    seen = {start}
    todo = [start]
    while todo:
        for child in graph[todo.pop()]:
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return seen


MODULES = discover()
GRAPH, EXTERNAL = build_graph(MODULES)


def test_the_walk_sees_the_known_edges() -> None:
    # Guards the walker itself: a parse that found nothing would make the tests below pass vacuously.
    assert len(MODULES) > 50
    assert "sesmon.sources.sqs" in GRAPH["sesmon.ingest"]
    assert "sesmon.config" in GRAPH["sesmon.counting"]
    assert "boto3" in EXTERNAL["sesmon.sources.aws"]
    # Type-only imports count as edges too.
    assert any(
        forbidden(name) and name.startswith("mypy_boto3_sqs") for name in EXTERNAL["sesmon.sources.sqs"]
    )


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_relative_imports_resolve(tmp_path: Path) -> None:
    package = tmp_path / "sesmon" / "pkg"
    package.mkdir(parents=True)
    source = package / "mod.py"
    source.write_text("from . import sibling\nfrom ..other import thing\nfrom .. import pkg\n")
    known = {"sesmon.pkg", "sesmon.pkg.mod", "sesmon.pkg.sibling", "sesmon.other"}
    names = set(imported_names(source, "sesmon.pkg.mod", known))
    assert names == {"sesmon.pkg.sibling", "sesmon.other", "sesmon.pkg"}


def test_no_import_cycles() -> None:
    assert cycles(GRAPH) == []


@pytest.mark.parametrize("module", PURE_CORE)
def test_pure_core_imports_no_io_library(module: str) -> None:
    assert module in MODULES, f"{module} is listed as pure core but does not exist"
    reached = closure(GRAPH, module)
    offending = {
        f"{inner} imports {name}" for inner in reached for name in EXTERNAL[inner] if forbidden(name)
    }
    assert not offending, sorted(offending)
