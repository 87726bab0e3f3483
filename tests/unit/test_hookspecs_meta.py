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
