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


def test_the_polar_advice_in_the_docs_holds(tmp_path):
    """docs/plugin_hooks.md and docs/policies.md tell authors to spell an unused parameter
    ``_actor`` (Polar's "Singleton variable actor is unused" otherwise) and to grant their own
    actions through the core's ``role_permission(role, action)``: both are true of the rule book."""
    from core.authz import DEFAULT_POLICY_FILES, PolicyError, build_oso
    from core.authz.resources import Content, Project, User

    for text in (HOOKS_DOC, (ROOT / "docs" / "policies.md").read_text()):
        assert "Singleton variable actor is unused" in text and "`_actor`" in text and "role_permission(" in text
    unused = tmp_path / "unused.polar"
    unused.write_text('denied(actor: User, "content:delete", doc: Content) if doc.content.locked = true;\n')
    try:
        build_oso([*DEFAULT_POLICY_FILES, unused])
    except PolicyError as exc:
        assert "Singleton variable actor is unused" in str(exc)
    else:
        raise AssertionError("Polar accepted an unused parameter; the docs' advice is out of date")
    rules = tmp_path / "shots.polar"
    rules.write_text('denied(_actor: User, "content:delete", doc: Content) if doc.content.locked = true;\n'
                     'permitted(actor: User, "shots:approve", doc: Content) if\n'
                     '    role_permission(actor.role_in(doc.project), "content:edit");\n')
    oso = build_oso([*DEFAULT_POLICY_FILES, rules])
    project = Project("p1", "film", "owner")
    shot = Content(project, "shots", "s1", "someone", {"content": {}})
    roles = {"editor": True, "collaborator": True, "viewer": False}
    for role, allowed in roles.items():
        user = User(f"u-{role}", f"{role}@example.com", lambda _user, _project, r=role: r)
        assert bool(oso.is_allowed(user, "shots:approve", shot)) is allowed, role
    locked = Content(project, "shots", "s2", "someone", {"content": {"locked": True}})
    owner = User("u-owner", "owner@example.com", lambda _user, _project: "owner")
    assert not oso.is_allowed(owner, "content:delete", locked)
    assert oso.is_allowed(owner, "content:delete", shot)
