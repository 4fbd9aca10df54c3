"""The import graph of ``nnv.core``: no cycles, no solver library, no plugin or CLI module.

Every import counts, wherever it stands: at the top, inside a function, under
``if TYPE_CHECKING``. A deferred import hides a cycle from the interpreter but not from a
reader, so it is a cycle here. An import of a name is an edge to the module that defines it:
``from nnv.core import Network`` leads to ``nnv.core.model.network``, not to the package's
``__init__`` that re-exports it. The graph is read from the source (``ast``), so nothing is
imported to build it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "core"
PACKAGE = "nnv.core"
SOLVER_LIBRARIES = ("highspy", "z3", "cvc5", "pyomo")
FORBIDDEN_PACKAGES = ("nnv.plugins", "nnv.cli")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(CORE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([PACKAGE, *parts])


@cache
def _sources() -> dict[str, Path]:
    """Every module of nnv.core by its dotted name."""
    return {_module_name(path): path for path in sorted(CORE.rglob("*.py"))}


def _is_package(module: str) -> bool:
    return _sources()[module].name == "__init__.py"


@dataclass
class _Module:
    """What one module defines itself and what it takes from elsewhere."""

    defined: set[str] = field(default_factory=set)
    # name bound here -> (module it was imported from, the name there); None for a module
    imported: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    # (line, module imported from, names imported or None for ``import x``)
    statements: list[tuple[int, str, tuple[str, ...] | None]] = field(default_factory=list)


def _absolute(module: str, level: int, target: str | None) -> str:
    """The dotted name a relative import in ``module`` refers to."""
    if level == 0:
        return target or ""
    base = module.split(".") if _is_package(module) else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, target] if target else base)


@cache
def _parse(module: str) -> _Module:
    tree = ast.parse(_sources()[module].read_text(), filename=str(_sources()[module]))
    found = _Module()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.statements.append((node.lineno, alias.name, None))
                bound = alias.asname or alias.name.split(".")[0]
                found.imported[bound] = (alias.name if alias.asname else bound, None)
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(module, node.level, node.module)
            names = tuple(alias.name for alias in node.names)
            found.statements.append((node.lineno, source, names))
            for alias in node.names:
                found.imported[alias.asname or alias.name] = (source, alias.name)
    for node in tree.body:  # what the module itself defines at its top level
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found.defined.add(node.name)
        elif isinstance(node, ast.Assign):
            found.defined.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            found.defined.add(node.target.id)
    return found


def _defining_module(module: str, name: str, seen: frozenset[str] = frozenset()) -> str:
    """The core module that defines ``name`` as ``module`` exports it (through re-exports)."""
    submodule = f"{module}.{name}"
    if submodule in _sources():
        return submodule
    parsed = _parse(module)
    if name in parsed.defined or module in seen:
        return module
    origin = parsed.imported.get(name)
    if origin is None or origin[1] is None or origin[0] not in _sources():
        return module
    return _defining_module(origin[0], origin[1], seen | {module})


def _edges(module: str) -> Iterator[tuple[int, str]]:
    """(line, imported module) for every import in ``module``, to the defining modules."""
    for line, source, names in _parse(module).statements:
        if source not in _sources():
            yield line, source
        elif names is None:
            yield line, source
        else:
            for name in names:
                yield line, _defining_module(source, name)


def _graph() -> dict[str, set[str]]:
    """Core module -> the core modules it imports (itself excluded)."""
    return {
        module: {target for _, target in _edges(module) if target in _sources()} - {module}
        for module in _sources()
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def _describe(component: list[str], graph: dict[str, set[str]]) -> str:
    members = set(component)
    return "; ".join(
        f"{module} -> {', '.join(sorted(graph[module] & members))}" for module in component
    )


def test_the_graph_is_read_from_every_kind_of_import() -> None:
    """The walker itself: relative, deferred and TYPE_CHECKING imports and re-exports count."""
    graph = _graph()
    assert len(graph) > 40
    # a re-export from the package's __init__ leads to the defining module
    assert _defining_module(PACKAGE, "Network") == "nnv.core.model.network"
    assert _defining_module(PACKAGE, "hookimpl") == "nnv.core.plugin.hookspecs"
    # a module imported as a name of its package
    assert _defining_module("nnv.core.plugin", "hookspecs") == "nnv.core.plugin.hookspecs"
    assert _absolute("nnv.core.verify.verifier", 2, "bounds") == "nnv.core.bounds"
    assert _absolute("nnv.core.query", 1, "form") == "nnv.core.query.form"
    assert "nnv.core.query.form" in graph["nnv.core.plugin.solver"]
    # a cycle through any of them is found
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_core_has_no_import_cycle() -> None:
    graph = _graph()
    cycles = _cycles(graph)
    assert not cycles, "import cycles in nnv.core: " + " | ".join(
        _describe(component, graph) for component in cycles
    )


@pytest.mark.parametrize("module", sorted(_sources()))
def test_core_imports_no_solver_library_plugin_or_cli(module: str) -> None:
    """Core meets solvers only through the Solver interface, and never names a plugin."""
    bad = [
        f"line {line}: {target}"
        for line, target in _edges(module)
        if target.split(".")[0] in SOLVER_LIBRARIES
        or any(target == p or target.startswith(p + ".") for p in FORBIDDEN_PACKAGES)
        or target in ("nnv", "nnv.plugins", "nnv.cli")
    ]
    assert not bad, f"{module} imports {', '.join(bad)}"
