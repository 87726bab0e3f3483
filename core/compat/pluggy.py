"""pluggy's call of a chosen list of implementations (``PluginManager._hookexec``, pluggy 1.x).

Why no public API serves: ``hook(**kwargs)`` calls every implementation in one go and stops at
the first exception; ``hook.call_extra`` adds implementations but cannot leave any out. Calling
one implementation (with the wrappers around it) through pluggy's own executor keeps wrappers,
``firstresult`` and argument checking exactly as pluggy does them, one plugin at a time."""

from __future__ import annotations

from typing import Any


def call_implementations(pm, hook: str, impls: list, kwargs: dict[str, Any]) -> list:
    """The answers of ``impls`` (an implementation plus the wrappers around it) for ``hook``."""
    return pm._hookexec(hook, impls, kwargs, False)
