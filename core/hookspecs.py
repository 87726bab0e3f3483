"""Every hook Aladdin calls, grouped by lifecycle; plugins implement them with ``@hookimpl``.

Each spec documents when it is called and what to return. ``firstresult`` hooks stop at the
first implementation that returns something other than ``None``. Every hook here has an
entry in ``docs/plugin_hooks.md`` with its exact signature and a test (a meta-test checks both).
"""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("aladdin")
hookimpl = pluggy.HookimplMarker("aladdin")


# --- start-up: what a plugin contributes to an app ----------------------------------------


@hookspec
def aladdin_content_types() -> list:
    """Return a list of :class:`core.content.ContentType` this plugin provides.

    Called once per app at start-up. Each type becomes a collection in every project
    database and is served at ``/api/v1/projects/{pid}/content/{name}``. A type may declare
    ``unique`` field sets (a duplicate write answers 409) and ``belongs_to`` owners (deep clones
    of the owner bring the type's documents)."""


@hookspec
def aladdin_blueprints(app) -> list:
    """Return flask-smorest ``Blueprint`` objects (or plain Flask blueprints) to register.

    Called once per app, after the core API; build the blueprint inside the hook so that
    several apps in one process each get their own."""


@hookspec
def aladdin_policy_files() -> list:
    """Return paths of Oso ``.polar`` files to load after the core's defaults.

    Files load in plugin order, then the admin's ``ALADDIN_POLICY_DIR`` files last. A hook that
    raises stops the start with one line naming the plugin (its rules may tighten access)."""


@hookspec
def aladdin_migrations() -> list:
    """Return the plugin's migrations: modules (or objects) with ``SCOPE`` (``"platform"`` or
    ``"project"``), ``upgrade(app, db)`` and a name matching ``mNNNN_words`` (``NAME``, or the
    module's own name). ``aladdin migrate`` applies them after the core's, once per database,
    recorded as ``plugin:name``; a new project is born with the project ones applied. A raising
    hook, or a migration badly named or named twice, stops the start with one line naming the
    plugin and the file."""


@hookspec
def aladdin_cli_commands() -> list:
    """Return ``click`` commands or groups to add to ``cli.py``/``aladdin``."""


@hookspec
def aladdin_socketio(socketio, app) -> None:
    """Register Socket.IO event handlers on ``socketio`` (a ``flask_socketio.SocketIO``).

    Called once per app after the SocketIO extension is bound to ``app``."""


@hookspec
def aladdin_startup(app) -> None:
    """Called once when ``create_app`` has finished; set up ``app.extensions`` state here."""


@hookspec
def aladdin_shutdown(app) -> None:
    """Called once as the app closes (``serve``, ``worker`` and one-off commands stopping, by
    Ctrl-C or SIGTERM), before its database and Redis connections are released: write what must
    not be lost (unsaved live edits). Background threads should stop on ``app.extensions["aladdin"].stopping``."""


@hookspec
def aladdin_relationship_types() -> list:
    """Return relationship type names (``UPPER_SNAKE``) to add to the graph whitelist."""


@hookspec
def aladdin_export_presets() -> list:
    """Return extra export presets as dicts (``id, width, height, videoBitrate, audioBitrate,
    videoCodec, fps, container``) to list beside the built-in ones."""


# --- requests -----------------------------------------------------------------------------


@hookspec(firstresult=True)
def aladdin_authenticate(app, request) -> Any:
    """Return the ``core.models.User`` making ``request``, or ``None`` if this plugin cannot tell.

    firstresult=True: the first non-None answer wins. The core's bearer-token implementation
    runs last, so a host can plug in JWT or session authentication ahead of it. Raise
    ``core.errors.AuthenticationFailed`` to refuse the request with 401."""


@hookspec(firstresult=True)
def aladdin_resolve_role(app, user_id: str, project_id: str) -> Any:
    """Return the role name of ``user_id`` in ``project_id``, or ``None`` for no role.

    firstresult=True. The core answers from the membership collection (last); a plugin may
    wrap it (``@hookimpl(wrapper=True)``) to cache, as the team plugin does."""


# --- content lifecycle --------------------------------------------------------------------


@hookspec
def aladdin_before_content_write(app, project, collection: str, action: str, document: dict,
                                 previous: dict | None, user) -> None:
    """Called before a content document is created, updated or deleted (``action`` is
    ``create``, ``update`` or ``delete``).

    Change the write by mutating ``document`` in place; refuse it by raising
    ``core.errors.WriteRefused(message, status=4xx)`` (``status`` is keyword-only, default
    422; the client gets it with the message as JSON, nothing is written). ``previous`` is the
    stored document for update/delete."""


@hookspec
def aladdin_after_content_write(app, project, collection: str, action: str, document: dict,
                                previous: dict | None, user) -> None:
    """Called after a content write succeeded; the return value is ignored."""


@hookspec
def aladdin_before_project_delete(app, project, user) -> None:
    """Called before a project (its database, media and graph) is deleted; raise
    ``core.errors.WriteRefused`` to refuse."""


# --- events -------------------------------------------------------------------------------


@hookspec
def aladdin_event(app, event) -> None:
    """The activity/event sink: called for every :class:`core.events.Event` the platform or a
    plugin emits (``content.created``, ``member.added``, ``export.progress``, ...).

    Plugins subscribe by implementing it and talk to each other only this way."""


# --- clone --------------------------------------------------------------------------------


@hookspec
def aladdin_clone_references(content_type) -> list:
    """Return extra dotted field paths of ``content_type`` that hold ids of other documents
    (each either ``"path"`` or ``("path", "collection")``), followed by deep clones."""


@hookspec
def aladdin_clone_drop_fields(content_type) -> list:
    """Return dotted field paths to drop from clones of ``content_type`` because they only
    make sense in the source project (``brainValidated`` and ``userApproved`` always are)."""


@hookspec
def aladdin_before_clone(app, source, target, plan, user) -> None:
    """Called before a clone writes anything, and for dry runs too; raise
    ``core.errors.WriteRefused`` to refuse (a dry run is refused with the same answer).

    ``plan`` is a :class:`core.cloneplan.ClonePlan`: ``plan.root`` (collection, source_id,
    new_id), ``plan.documents`` (entries with ``collection``, ``source_id``, ``new_id`` and
    ``document``, the copy as it will be written), ``plan.media``, ``plan.relationships``,
    ``plan.dry_run``; ids are strings. ``user`` is the cloning user, or ``None`` for the
    platform's own clone (the CLI's without ``--as``). The return value is ignored."""


# --- accounts -------------------------------------------------------------------------------


@hookspec(firstresult=True)
def aladdin_send_mail(app, to: str, subject: str, body: str, kind: str) -> Any:
    """Deliver a message to one person (``kind``: ``password_reset``; the body holds a one-time link).

    firstresult=True: return a truthy value once delivered. The team plugin's default keeps the
    message in its outbox and sends mail when ``ALADDIN_SMTP_URL`` is set; with no
    implementation the core logs that nothing was sent."""


# --- team ---------------------------------------------------------------------------------


@hookspec(firstresult=True)
def aladdin_send_invitation(app, invitation: dict, accept_url: str) -> Any:
    """Deliver an invitation (``email``, ``role``, ``projectName``, ``invitedBy``, ...).

    firstresult=True: return a truthy value once delivered. The team plugin's default
    records the message in an outbox collection, or sends mail when ``ALADDIN_SMTP_URL`` is set."""
