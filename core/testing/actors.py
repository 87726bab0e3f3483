"""Who acts in a test: users with tokens, their projects, memberships and content (made straight
through the core, as an operator's CLI or another plugin would), and an HTTP client bound to one."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

ROLES = ("editor", "collaborator", "viewer")


class AladdinClient(FlaskClient):
    """Flask's test client plus :meth:`as_user`: Datasette's ``client`` with an actor, for bearer tokens."""

    user: Any = None

    def as_user(self, user: Any) -> "AladdinClient":
        """A client whose every request carries ``user``'s token (a user from :class:`Actors`, any
        ``User`` — a token is issued for it — or a token string); ``None`` is anonymous.

        The header goes into ``environ_base``, so a request's own ``Authorization`` header still wins."""
        client = type(self)(self.application, self.response_wrapper)
        client.user = user
        token = _token_of(self.application, user)
        if token:
            client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        return client


def _token_of(app, user: Any) -> str | None:
    if user is None or isinstance(user, str):
        return user
    if getattr(user, "token", None) is None:
        from ..models import ApiToken

        with app.app_context():
            _give_token(user, ApiToken.issue(user))
    return user.token


def _give_token(user, token: str) -> None:
    user.token = token
    user.headers = {"Authorization": f"Bearer {token}"}


class Actors:
    """Factories for what tests act on. Users carry ``.token`` and ``.headers``; everything is made
    in ``app``'s databases (each call pushes its app context, so it works outside one too)."""

    def __init__(self, app):
        self.app = app

    def user(self, email: str, name: str | None = None):
        """A new user with a fresh API token."""
        from ..models import ApiToken, User

        with self.app.app_context():
            user = User(email=email, name=name or email.split("@")[0]).save()
            _give_token(user, ApiToken.issue(user))
        return user

    def project(self, owner, name: str = "Test Film", slug: str | None = None, description: str = ""):
        """A project owned by ``owner`` (its database, indexes and owner membership included)."""
        from ..projects import create_project

        with self.app.app_context():
            return create_project(self.app, owner, name, slug, description)

    def member(self, project, user, role: str, added_by=None):
        """``user`` joins ``project`` with ``role`` (added by the project's owner unless ``added_by``)."""
        from ..models import User
        from ..projects import add_member

        with self.app.app_context():
            by = added_by or User.objects(id=project.ownerId).first()
            return add_member(self.app, project, user, role, by)

    def content(self, project, collection: str, data: dict | None = None, user=None) -> dict:
        """A stored document, written through the content service (hooks, events and all) as
        ``user`` (the project's owner by default); the stored dict plus its string ``id``."""
        from ..models import User

        with self.app.app_context():
            author = user or User.objects(id=project.ownerId).first()
            document = self.app.extensions["aladdin"].content.create(project, collection, data or {}, author)
        document["id"] = str(document["_id"])
        return document

    def team(self, name: str = "Team Film", slug: str = "team-film", domain: str = "example.com") -> dict:
        """A project with one user per role (``owner``, ``editor``, ``collaborator``, ``viewer``),
        an ``outsider`` with no role, and the ``project`` itself."""
        owner = self.user(f"owner@{domain}")
        project = self.project(owner, name, slug)
        members = {"owner": owner}
        for role in ROLES:
            members[role] = self.user(f"{role}@{domain}")
            self.member(project, members[role], role, owner)
        members["outsider"] = self.user(f"outsider@{domain}")
        members["project"] = project
        return members
