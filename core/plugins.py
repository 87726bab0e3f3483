"""The plugin manager: built-ins by dotted path, then the ``aladdin.plugins`` entry points."""

from __future__ import annotations

import collections
import importlib
import importlib.metadata
import logging
import threading
import traceback
from typing import Any, Iterable

import pluggy

from .compat.pluggy import call_implementations

from . import hookspecs
from .plugin_problems import (PluginProblem, PluginStartupError, import_problem, package_of,
                              raised_at as _raised_at, validation_problem)

log = logging.getLogger("aladdin.plugins")

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
    "plugins.studio",
)


class PluginLoadError(PluginStartupError):
    """A plugin failed to import; the message names it and carries the original traceback
    (``problems`` holds the one-line form the command line prints)."""

    def __init__(self, message: str, problems: list[PluginProblem] = ()):
        RuntimeError.__init__(self, message)
        self.problems = list(problems)


class PluginHookError(PluginStartupError, pluggy.PluginValidationError):
    """A hook implementation pluggy refuses (a misspelt hook name, an argument the hook lacks)."""

    def __init__(self, plugin: object, message: str, problems: list[PluginProblem]):
        pluggy.PluginValidationError.__init__(self, plugin, message)
        self.problems = list(problems)


def plugin_name(module_path: str) -> str:
    """The short name operators use (``ALADDIN_DISABLED_PLUGINS``, ``plugins list``)."""
    return module_path.rsplit(".", 1)[-1] if module_path.startswith(("plugins.", "core.")) else module_path


def create_plugin_manager(disabled: Iterable[str] = (), *, load_entry_points: bool = True,
                          extra: Iterable[object] = (),
                          problems: list[PluginProblem] | None = None) -> pluggy.PluginManager:
    """Register the built-ins, then the ``aladdin.plugins`` entry points, then ``extra``.

    Names in ``disabled`` are blocked before import, so an operator can start without a plugin
    that fails to import (which raises :class:`PluginLoadError`); ``check_pending()`` last makes
    a misspelled hook implementation fail here, at start-up (:class:`PluginHookError`).
    Given a ``problems`` list (``plugins list``, ``policy check``), nothing raises: each broken
    plugin is left out and described there, so the tools that find it still run.
    See docs/plugin_hooks.md."""
    strict = problems is None
    found: list[PluginProblem] = [] if strict else problems
    failures: list[tuple[type, object, str, BaseException]] = []
    pm = pluggy.PluginManager("aladdin")
    pm.add_hookspecs(hookspecs)
    disabled = set(disabled)

    def register(plugin: object, name: str | None) -> None:
        try:
            pm.register(plugin, name=name)
        except pluggy.PluginValidationError as exc:
            found.append(validation_problem(name or _object_name(plugin), plugin, exc))
            failures.append((PluginHookError, exc.plugin, str(exc), exc))

    for path in DEFAULT_PLUGINS:
        name = plugin_name(path)
        if name in disabled or path in disabled:
            pm.set_blocked(name)
            continue
        try:
            module = importlib.import_module(path)
        except Exception as exc:
            found.append(import_problem(name, exc, module=path))
            failures.append((PluginLoadError, None, f"built-in plugin {name!r} ({path}) failed to import:\n"
                                                    f"{traceback.format_exc()}", exc))
            continue
        register(module, name)
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
                found.append(import_problem(ep.name, exc, f"entry point {ep.value}", ep.module))
                failures.append((PluginLoadError, None, f"plugin {ep.name!r} (entry point {ep.value}) failed to "
                                                        f"import:\n{traceback.format_exc()}", exc))
                continue
            register(plugin, ep.name)
    for plugin in extra:
        register(plugin, None)
    # A hook implementation whose name matches no spec is a typo: fail at start-up (or, for
    # the diagnosing tools, leave that plugin out and go on checking the others).
    while True:
        try:
            pm.check_pending()
            break
        except pluggy.PluginValidationError as exc:
            name = pm.get_name(exc.plugin) or _object_name(exc.plugin)
            found.append(validation_problem(name, exc.plugin, exc))
            failures.append((PluginHookError, exc.plugin, str(exc), exc))
            pm.unregister(exc.plugin)
    if strict and failures:
        cls, plugin, message, cause = failures[0]
        error = PluginHookError(plugin, message, found) if cls is PluginHookError else PluginLoadError(message, found)
        raise error from cause
    return pm


def _object_name(plugin: object) -> str:
    return getattr(plugin, "__name__", None) or type(plugin).__name__


