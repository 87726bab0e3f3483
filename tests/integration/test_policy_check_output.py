"""``policy check`` prints one line per refused clause: ``file:line (origin)``, the clause as
written, why, and a rewrite where one works; never probe names, generated variables or the
paths of files the admin did not write. The rewrites it offers pass ``policy check``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from core.cli import cli

BAD = '''# a negated role term
denied(actor: User, "content:view", doc: Content) if
    not actor.role_in(doc.project) in ["owner", "editor"] and doc.content.secret = true;

# two fields of one document
denied(_actor: User, "content:view", doc: Content) if
    doc.content.owner = doc.content.editor;

# a method call on a field
denied(_actor: User, "content:view", doc: Content) if
    doc.content.title.startswith("WIP");
'''
OPEN = 'allow(_actor: User, "content:view", _doc: Content);\n'
# The four shapes on which Polar's list compiler loses information (docs/policies.md), and a
# clause with every negation that translates.
SHAPES = '''# two negations about the document
denied(actor: User, "content:view", doc: Content) if
    not doc.created_by = actor.id and not doc.content.stage in ["final"];

# a negated alternative
denied(_actor: User, "content:view", doc: Content) if
    not (doc.content.stage = "final" or doc.content.stage = "locked");

# a double negation
denied(_actor: User, "content:view", doc: Content) if
    not (not doc.content.meta.draft = true);

# a negated ordering on a nested path
denied(_actor: User, "content:view", doc: Content) if
    not doc.content.rating >= 3;

# a test of the document that can fail, before the role test
denied(actor: User, "content:view", doc: Content) if
    doc.content.meta.spoiler = true and actor.role_in(doc.project) != "owner";

# these translate
denied(actor: User, "content:view", doc: Content) if
    actor.role_in(doc.project) != "owner" and not actor.email = "lead@studio.test" and
    not doc.content.stage in ["final"] and doc.status < 3;
'''


def _check(monkeypatch, directory):
    monkeypatch.setenv("ALADDIN_POLICY_DIR", str(directory))
    return CliRunner().invoke(cli, ["policy", "check"])


def test_one_line_per_refused_clause_with_where_what_why_and_a_rewrite(tmp_path, monkeypatch):
    d = tmp_path / "rules"
    d.mkdir()
    (d / "bad.polar").write_text(BAD)
    (d / "open.polar").write_text(OPEN)
    result = _check(monkeypatch, d)
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith("policy error")]
    # 3 refused clauses, 3 lines (the compiler tries each for 4 roles and every collection); the
    # negated role term (bad.polar:2) translates (docs/policies.md, "Translatable").
    assert [re.search(r"\w+\.polar:\d+ \(admin\)", line).group(0) for line in lines] == \
        ["open.polar:1 (admin)", "bad.polar:6 (admin)", "bad.polar:10 (admin)"]
    for line in lines:
        assert "_aladdin" not in line and "__value" not in line and "Variable(" not in line, line
        assert str(tmp_path) not in line and "/tmp" not in line and "probes" not in line, line
        assert not re.search(r"line \d+, col", line), line
    fields, method = lines[1:]
    assert "comparing two fields" in fields and "rewrite" not in fields
    assert "doc.content.title.startswith(...)" in method and "rewrite" not in method
    assert "rewrite as `permitted(_actor: User, \"content:view\", _doc: Content);`" in lines[0]

    # The rewrites offered are accepted.
    fixed = tmp_path / "fixed"
    fixed.mkdir()
    for n, line in enumerate(lines[:1]):
        (fixed / f"r{n}.polar").write_text(re.search(r"rewrite as `(.*)`$", line).group(1) + "\n")
    result = _check(monkeypatch, fixed)
    assert result.exit_code == 0, result.output
    assert "content:view rules compile" in result.output


def test_a_file_that_does_not_load_is_one_line_naming_file_and_line(tmp_path, monkeypatch):
    d = tmp_path / "rules"
    d.mkdir()
    (d / "typo.polar").write_text('# a typo\ndenied(_actor: User, "content:view", doc: Content) if\n'
                                  '    doc.content.x = ;\n')
    result = _check(monkeypatch, d)
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "policy error: typo.polar:3 (admin): `doc.content.x = ;`: did not expect to find the token ';' "
        "(column 21); the file does not load"]


def test_serve_says_a_file_that_does_not_load_the_same_way(tmp_path, monkeypatch):
    """``serve`` (any command building the app) reports Polar's refusal as ``policy check`` does."""
    from core.authz import PolicyError, build_oso
    from core.cli.context import admin_load_problem

    d = tmp_path / "rules"
    d.mkdir()
    (d / "typo.polar").write_text('denied(_actor: User, "content:view", doc: Content) if\n    doc.content.x = ;\n')
    monkeypatch.setenv("ALADDIN_POLICY_DIR", str(d))
    with pytest.raises(PolicyError) as refused:
        build_oso([d / "typo.polar"])
    assert admin_load_problem(refused.value) == (
        "typo.polar:2 (admin): `doc.content.x = ;`: did not expect to find the token ';' (column 21); "
        "the file does not load")


