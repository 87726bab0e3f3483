"""Every role x permission of DESIGN.md's rule book, through ``authorize()`` and over HTTP.

The expected table is written out here by hand from DESIGN.md, never derived from the
policy files, so a change to the ``.polar`` rules that breaks the rule book fails here."""

from __future__ import annotations

import io
import struct
import zlib

import pytest

from core.authz import PERMISSIONS
from core.errors import Forbidden, NotFound

ROLES = ("owner", "editor", "collaborator", "viewer")

# DESIGN.md "Roles and permissions", one row per permission: owner editor collaborator viewer.
# Y = allowed at project level, - = refused (403). Content edit/delete for collaborators
# depends on who created the document: see OWNERSHIP below.
RULE_BOOK = """
project:view      Y Y Y Y
project:edit      Y Y - -
project:delete    Y - - -
project:export    Y Y - -
project:share     Y - - -
content:view      Y Y Y Y
content:create    Y Y Y -
content:edit      Y Y Y -
content:delete    Y Y - -
media:upload      Y Y Y -
media:delete      Y Y - -
generate:image    Y Y Y -
generate:video    Y Y Y -
generate:voice    Y Y Y -
team:invite       Y - - -
team:remove       Y - - -
team:edit_roles   Y - - -
"""


def _parse(table: str) -> dict[tuple[str, str], bool]:
    expected = {}
    for line in table.strip().splitlines():
        permission, *marks = line.split()
        assert len(marks) == len(ROLES), line
        for role, mark in zip(ROLES, marks):
            expected[(role, permission)] = mark == "Y"
    return expected


EXPECTED = _parse(RULE_BOOK)

# On one content document: (role, action, document is the role's own) -> allowed.
# "collaborator ... edits and deletes only content it created."
OWNERSHIP = {
    ("owner", "content:edit", True): True, ("owner", "content:edit", False): True,
    ("owner", "content:delete", True): True, ("owner", "content:delete", False): True,
    ("editor", "content:edit", True): True, ("editor", "content:edit", False): True,
    ("editor", "content:delete", True): True, ("editor", "content:delete", False): True,
    ("collaborator", "content:edit", True): True, ("collaborator", "content:edit", False): False,
    ("collaborator", "content:delete", True): True, ("collaborator", "content:delete", False): False,
    ("viewer", "content:edit", True): False, ("viewer", "content:edit", False): False,
    ("viewer", "content:delete", True): False, ("viewer", "content:delete", False): False,
}


def test_rule_book_covers_every_permission():
    assert {p for _, p in EXPECTED} == set(PERMISSIONS)
    assert len(EXPECTED) == len(ROLES) * len(PERMISSIONS)


def _decide(authz, user, action, project, collection=None, document=None) -> str:
    try:
        authz.authorize(user, action, project, collection, document)
    except NotFound:
        return "404"
    except Forbidden:
        return "403"
    return "ok"


def test_authorize_every_role_and_permission(app, team):
    authz, project = app.extensions["aladdin"].authz, team["project"]
    wrong = []
    for (role, permission), allowed in EXPECTED.items():
        got = _decide(authz, team[role], permission, project)
        if got != ("ok" if allowed else "403"):
            wrong.append((role, permission, got))
    assert wrong == []


def test_no_role_is_404_for_every_permission(app, team):
    authz, project = app.extensions["aladdin"].authz, team["project"]
    doc = {"_id": "x", "createdBy": str(team["outsider"].id)}  # even "its own" document
    for permission in PERMISSIONS:
        assert _decide(authz, team["outsider"], permission, project) == "404", permission
        assert _decide(authz, team["outsider"], permission, project, "characters", doc) == "404", permission


