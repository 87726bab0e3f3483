"""Team plugin pieces without HTTP: severities, what is logged, SMTP URLs, event details cleaning."""

from __future__ import annotations

import datetime as dt

import pytest

from plugins.team.activity import action_filter, clean_details, is_recorded
from plugins.team.audit import severity_of
from plugins.team.mail import smtp_settings


@pytest.mark.parametrize("name,severity", [
    ("project.deleted", "critical"), ("project.ownership_transferred", "critical"),
    ("content.deleted", "high"), ("export.queued", "high"), ("export.failed", "high"),
    ("invitation.created", "high"), ("member.removed", "high"),
    ("member.role_changed", "medium"), ("member.added", "medium"), ("clone.completed", "medium"),
    ("content.created", None), ("content.updated", None), ("export.progress", None), ("clone.progress", None),
])
def test_severities(name, severity):
    assert severity_of(name) == severity


def test_recorded_events():
    assert all(is_recorded(n) for n in ("content.created", "clone.failed", "export.completed", "member.added",
                                        "invitation.revoked", "project.deleted", "project.ownership_transferred"))
    assert not any(is_recorded(n) for n in ("export.progress", "clone.progress", "presence.join", "project.updated"))


def test_action_filter():
    assert action_filter("content.deleted") == {"action": "content.deleted"}
    assert action_filter("content") == action_filter("content.*") == {"action__gte": "content.",
                                                                        "action__lt": "content/"}


def test_clean_details_makes_bson_safe_values():
    when = dt.datetime(2026, 1, 1)
    out = clean_details({"a.b": 1, "$x": {"k": object()}, "when": when, "l": (1, {2})})
    assert out["a_b"] == 1 and isinstance(out["_x"]["k"], str) and out["when"] == when and out["l"] == [1, [2]]


def test_smtp_urls():
    assert smtp_settings("smtp://mail.local:2525") == {"ssl": False, "host": "mail.local", "port": 2525,
                                                       "username": None, "password": None, "starttls": False}
    cfg = smtp_settings("smtps://me%40x.org:p%2Fw@mail.x.org?starttls=0")
    assert cfg["ssl"] and cfg["port"] == 465 and cfg["username"] == "me@x.org" and cfg["password"] == "p/w"
    assert smtp_settings("smtp://h?starttls=1")["starttls"] and smtp_settings("smtp://h")["port"] == 25
    with pytest.raises(ValueError):
        smtp_settings("http://mail.local")
