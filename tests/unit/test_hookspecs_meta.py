"""Meta-tests (as Datasette's): every hookspec is documented with its exact signature and tested."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from core import hookspecs

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "plugin_hooks.md"
TESTS = ROOT / "tests"


def hook_specs() -> list:
    return [fn for name, fn in vars(hookspecs).items() if name.startswith("aladdin_") and inspect.isfunction(fn)]


def signature_heading(fn) -> str:
    """``### name(a, b)``: parameter names only, no annotations or defaults."""
    return f"### {fn.__name__}({', '.join(inspect.signature(fn).parameters)})"


def test_there_are_hookspecs_and_all_are_registered_as_specs():
    specs = hook_specs()
    assert len(specs) >= 18
    marker = f"{hookspecs.hookspec.project_name}_spec"
    for fn in specs:
        assert hasattr(fn, marker), f"{fn.__name__} lacks the @hookspec marker"


def test_every_public_function_in_hookspecs_is_a_prefixed_spec():
    marker = f"{hookspecs.hookspec.project_name}_spec"
    for name, obj in vars(hookspecs).items():
        if inspect.isfunction(obj) and hasattr(obj, marker):
            assert name.startswith("aladdin_"), f"hookspec {name} must carry the aladdin_ prefix"


@pytest.mark.parametrize("spec", hook_specs(), ids=lambda fn: fn.__name__)
def test_hookspec_has_docstring(spec):
    doc = inspect.getdoc(spec)
    assert doc and len(doc) > 20, f"{spec.__name__} needs a docstring saying when it is called and what to return"


@pytest.mark.parametrize("spec", hook_specs(), ids=lambda fn: fn.__name__)
def test_hookspec_firstresult_is_stated_in_its_docstring(spec):
    opts = getattr(spec, f"{hookspecs.hookspec.project_name}_spec")
    assert bool(opts.get("firstresult")) == ("firstresult=True" in (spec.__doc__ or "")), spec.__name__


@pytest.mark.parametrize("spec", hook_specs(), ids=lambda fn: fn.__name__)
def test_hookspec_is_documented_with_exact_signature(spec):
    headings = {line.strip() for line in DOCS.read_text().splitlines() if line.startswith("### ")}
    expected = signature_heading(spec)
    assert expected in headings, f"docs/plugin_hooks.md lacks the heading {expected!r}"


def test_docs_document_no_hook_that_does_not_exist():
    names = {fn.__name__ for fn in hook_specs()}
    documented = re.findall(r"^### (aladdin_\w+)\(", DOCS.read_text(), flags=re.M)
    assert sorted(set(documented)) == sorted(documented), "a hook is documented twice"
    assert set(documented) <= names, f"documented but not a hookspec: {set(documented) - names}"


def _test_sources() -> str:
    me = Path(__file__).resolve()
    return "\n".join(p.read_text() for p in TESTS.rglob("test_*.py") if p.resolve() != me)


@pytest.mark.parametrize("spec", hook_specs(), ids=lambda fn: fn.__name__)
def test_hookspec_has_a_test(spec):
    assert re.search(rf"\b{spec.__name__}\b", _test_sources()), \
        f"no test under tests/ mentions {spec.__name__}"


# --- the text agrees: each docstring with its docs section, and every call shown with the code ------


ERRORS = ("AladdinError", "WriteRefused", "Conflict", "NotFound", "Forbidden", "AuthenticationFailed")
HOOKIMPL_OPTIONS = ("tryfirst", "trylast", "wrapper", "hookwrapper", "optionalhook", "specname")
PRODUCT = [ROOT / "core", ROOT / "plugins", ROOT / "examples"]


def doc_section(name: str) -> str:
    """The text under ``### name(...)`` in docs/plugin_hooks.md, up to the next heading."""
    found = re.search(rf"^### {name}\(.*?$(.*?)(?=^##|\Z)", DOCS.read_text(), flags=re.M | re.S)
    assert found, f"docs/plugin_hooks.md has no section for {name}"
    return found.group(1)


def code_spans(docstring: str) -> list[str]:
    """What a docstring names in code spans (``x`` and :role:`x`), comma-separated lists split."""
    spans = re.findall(r"``([^`]+)``", docstring) + re.findall(r":\w+:`~?([^`]+)`", docstring)
    spans = [" ".join(span.split()) for span in spans]
    return [item for span in spans for item in (span.split(", ") if "(" not in span else [span]) if item]


@pytest.mark.parametrize("spec", hook_specs(), ids=lambda fn: fn.__name__)
def test_docs_section_names_what_the_docstring_names(spec):
    """A name, call or value the hookspec's docstring shows appears in its docs section too, so the
    two texts cannot drift apart (as ``WriteRefused(status, message)`` once did)."""
    section = " ".join(doc_section(spec.__name__).split())
    missing = [span for span in code_spans(spec.__doc__ or "") if span not in section]
    assert not missing, f"docs/plugin_hooks.md's {spec.__name__} section does not mention {missing}"


@pytest.mark.parametrize("spec", hook_specs(), ids=lambda fn: fn.__name__)
def test_docs_section_states_firstresult_exactly_when_the_spec_is(spec):
    opts = getattr(spec, f"{hookspecs.hookspec.project_name}_spec")
    assert bool(opts.get("firstresult")) == ("**firstresult.**" in doc_section(spec.__name__)), spec.__name__


def _texts() -> dict[str, str]:
    out = {"docs/plugin_hooks.md": DOCS.read_text(), "README.md": (ROOT / "README.md").read_text()}
    out.update({f"core/hookspecs.py:{fn.__name__}": fn.__doc__ or "" for fn in hook_specs()})
    return out


@pytest.mark.parametrize("where", sorted(_texts()))
def test_errors_are_shown_raised_as_their_classes_take_them(where):
    """``WriteRefused(message, status=4xx)``: message first, status keyword-only (a positional
    status fails with TypeError at the raise site)."""
    for name, args in re.findall(rf"\b({'|'.join(ERRORS)})\(([^()]*)\)", _texts()[where]):
        parts = [a.strip() for a in args.split(",") if a.strip()]
        if not parts:
            continue
        assert not re.fullmatch(r"status|\d+|\dxx", parts[0]), f"{where}: {name}({args}) puts the status first"
        assert all("=" in p or p.startswith("**") for p in parts[1:]), f"{where}: {name}({args}) passes more than the message positionally"


@pytest.mark.parametrize("where", sorted(_texts()))
def test_hookimpl_options_in_the_text_are_the_ones_the_code_uses(where):
    """The text says ``wrapper=True`` where the code does (pluggy's old ``hookwrapper`` differs)."""
    used = set()
    for top in PRODUCT:
        for path in top.rglob("*.py"):
            used |= set(re.findall(r"@hookimpl\(([^)]*)\)", path.read_text()))
    used_options = {m for args in used for m in re.findall(r"(\w+)=", args)}
    mentioned = {o for o in HOOKIMPL_OPTIONS if re.search(rf"\b{o}=True\b", _texts()[where])}
    assert mentioned <= used_options | {"tryfirst", "trylast", "optionalhook", "specname"}, \
        f"{where} tells plugins to use {mentioned - used_options}, which no Aladdin code uses"
