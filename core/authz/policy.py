"""Policy files: the core rule book, plugins' files and the admin directory, loaded into Oso."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

from oso import Oso

from .resources import Content, Fields, ListReader, Project, SymbolicReader, User

POLICY_DIR = Path(__file__).parent / "policies"
DEFAULT_POLICY_FILES = (POLICY_DIR / "roles.polar", POLICY_DIR / "ownership.polar")
ROLES = ("owner", "editor", "collaborator", "viewer")

PERMISSIONS = (
    "project:view", "project:edit", "project:delete", "project:export", "project:share",
    "content:view", "content:create", "content:edit", "content:delete",
    "media:upload", "media:delete",
    "generate:image", "generate:video", "generate:voice",
    "team:invite", "team:remove", "team:edit_roles",
)


class PolicyError(Exception):
    """A policy file failed to load or cannot be applied; ``str()`` names the file and line."""


def policy_files(extra: Iterable[Path] = (), admin_dir: Path | None = None) -> list[Path]:
    return list(policy_origins(extra, admin_dir))


def policy_origins(extra: Iterable[Path] | dict = (), admin_dir: Path | None = None) -> dict[Path, str]:
    """Every policy file in load order, with where it comes from: "core", "plugin NAME", "admin".

    ``extra`` is a list of plugin files, or a mapping of file to plugin name."""
    origins: dict[Path, str] = {Path(p): "core" for p in DEFAULT_POLICY_FILES}
    named = extra if isinstance(extra, dict) else {Path(p): None for p in extra}
    for path, plugin in named.items():
        origins[Path(path)] = f"plugin {plugin}" if plugin else "plugin"
    if admin_dir:
        if not Path(admin_dir).is_dir():
            raise PolicyError(f"ALADDIN_POLICY_DIR {admin_dir} is not a directory")
        for path in sorted(Path(admin_dir).glob("*.polar")):
            origins[path] = "admin"
    return origins


def build_oso(files: Iterable[Path], sources: Iterable[tuple[str, str]] = ()) -> Oso:
    """An Oso with our classes and ``files`` loaded, then ``sources`` (``(text, name)`` pairs of
    Polar held in memory, such as ``policy explain``'s probes: no temporary file whose path
    could surface in a message)."""
    oso = Oso()
    oso.register_class(User)
    oso.register_class(ListReader)
    oso.register_class(SymbolicReader)
    oso.register_class(Project)
    oso.register_class(Content)
    oso.register_class(Fields)
    files = [str(f) for f in files]
    sources = list(sources)
    try:
        if sources:
            from polar.polar import Source

            oso._load_sources([*(Source(Path(f).read_text(), f) for f in files),
                               *(Source(text, name) for text, name in sources)])
        else:
            oso.load_files(files)
    except Exception as exc:  # polar raises several exception types, all with file:line text
        raise PolicyError(str(exc)) from exc
    return oso


_LITERAL = r'("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|true|false)'
_ATTRIBUTE_TESTS = (
    re.compile(r"\b[A-Za-z_]\w*\.(\w+)\s*(?:=|==|!=|<=|>=|<|>)\s*" + _LITERAL),
    re.compile(_LITERAL + r"\s*(?:=|==|!=|<=|>=|<|>)\s*[A-Za-z_]\w*\.(\w+)\b"),
    re.compile(r"\b[A-Za-z_]\w*\.(\w+)\s+in\s+\[([^\]]*)\]"),
)


def tested_attributes(files: Iterable[Path]) -> list[tuple[str, object]]:
    """``(attribute, value)`` for every literal a policy file compares an attribute with
    (``actor.email = "intern@studio.test"``, ``actor.level >= 3``, ``actor.team in ["a", "b"]``),
    so ``policy check`` can try an actor with that value. Over-collects (``doc.x = 1`` gives
    ``("x", 1)``): a few extra probes cost little, a missed one could hide a failing branch."""
    import json

    found: list[tuple[str, object]] = []
    for path in files:
        text = re.sub(r"#[^\n]*", "", Path(path).read_text())
        for pattern in _ATTRIBUTE_TESTS:
            for match in pattern.finditer(text):
                name, literal = match.groups() if pattern is not _ATTRIBUTE_TESTS[1] else match.groups()[::-1]
                literals = re.findall(_LITERAL, literal) if pattern is _ATTRIBUTE_TESTS[2] else [literal]
                for item in literals:
                    value = json.loads(item)
                    if (name, value) not in found:
                        found.append((name, value))
    return found