def test_content_permissions_on_documents_follow_ownership(app, team):
    authz, project = app.extensions["aladdin"].authz, team["project"]
    wrong = []
    for role in ROLES:
        user = team[role]
        own = {"_id": "a" * 24, "createdBy": str(user.id)}
        other = {"_id": "b" * 24, "createdBy": "someone-else"}
        for (r, action, is_own), allowed in OWNERSHIP.items():
            if r != role:
                continue
            got = _decide(authz, user, action, project, "scenes", own if is_own else other)
            if got != ("ok" if allowed else "403"):
                wrong.append((role, action, is_own, got))
        # Every other permission on a document is what the role grants at project level.
        for permission in PERMISSIONS:
            if permission in ("content:edit", "content:delete"):
                continue
            got = _decide(authz, user, permission, project, "scenes", other)
            if got != ("ok" if EXPECTED[(role, permission)] else "403"):
                wrong.append((role, permission, "doc", got))
    assert wrong == []


def _png() -> bytes:
    """A 1x1 PNG (a real one: signature, IHDR, IDAT, IEND)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b""))


def _upload(client, pid, headers):
    return client.post(f"/api/v1/projects/{pid}/media", headers=headers, content_type="multipart/form-data",
                       data={"file": (io.BytesIO(_png()), "dot.png", "image/png")})


def _expect(allowed: bool, ok: int) -> int:
    return ok if allowed else 403


@pytest.mark.parametrize("role", [*ROLES, "outsider"])
def test_http_matches_rule_book(client, team, role):
    """Each core endpoint answers as the rule book says for ``role``; outsiders get 404 everywhere."""
    pid, owner = team["project"].slug, team["owner"]
    user = team[role]
    base = f"/api/v1/projects/{pid}/content/characters"
    theirs = client.post(base, json={"content": {"name": "Owner's"}}, headers=owner.headers).json["id"]
    media_id = _upload(client, pid, owner.headers).json["id"]

    def want(permission: str, ok: int, own: bool | None = None) -> int:
        if role == "outsider":
            return 404
        if own is not None:
            return _expect(OWNERSHIP[(role, permission, own)], ok)
        return _expect(EXPECTED[(role, permission)], ok)

    got, expected = {}, {}

    def check(name, response, status):
        got[name], expected[name] = response.status_code, status

    check("GET project", client.get(f"/api/v1/projects/{pid}", headers=user.headers), want("project:view", 200))
    check("PATCH project", client.patch(f"/api/v1/projects/{pid}", json={"description": role},
                                        headers=user.headers), want("project:edit", 200))
    check("GET content list", client.get(base, headers=user.headers), want("content:view", 200))
    check("GET content item", client.get(f"{base}/{theirs}", headers=user.headers), want("content:view", 200))
    created = client.post(base, json={"content": {"name": role}}, headers=user.headers)
    check("POST content", created, want("content:create", 201))
    mine = created.json["id"] if created.status_code == 201 else None
    if mine:
        check("PATCH own content", client.patch(f"{base}/{mine}", json={"content": {"x": 1}}, headers=user.headers),
              want("content:edit", 200, own=True))
    check("PATCH others' content", client.patch(f"{base}/{theirs}", json={"content": {"x": 1}},
                                                headers=user.headers), want("content:edit", 200, own=False))
    if mine:
        check("DELETE own content", client.delete(f"{base}/{mine}", headers=user.headers),
              want("content:delete", 204, own=True))
    check("DELETE others' content", client.delete(f"{base}/{theirs}", headers=user.headers),
          want("content:delete", 204, own=False))
    check("GET media", client.get(f"/api/v1/projects/{pid}/media/{media_id}", headers=user.headers),
          want("content:view", 200))
    check("POST media", _upload(client, pid, user.headers), want("media:upload", 201))
    check("DELETE media", client.delete(f"/api/v1/projects/{pid}/media/{media_id}", headers=user.headers),
          want("media:delete", 204))
    check("DELETE project", client.delete(f"/api/v1/projects/{pid}", headers=user.headers),
          want("project:delete", 204))
    assert got == expected
    # Roles that may create content reached the ownership checks on their own document.
    assert ("PATCH own content" in got) == (role != "outsider" and EXPECTED[(role, "content:create")])
    if role == "outsider":
        listed = client.get("/api/v1/projects", headers=user.headers).json
        assert listed["items"] == []
