"""The tree's shape is part of the design: imports run one way and modules stay small.

These read the source with ``ast`` (imports inside functions included), so a cycle or an
oversized module fails here rather than in a reviewer's head.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("core", "plugins", "migrations")
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for top in PRODUCT:
        for path in (ROOT / top).rglob("*.py"):
            found[_module_name(path)] = path
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Product modules that ``name`` imports anywhere in its text."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                if node.level > 1:
                    base = base[: len(base) - (node.level - 1)]
                base_name = ".".join(base)
                mod = f"{base_name}.{node.module}" if node.module else base_name
            else:
                mod = node.module or ""
            # ``from pkg import mod`` imports the submodule; ``from mod import name`` the module
            candidates = [f"{mod}.{alias.name}" if f"{mod}.{alias.name}" in known else mod
                          for alias in node.names]
        else:
            continue
        for cand in candidates:
            # the longest known prefix is the module actually imported
            while cand and cand not in known:
                cand = cand.rpartition(".")[0]
            if cand and cand != name:
                targets.add(cand)
    return targets


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    graph = {name: _imports(name, path, known) for name, path in modules.items()}
    # importing a.b.c runs a and a.b first; a package's own __init__ importing its children
    # is the face of the package, not a cycle, so parents are not added as edges here.
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return result


def _is_face_edge(a: str, b: str) -> bool:
    """A package ``__init__`` re-exporting its own submodule (``core.graph`` -> ``core.graph.embedded``)."""
    return b.startswith(a + ".")


def test_no_import_cycles():
    graph = {a: {b for b in bs if not _is_face_edge(a, b)} for a, bs in _graph().items()}
    assert _cycles(graph) == []


def test_no_module_over_400_lines():
    long = {name: n for name, path in _modules().items()
            if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_core_imports_no_plugin():
    offenders = {a: sorted(b for b in bs if b.startswith("plugins"))
                 for a, bs in _graph().items() if a.startswith("core")}
    assert {a: bs for a, bs in offenders.items() if bs} == {}


@pytest.mark.parametrize("plugin", sorted(p.name for p in (ROOT / "plugins").iterdir()
                                          if (p / "__init__.py").exists()))
def test_plugins_import_no_other_plugin(plugin):
    own = f"plugins.{plugin}"
    offenders = {a: sorted(b for b in bs if b.startswith("plugins.") and not
                           (b == own or b.startswith(own + ".")))
                 for a, bs in _graph().items() if a == own or a.startswith(own + ".")}
    assert {a: bs for a, bs in offenders.items() if bs} == {}
