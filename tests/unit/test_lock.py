"""The installed libraries are the locked ones: a fresh install gets exactly what CI tested.

``requirements.lock`` is pip-compile's output for ``pyproject.toml`` with the dev extra; the
README's install commands pass it as ``-c``. A version that differs here means the environment
was installed around the lock (or the lock was edited by hand without refreshing)."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

LOCK = Path(__file__).resolve().parents[2] / "requirements.lock"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        match = PIN.match(line)
        if match:
            pins[_canonical(match.group(1))] = match.group(2)
    return pins


def installed() -> dict[str, str]:
    return {_canonical(dist.metadata["Name"]): dist.version for dist in metadata.distributions()
            if dist.metadata["Name"]}


def test_the_lock_pins_every_dependency_of_the_project():
    pins = locked()
    assert len(pins) > 50
    for name in ("flask", "rq", "redis", "pymongo", "mongoengine", "oso", "pycrdt", "pytest"):
        assert name in pins, f"{name} is not pinned in {LOCK.name}"


def test_every_installed_library_is_the_locked_version():
    have = installed()
    wrong = {name: (version, have.get(name, "not installed")) for name, version in locked().items()
             if have.get(name) != version}
    assert not wrong, (
        f"installed versions differ from {LOCK.name} (locked, installed): {wrong}; install with "
        f"`pip install -c requirements.lock -e '.[dev]'`, or refresh the lock as the README says")
