"""The tree's shape is part of the design: imports run one way and modules stay small.

These read the source with ``ast`` (imports inside functions included, a package's ``__init__``
included, and importing ``a.b.c`` counted as running ``a`` and ``a.b`` first, as Python does), so a
cycle or an oversized module fails here rather than in a reviewer's head.
"""
from __future__ import annotations

import ast
from collections import deque
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("core", "plugins", "migrations")
MAX_LINES = 400


def _module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules(root: Path = ROOT, tops: tuple[str, ...] = PRODUCT) -> dict[str, Path]:
    found = {}
    for top in tops:
        top_path = root / top
        paths = top_path.rglob("*.py") if top_path.is_dir() else [top_path.with_suffix(".py")]
        for path in paths:
            found[_module_name(path, root)] = path
    return found


def _ancestors(name: str) -> list[str]:
    """``a.b.c`` -> ``["a", "a.b"]``: the packages whose ``__init__`` runs before ``a.b.c``."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Product modules that importing ``name`` runs, from imports anywhere in its text.

    Importing ``a.b.c`` executes ``a`` and ``a.b`` first, so those count as imported too."""
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
            if cand:
                targets.update(m for m in (*_ancestors(cand), cand) if m in known)
    targets.discard(name)
    return targets


def _graph(root: Path = ROOT, tops: tuple[str, ...] = PRODUCT) -> dict[str, set[str]]:
    """Module -> modules it runs on import; a package's ``__init__`` -> its children are kept."""
    modules = _modules(root, tops)
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def _components(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
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
        for w in sorted(graph.get(v, ())):
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


def _package_face(component: list[str]) -> str | None:
    """The package whose ``__init__`` is in ``component`` while every other member lies inside it."""
    outer = component[0]  # sorted: a package sorts before everything inside it
    inside = all(m == outer or m.startswith(outer + ".") for m in component)
    return outer if inside else None


def _shortest_cycle(start: str, graph: dict[str, set[str]]) -> list[str]:
    """One shortest import path from ``start`` back to itself, for a readable report."""
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        v = queue.popleft()
        for w in sorted(graph.get(v, ())):
            if w == start:
                chain = [v]
                while chain[-1] != start:
                    chain.append(came_from[chain[-1]])
                return [*reversed(chain), start]
            if w not in came_from:
                came_from[w] = v
                queue.append(w)
    return []


def _rotated(cycle: list[str]) -> tuple[str, ...]:
    """``b -> a -> b`` as ``a -> b -> a``: one spelling per cycle."""
    ring = cycle[:-1]
    i = ring.index(min(ring))
    ring = ring[i:] + ring[:i]
    return (*ring, ring[0])


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Import cycles, each as one path ``a -> ... -> a``.

    The only exemption: a cycle wholly inside one package that runs through its own ``__init__``
    (``core.authz`` <-> ``core.authz.reads``: the package face re-exporting its modules). Such a
    component is checked again without that ``__init__``, so nothing else hides behind it."""
    found: list[list[str]] = []
    for component in _components(graph):
        inside = {v: graph[v] & set(component) for v in component}
        face = _package_face(component)
        if face is not None:
            found.extend(_cycles({v: inside[v] - {face} for v in component if v != face}))
            continue
        paths = {_rotated(_shortest_cycle(v, inside)) for v in component}
        real = sorted(list(p) for p in paths if _package_face(sorted(set(p))) is None)
        found.extend(real or [[*component, component[0]]])
    return found


def test_no_import_cycles():
    assert [" -> ".join(cycle) for cycle in _cycles(_graph())] == []


def _tree(root: Path, files: dict[str, str]) -> dict[str, set[str]]:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return _graph(root, tuple({name.split("/")[0].removesuffix(".py") for name in files}))


# The checker itself, on tiny synthetic trees: (files, the cycles it must report).
CHECKER_CASES = {
    # pkg/__init__ -> pkg.impl -> (inside a function) low -> pkg.reads, which runs pkg first
    "package face cycle is reported": (
        {"pkg/__init__.py": "from .impl import run\n",
         "pkg/impl.py": "def run():\n    from low import helper\n",
         "pkg/reads.py": "READ = 'read'\n",
         "low.py": "from pkg.reads import READ\n"},
        [["low", "pkg", "pkg.impl", "low"]]),
    # pkg/__init__ re-exports pkg.reads, which imports a sibling (and so runs pkg): the face
    "cycle wholly inside one package is exempt": (
        {"pkg/__init__.py": "from .reads import READ\n",
         "pkg/reads.py": "from pkg.rules import RULE\nREAD = RULE\n",
         "pkg/rules.py": "RULE = 'read'\n",
         "low.py": "import pkg\n"},
        []),
    "sibling cycle behind a package face is reported": (
        {"pkg/__init__.py": "from .a import A\n",
         "pkg/a.py": "from .b import B\nA = 1\n",
         "pkg/b.py": "def f():\n    from .a import A\n"},
        [["pkg.a", "pkg.b", "pkg.a"]]),
}


@pytest.mark.parametrize("case", sorted(CHECKER_CASES))
def test_checker(tmp_path, case):
    files, expected = CHECKER_CASES[case]
    assert _cycles(_tree(tmp_path, files)) == expected


def test_importing_a_submodule_runs_its_parent_packages(tmp_path):
    graph = _tree(tmp_path, {"pkg/__init__.py": "", "pkg/sub/__init__.py": "", "pkg/sub/deep.py": "",
                             "low.py": "def f():\n    import pkg.sub.deep\n"})
    assert graph["low"] == {"pkg", "pkg.sub", "pkg.sub.deep"}


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
