"""The contract text users read agrees with the code (issue 23, "the contract text is true"): how
many built-in feature plugins there are and their names, and the built-in content types' fields.
(Hookspec docstrings against docs/plugin_hooks.md: test_hookspecs_meta.py.)"""

from __future__ import annotations

import re
from pathlib import Path

from core.plugins import DEFAULT_PLUGINS, plugin_name
from plugins.film import VIDEO_STATUSES, content_types

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
HOOKS_DOC = (ROOT / "docs" / "plugin_hooks.md").read_text()
NUMBERS = {3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight"}


def feature_plugins() -> list[str]:
    """The built-ins that are product features (``plugins.*``; ``core.default_*`` are the core's)."""
    return [plugin_name(path) for path in DEFAULT_PLUGINS if path.startswith("plugins.")]


def test_the_docs_count_and_name_the_built_in_plugins_right():
    number = NUMBERS[len(feature_plugins())]
    for where, text in (("README.md", README), ("docs/plugin_hooks.md", HOOKS_DOC)):
        said = re.findall(r"\b(\w+) built-in (?:feature )?(?:plugins|features)\b", " ".join(text.split()), flags=re.I)
        assert said and {word.lower() for word in said} == {number}, f"{where} says {said}, not {number!r}"
    for name in feature_plugins():
        assert f"**{name}**" in README and f"`{name}`" in HOOKS_DOC.split("###", 1)[0], name


def test_the_built_in_content_types_table_names_every_type_and_field():
    section = HOOKS_DOC[HOOKS_DOC.index("**Built-in content types**"):]
    table = section[:section.index("```")]
    for ctype in content_types():
        assert f"`{ctype.name}`" in table, ctype.name
        row = next(line for line in table.splitlines() if line.startswith("|") and f"`{ctype.name}`" in line.split("|")[1])
        if not ctype.fields:
            assert "none (`content` only)" in row, row
        for field in ctype.fields:
            assert f"`{field}`" in row, (ctype.name, field)
        if ctype.readonly_fields:
            assert "read-only" in row, row
    assert all(f"`{status}`" in table for status in VIDEO_STATUSES)
