"""Plugins loaded the way an installation loads them, by their ``aladdin.plugins`` entry point,
without installing anything: a distribution's metadata written to a temporary directory on
``sys.path`` is all ``importlib.metadata`` (and so Aladdin's plugin manager) looks at."""

from __future__ import annotations

import importlib
import importlib.metadata
import itertools
import re
import sys
import tomllib
from pathlib import Path

from ..plugins import ENTRY_POINT_GROUP


class PluginInstaller:
    """Writes fake installed distributions under ``root``; :meth:`undo` takes them off the path."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._paths: list[str] = []
        self._sites = itertools.count()

    def __call__(self, name: str, value: str, *, distribution: str | None = None, version: str = "0.0.0",
                 group: str = ENTRY_POINT_GROUP) -> importlib.metadata.Distribution:
        """An installed distribution (``aladdin-<name>`` unless named) whose entry point ``name``
        in ``group`` is ``value`` (``"package"`` or ``"package.module:object"``).

        The module itself must be importable already (your package, installed or on the path)."""
        return self._write(distribution or f"aladdin-{name}", version, {group: {name: value}})

    def from_pyproject(self, pyproject: Path | str) -> importlib.metadata.Distribution:
        """The distribution a ``pyproject.toml`` declares (name, version, every entry point), as
        if it were pip-installed; its directory (or its ``src``) is put on ``sys.path`` too."""
        pyproject = Path(pyproject)
        project = tomllib.loads(pyproject.read_text())["project"]
        source = pyproject.parent / "src" if (pyproject.parent / "src").is_dir() else pyproject.parent
        self._on_path(source)
        return self._write(project["name"], project.get("version", "0.0.0"), project.get("entry-points", {}))

    def _write(self, distribution: str, version: str, groups: dict[str, dict[str, str]]):
        site = self.root / f"site-{next(self._sites)}"
        info = site / f"{re.sub(r'[-_.]+', '_', distribution)}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text("".join(
            f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in eps.items()) + "\n"
            for group, eps in groups.items()))
        self._on_path(site)
        return importlib.metadata.distribution(distribution)

    def _on_path(self, path: Path) -> None:
        # First on the path, so this distribution wins over an installed copy of itself.
        sys.path.insert(0, str(path))
        self._paths.append(str(path))
        importlib.invalidate_caches()

    def undo(self) -> None:
        for path in self._paths:
            if path in sys.path:
                sys.path.remove(path)
        self._paths.clear()
        importlib.invalidate_caches()