def test_the_shapes_lists_would_apply_differently_are_refused_with_their_rewrites(tmp_path, monkeypatch):
    """Each of the four shapes is one line naming file, line, the clause, why, and the rewrite that
    compiles exactly (or what to do when none is known); the rewrites pass, and ``serve`` refuses
    to start with the same lines."""
    d = tmp_path / "rules"
    d.mkdir()
    (d / "shapes.polar").write_text(SHAPES)
    result = _check(monkeypatch, d)
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith("policy error")]
    assert [re.search(r"\w+\.polar:\d+ \(admin\)", line).group(0) for line in lines] == \
        [f"shapes.polar:{n} (admin)" for n in (2, 6, 10, 14, 18)]
    two_nots, alternatives, double, ordering, field_first = lines
    assert "2 `not`s about the document in one clause" in two_nots and "rewrite" not in two_nots
    assert two_nots.endswith("keep one `not` about the document per clause: write the others without `not` "
                             "(`doc.x != c`, `doc.x < c`, `doc.x in [...]`) or split the clause")
    assert "Polar tries every alternative" in alternatives
    assert alternatives.endswith('if not doc.content.stage in ["final", "locked"];`')
    assert "double negation" in double and double.endswith("if doc.content.meta.draft = true;`")
    assert "orders a nested path under `not`" in ordering and ordering.endswith("if doc.content.rating < 3;`")
    assert "`doc.content.meta.spoiler = true` can fail on a value of the wrong kind and comes before " \
           "`actor.role_in(doc.project) != \"owner\"`" in field_first
    assert field_first.endswith('if actor.role_in(doc.project) != "owner" and doc.content.meta.spoiler = true;`')

    fixed = tmp_path / "fixed"
    fixed.mkdir()
    rewrites = [re.search(r"rewrite as `(.*)`$", line).group(1) for line in lines[1:]]
    (fixed / "fixed.polar").write_text("\n".join(rewrites) + "\n" + SHAPES.split("# these translate\n")[1])
    result = _check(monkeypatch, fixed)
    assert result.exit_code == 0, result.output

    monkeypatch.setenv("ALADDIN_POLICY_DIR", str(d))  # the refused rules again
    served = CliRunner().invoke(cli, ["serve", "--port", "0"])
    assert served.exit_code == 1
    assert [line for line in served.output.splitlines() if line.startswith("policy error")] == lines


def test_a_clause_handing_the_document_to_another_rule_is_refused(tmp_path, monkeypatch):
    """The shapes are read from the clause; a rule it calls with the document could hide any of
    them (`not hidden(doc)` with two clauses of ``hidden`` is `not (a or b)`), so it is refused."""
    d = tmp_path / "rules"
    d.mkdir()
    (d / "helper.polar").write_text('hidden(doc: Content) if doc.content.stage = "draft";\n'
                                    'hidden(doc: Content) if doc.content.rating < 3;\n'
                                    'denied(_actor: User, "content:view", doc: Content) if not hidden(doc);\n')
    result = _check(monkeypatch, d)
    assert result.exit_code == 1
    [line] = [line for line in result.output.splitlines() if line.startswith("policy error")]
    assert line.startswith("policy error: helper.polar:3 (admin): `denied(_actor: User, \"content:view\", doc: "
                           "Content) if not hidden(doc);`: `hidden(doc)` hands the document to another rule")
    assert line.endswith("; write that rule's tests into this clause"), line


def test_the_shapes_are_found_whatever_the_head_says(tmp_path, monkeypatch):
    """A specialised document (``Content{...}``) and an action left open (it covers content:view)
    are read rules too, so their shapes are refused like any other's."""
    d = tmp_path / "rules"
    d.mkdir()
    (d / "heads.polar").write_text(
        'permitted(actor: User, "content:view", doc: Content{collection: "scenes"}) if\n'
        '    not doc.created_by = actor.id and not doc.content.stage in ["final"];\n'
        'denied(_actor: User, _action: String, doc: Content) if not (not doc.content.meta.draft = true);\n')
    result = _check(monkeypatch, d)
    lines = [line for line in result.output.splitlines() if line.startswith("policy error")]
    assert [line.split(": `")[0] for line in lines] == ["policy error: heads.polar:1 (admin)",
                                                       "policy error: heads.polar:3 (admin)"]
    assert "2 `not`s about the document" in lines[0] and "double negation" in lines[1]


DOCS = Path(__file__).resolve().parents[2] / "docs" / "policies.md"
READS = '''# nobody but the owner sees spoilers
denied(actor: User, "content:view", doc: Content) if
    doc.content.meta.spoiler = true and actor.role_in(doc.project) != "owner";

denied(_actor: User, "content:view", doc: Content) if
    doc.content.title.startswith("WIP");
'''


def test_the_docs_show_what_policy_check_prints(tmp_path, monkeypatch):
    """docs/policies.md's ``policy check`` example (wrapped there) is the check's output, word
    for word, for the rules it describes."""
    block = re.search(r"`policy check` prints one line per clause.*?```\n(.*?)```", DOCS.read_text(), re.S)
    assert block, "docs/policies.md lost its policy check example"
    documented = re.sub(r"\n  ", " ", block.group(1)).strip().splitlines()
    d = tmp_path / "rules"
    d.mkdir()
    (d / "reads.polar").write_text(READS)
    result = _check(monkeypatch, d)
    assert [line for line in result.output.splitlines() if line.startswith("policy error")] == documented