class PluginFailures:
    """Exceptions raised by plugins' hooks, counted per plugin name: in this process, and in the
    installation's Redis when there is one (one hash, a field per plugin, shared by ``serve``,
    its workers and one-off commands), which ``plugins list`` and ``/healthz`` read."""

    def __init__(self, redis: Any = None, key: str | None = None):
        self.redis, self.key = redis, key
        self._local: collections.Counter = collections.Counter()
        self._lock = threading.Lock()

    def bind(self, redis: Any, key: str) -> None:
        """Count in the installation's Redis from now on, with what this process counted before it
        had one (hooks asked before the stores exist: ``aladdin_relationship_types``)."""
        with self._lock:
            earlier = dict(self._local)
        self.redis, self.key = redis, key
        for plugin, count in earlier.items():
            try:
                redis.hincrby(key, plugin, count)
            except Exception:  # noqa: BLE001 - best effort, as in record()
                pass

    def record(self, plugin: str) -> None:
        with self._lock:
            self._local[plugin] += 1
        if self.redis is not None:
            try:
                self.redis.hincrby(self.key, plugin, 1)
            except Exception:  # noqa: BLE001 - best effort: the log line already names the failure
                pass

    def counts(self) -> dict[str, int]:
        """Failures per plugin: the installation's when Redis answers, else this process's."""
        if self.redis is not None:
            try:
                return {_text(k): int(v) for k, v in self.redis.hgetall(self.key).items()}
            except Exception:  # noqa: BLE001 - fall back to what this process saw
                pass
        with self._lock:
            return dict(self._local)


def failures_key(platform_db: str) -> str:
    """The Redis hash holding an installation's plugin failure counts."""
    return f"aladdin:{platform_db}:plugin-failures"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def call_each(pm: pluggy.PluginManager, hook: str, failures: PluginFailures | None = None, *,
              context: str = "", on_error: Any = None, **kwargs: Any) -> list[tuple[str, Any]]:
    """Call each implementation of ``hook`` on its own, in pluggy's order, so one plugin's
    exception cannot stop the others: it is logged once with the plugin's name (or handed to
    ``on_error(plugin_name, exc)``), counted in ``failures`` and its answer left out.

    For what comes after the fact (after-write hooks, event sinks) and for contributions the
    product works without (export presets, CLI commands). Hooks that may refuse a write
    (``aladdin_before_*``) stay strict: call them through ``pm.hook``. A wrapper wraps each
    call. Returns ``(plugin name, answer)`` for every implementation that answered non-None."""
    impls = getattr(pm.hook, hook).get_hookimpls()
    wrappers = [impl for impl in impls if impl.wrapper or impl.hookwrapper]
    answers: list[tuple[str, Any]] = []
    for impl in reversed([impl for impl in impls if not (impl.wrapper or impl.hookwrapper)]):
        try:
            result = call_implementations(pm, hook, [impl, *wrappers], kwargs)
        except Exception as exc:  # noqa: BLE001 - contained: named, counted, the rest still run
            if on_error is not None:
                on_error(impl.plugin_name, exc)
            else:
                log.exception("plugin %r failed in %s%s; its part is left out, the other plugins went on",
                              impl.plugin_name, hook, context)
            if failures is not None:
                failures.record(impl.plugin_name)
            continue
        if result:
            answers.append((impl.plugin_name, result[0]))
    return answers


def plugin_cli_commands(pm: pluggy.PluginManager) -> tuple[list, list[PluginLoadError]]:
    """The click commands every plugin's ``aladdin_cli_commands`` returns, asked one plugin at a
    time: a plugin whose hook raises is left out and reported as a :class:`PluginLoadError`
    naming it (with its traceback; ``problems`` holds its one line), so the rest starts."""
    errors: list[PluginLoadError] = []

    def failed(name: str, exc: BaseException) -> None:
        trace = "".join(traceback.format_exception(exc))
        problem = PluginProblem(name, f"aladdin_cli_commands raised {type(exc).__name__}: {exc}",
                                "its commands are unavailable; fix the hook or disable the plugin with "
                                f"ALADDIN_DISABLED_PLUGINS={name}", where=_raised_at(exc, package_of(pm.get_plugin(name))), traceback=trace)
        error = PluginLoadError(f"plugin {name!r}: aladdin_cli_commands failed, its commands are unavailable:\n"
                                f"{trace}", [problem])
        error.__cause__ = exc
        errors.append(error)

    answers = call_each(pm, "aladdin_cli_commands", on_error=failed)
    # Registration order: a later plugin's command replaces an earlier one of the same name.
    commands = [command for _, answer in reversed(answers) for command in answer or ()]
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
