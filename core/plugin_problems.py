"""Start-up problems a plugin causes, each said in one line (plugin, file:line, what to do), and
the URL rules a plugin's blueprints would take from the core or from another plugin."""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import re
import sysconfig
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, RequestRedirect, Rule

from . import hookspecs

IGNORED_METHODS = frozenset({"HEAD", "OPTIONS"})


@dataclasses.dataclass
class PluginProblem:
    """Why a plugin cannot start: ``str()`` is the one line operators read; the traceback is kept
    for ``--debug`` and the log."""

    plugin: str
    message: str
    hint: str
    where: str | None = None
    traceback: str | None = None

    def __str__(self) -> str:
        at = f" ({self.where})" if self.where else ""
        return f"plugin {self.plugin!r}{at}: {self.message}; {self.hint}"


class PluginStartupError(RuntimeError):
    """One or more plugins cannot start; ``problems`` lists them, one line each."""

    def __init__(self, problems: list[PluginProblem]):
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = list(problems)


def disable_hint(plugin: str, fix: str = "fix the plugin") -> str:
    return f"{fix}, or start without it: ALADDIN_DISABLED_PLUGINS={plugin}"


def raised_at(exc: BaseException, package: str | None = None) -> str | None:
    """``file:line`` where ``exc`` was raised: the innermost frame of the plugin's own ``package``
    when it is known, else the innermost one outside the standard library, importlib and pluggy
    (a syntax error: the line it names)."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{exc.filename}:{exc.lineno}"
    stdlib = sysconfig.get_paths()["stdlib"]
    ours = fallback = None
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        module = str(tb.tb_frame.f_globals.get("__name__", ""))
        if package and (module == package or module.startswith(package + ".")):
            ours = f"{filename}:{tb.tb_lineno}"
        if not (filename.startswith(("<", stdlib)) or "/pluggy/" in filename):
            fallback = f"{filename}:{tb.tb_lineno}"
        tb = tb.tb_next
    return ours or fallback


def package_of(plugin: object) -> str | None:
    """The top-level package a plugin object (a module, or an instance of a class) comes from."""
    name = plugin.__name__ if inspect.ismodule(plugin) else type(plugin).__module__
    return name.split(".")[0] if isinstance(name, str) else None


def hook_problem(plugin: str, hook: str, exc: BaseException, hint: str | None = None,
                 package: str | None = None) -> PluginProblem:
    """A start-up hook that raised."""
    import traceback

    return PluginProblem(plugin, f"{hook} raised {type(exc).__name__}: {one_line(str(exc))}",
                         hint or disable_hint(plugin), where=raised_at(exc, package),
                         traceback="".join(traceback.format_exception(exc)))


def import_problem(plugin: str, exc: BaseException, origin: str | None = None,
                   module: str | None = None) -> PluginProblem:
    import traceback

    of = f" ({origin})" if origin else ""
    return PluginProblem(plugin, f"failed to import{of}: {type(exc).__name__}: {one_line(str(exc))}",
                         disable_hint(plugin, "fix the error (or install what it needs)"),
                         where=raised_at(exc, module and module.split(".")[0]),
                         traceback="".join(traceback.format_exception(exc)))


def validation_problem(plugin: str, obj: object, exc: BaseException) -> PluginProblem:
    """pluggy's refusal of a hook implementation: a misspelt hook (with the nearest real name) or
    an argument the hook does not have."""
    text = str(exc)
    unknown = re.search(r"unknown hook '(\w+)'", text)
    named = unknown or re.search(r"for hook '(\w+)'", text)
    hook = named.group(1) if named else None
    where = defined_at(getattr(obj, hook, None)) if hook else None
    if unknown:
        specs = [name for name in dir(hookspecs) if name.startswith("aladdin_")]
        close = difflib.get_close_matches(hook, specs, n=1)
        message = f"unknown hook {hook!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
        return PluginProblem(plugin, message, disable_hint(plugin, "rename it to a hook of core/hookspecs.py"),
                             where=where, traceback=text)
    detail = " ".join(line.strip() for line in text.splitlines()[1:] if line.strip()) or text
    return PluginProblem(plugin, f"hook {hook!r} does not match its spec: {detail}",
                         disable_hint(plugin, "use the arguments core/hookspecs.py declares"),
                         where=where, traceback=text)


def one_line(text: str) -> str:
    return " ".join(text.split())


def defined_at(obj: Any) -> str | None:
    """``file:line`` of a function, method or class (views, hook implementations)."""
    obj = getattr(obj, "view_class", None) or obj
    try:
        if inspect.ismodule(obj):
            return inspect.getsourcefile(obj)
        obj = inspect.unwrap(obj)
        return f"{inspect.getsourcefile(obj)}:{inspect.getsourcelines(obj)[1]}"
    except (TypeError, OSError, ValueError):
        return None


# --------------------------------------------------------------------------------- routes


def sample_path(rule: Rule) -> str:
    """A URL ``rule`` answers: each variable replaced by a value its converter accepts."""

    def value(match: re.Match) -> str:
        converter, args = match.group(1), match.group(2) or ""
        if converter in ("int", "float"):
            return "1"
        if converter == "uuid":
            return "00000000-0000-0000-0000-000000000000"
        if converter == "any":
            return args.split(",")[0].strip().strip("'\"")
        return "x"

    return re.sub(r"<(?:(\w+)(?:\((.*?)\))?:)?\w+>", value, rule.rule)


class RouteOwners:
    """Who registered each URL rule of an app (``core`` for everything there before the plugins),
    to refuse a plugin rule answering URLs that an earlier rule of someone else answers."""

    def __init__(self, app):
        self.app = app
        self.endpoints = {rule.endpoint: "core" for rule in app.url_map.iter_rules()}
        self.blueprints = {name: "core" for name in app.blueprints}

    def name_taken(self, plugin: str, blueprint) -> PluginProblem | None:
        owner = self.blueprints.get(blueprint.name)
        if owner is None:
            return None
        return PluginProblem(plugin, f"blueprint name {blueprint.name!r} is already taken by {_whose(owner)}",
                             disable_hint(plugin, "give the blueprint a name of its own"),
                             where=defined_at(blueprint.import_name and _module(blueprint.import_name)))

    def claim(self, plugin: str, blueprints: list) -> list[PluginProblem]:
        """Record ``plugin``'s newly registered rules; problems for those colliding with earlier ones."""
        for bp in blueprints:
            self.blueprints.setdefault(bp.name, plugin)
        rules = list(self.app.url_map.iter_rules())
        earlier = [rule for rule in rules if self.endpoints.get(rule.endpoint, plugin) != plugin]
        mine = [rule for rule in rules if rule.endpoint not in self.endpoints]
        adapter = Map([rule.empty() for rule in earlier]).bind("localhost")
        problems = []
        for rule in mine:
            self.endpoints[rule.endpoint] = plugin
            for method in sorted((rule.methods or set()) - IGNORED_METHODS):
                try:
                    other, _ = adapter.match(sample_path(rule), method=method, return_rule=True)
                except (HTTPException, RequestRedirect):
                    continue
                owner = self.endpoints.get(other.endpoint, "core")
                problems.append(PluginProblem(
                    plugin, f"route {method} {rule.rule} collides with {_whose(owner)} {method} {other.rule}",
                    disable_hint(plugin, "move the plugin's route to a URL of its own"),
                    where=defined_at(self.app.view_functions.get(rule.endpoint))))
                break
        return problems


def _whose(owner: str) -> str:
    return "core's" if owner == "core" else f"plugin {owner!r}'s"


def _module(name: str):
    import sys

    return sys.modules.get(name)
