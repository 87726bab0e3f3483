"""What the JavaScript and browser tests need on the machine, installed by the project's own
files: each npm folder's locked packages (``npm ci``: ``tests/js``, ``clients/js``,
``clients/studio``, ``tests/browser``) and Debian's Chromium (``apt-get``, as root: CI runs as
root on a fresh machine). Several xdist workers may ask at once: a file lock makes one install and
the others wait for it."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = ("chromium", "chromium-browser")


@contextmanager
def machine_lock(name: str):
    with open(Path(tempfile.gettempdir()) / f"aladdin-{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _found() -> str | None:
    return next((shutil.which(name) for name in CHROMIUM if shutil.which(name)), None)


def chromium_path() -> tuple[str | None, str]:
    """Chromium's path (installed from Debian's packages when missing and we may), or why not."""
    if _found():
        return _found(), ""
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return None, "Chromium is not installed and cannot be here (needs root and apt-get): apt-get install chromium"
    with machine_lock("chromium"):
        if not _found():
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            for command in (["apt-get", "update", "-q"],
                            ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"]):
                done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
                if done.returncode != 0:
                    raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return _found(), ""


def npm_ci(folder: Path) -> str | None:
    """None once ``folder``'s locked npm packages are installed; otherwise why they are not."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "node and npm are not on PATH"
    with machine_lock(f"npm-{folder.parent.name}-{folder.name}"):
        if not (folder / "node_modules" / ".package-lock.json").is_file():
            done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=folder, capture_output=True,
                                  text=True, timeout=900)
            if done.returncode != 0:
                return f"npm ci failed in {folder}: {done.stderr[-2000:]}"
    return None
