"""The plugin manager: built-ins by dotted path, then the ``aladdin.plugins`` entry points."""

from __future__ import annotations

import importlib
import importlib.metadata
import traceback
from typing import Iterable

import pluggy

from . import hookspecs

ENTRY_POINT_GROUP = "aladdin.plugins"

# Built-ins register exactly like third-party plugins: nothing here is privileged.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "core.default_auth",
    "core.default_roles",
    "plugins.film",
    "plugins.team",
    "plugins.clone",
    "plugins.export",
    "plugins.realtime",
)


class PluginLoadError(RuntimeError):
    """A plugin failed to import; the message names it and carries the original traceback."""


def plugin_name(module_path: str) -> str:
    """The short name operators use (``ALADDIN_DISABLED_PLUGINS``, ``plugins list``)."""
    return module_path.rsplit(".", 1)[-1] if module_path.startswith(("plugins.", "core.")) else module_path


def create_plugin_manager(disabled: Iterable[str] = (), *, load_entry_points: bool = True,
                          extra: Iterable[object] = ()) -> pluggy.PluginManager:
    """Register the built-ins, then the ``aladdin.plugins`` entry points, then ``extra``.

    Names in ``disabled`` are blocked before import, so an operator can start without a plugin
    that fails to import (which raises :class:`PluginLoadError`); ``check_pending()`` last makes
    a misspelled hook implementation fail here, at start-up. See docs/plugin_hooks.md."""
    pm = pluggy.PluginManager("aladdin")
    pm.add_hookspecs(hookspecs)
    disabled = set(disabled)
    for path in DEFAULT_PLUGINS:
        name = plugin_name(path)
        if name in disabled or path in disabled:
            pm.set_blocked(name)
            continue
        try:
            module = importlib.import_module(path)
        except Exception as exc:
            raise PluginLoadError(
                f"built-in plugin {name!r} ({path}) failed to import:\n{traceback.format_exc()}"
            ) from exc
        pm.register(module, name=name)
    if load_entry_points:
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in disabled:
                pm.set_blocked(ep.name)
                continue
            if pm.has_plugin(ep.name) or pm.is_blocked(ep.name):
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                raise PluginLoadError(
                    f"plugin {ep.name!r} (entry point {ep.value}) failed to import:\n"
                    f"{traceback.format_exc()}"
                ) from exc
            pm.register(plugin, name=ep.name)
    for plugin in extra:
        pm.register(plugin)
    # A hook implementation whose name matches no spec is a typo: fail at start-up.
    pm.check_pending()
    return pm


def plugin_cli_commands(pm: pluggy.PluginManager) -> tuple[list, list[PluginLoadError]]:
    """The click commands every plugin's ``aladdin_cli_commands`` returns, asked one plugin at a
    time: a plugin whose hook raises is left out and reported as a :class:`PluginLoadError`
    naming it (with its traceback), so the rest of the command line still starts."""
    commands: list = []
    errors: list[PluginLoadError] = []
    for impl in reversed(pm.hook.aladdin_cli_commands.get_hookimpls()):  # registration order
        try:
            commands.extend(impl.function() or ())
        except Exception as exc:  # noqa: BLE001 - reported by name, the others still load
            error = PluginLoadError(f"plugin {impl.plugin_name!r}: aladdin_cli_commands failed, its commands "
                                    f"are unavailable:\n{traceback.format_exc()}")
            error.__cause__ = exc
            errors.append(error)
    return commands, errors


def describe_plugins(pm: pluggy.PluginManager) -> list[dict]:
    """Name, version and implemented hooks of every registered plugin (API and CLI)."""
    dists = {}
    for dist, ep in _entry_point_dists():
        dists[ep.name] = dist
    from . import __version__ as core_version

    out = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda item: item[0]):
        if plugin is None:
            continue
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        module = getattr(plugin, "__name__", type(plugin).__name__)
        dist = dists.get(name)
        version = dist.version if dist else getattr(plugin, "__version__", core_version)
        out.append({"name": name, "module": module, "version": version, "hooks": hooks,
                    "builtin": module in DEFAULT_PLUGINS})
    return out


def _entry_point_dists():
    for dist in importlib.metadata.distributions():
        for ep in dist.entry_points:
            if ep.group == ENTRY_POINT_GROUP:
                yield dist, ep
