"""HTTP surface of the team plugin: invitations, members, ownership transfer, activity and audit logs."""

from __future__ import annotations

from pathlib import Path

from flask import g, request
from flask.views import MethodView
from flask_smorest import Blueprint

from core.api import authorized_project, ext
from core.api.pages import page
from core.ratelimit import rate_limit
from core.sessions import login_rate_limit, start_session
from core.web import public

from . import activity, audit, invitations, members
from .schemas import (AcceptedSchema, ActivityArgs, AuditArgs, InvitationCreatedSchema, InvitationCreateSchema,
                      InvitationInfoSchema, InvitationListArgs, InvitationListSchema, InvitationSchema, LogPageSchema,
                      MemberListSchema, MemberSchema, RoleChangeSchema, SignedUpSchema, SignUpSchema, TransferSchema)

DEFAULT_INVITATION_LIMIT = "20/hour"
PAGES = Path(__file__).resolve().parent / "pages"


def invitation_limit() -> str:
    return ext().settings.get("INVITATION_RATE_LIMIT", DEFAULT_INVITATION_LIMIT)


def invitation_rate_key() -> str:
    """Invitations are counted per project, and only for callers allowed to invite: checking
    here, before the counter moves, keeps outsiders from spending a project's quota."""
    project = authorized_project(request.view_args["pid"], "team:invite")
    return str(project.id)


def base_url() -> str:
    """Invitation links start at the public base (``core.urls``), never the request's Host."""
    from core.urls import public_base

    return public_base(ext().app)


def create_blueprints() -> list[Blueprint]:
    bp = Blueprint("team", __name__, url_prefix="/api/v1/projects",
                   description="Team: invitations, members, ownership, activity and audit logs")

    @bp.route("/<pid>/team/invitations")
    class Invitations(MethodView):
        @bp.arguments(InvitationListArgs, location="query")
        @bp.response(200, InvitationListSchema)
        def get(self, args, pid):
            """Invitations of the project: pending by default (``status`` filters; ``all``)."""
            project = authorized_project(pid, "team:invite")
            items = invitations.listing(project, args["status"])
            return {"items": items, "total": len(items)}

        @bp.arguments(InvitationCreateSchema)
        @bp.response(201, InvitationCreatedSchema)
        @bp.alt_response(409, description="already a member, or a pending invitation exists")
        @bp.alt_response(429, description="invitation rate limit; see Retry-After")
        @rate_limit(invitation_limit, "team.invitations", key=invitation_rate_key)
        def post(self, body, pid):
            """Invite an email address as editor, collaborator or viewer.

            The answer carries the one-time ``token`` and its ``acceptUrl``; neither is shown again."""
            project = authorized_project(pid, "team:invite")
            invitation, token, url, delivery = invitations.create(
                ext().app, project, body["email"], body["role"], g.user, base_url=base_url())
            return {**invitation.to_json(), "token": token, "acceptUrl": url, "delivery": delivery}

    @bp.route("/<pid>/team/invitations/<invitationId>")
    class InvitationItem(MethodView):
        @bp.response(200, InvitationSchema)
        @bp.alt_response(409, description="already accepted or revoked")
        def delete(self, pid, invitationId):  # noqa: N803 (the URL names it)
            """Revoke a pending invitation; its token stops working at once."""
            project = authorized_project(pid, "team:invite")
            return invitations.revoke(ext().app, project, invitationId, g.user).to_json()

    @bp.route("/<pid>/team")
    class Team(MethodView):
        @bp.response(200, MemberListSchema)
        def get(self, pid):
            """Members with role, ``addedAt``, ``addedBy`` and ``lastActiveAt``."""
            project = authorized_project(pid, "project:view")
            items = members.listing(project)
            return {"items": items, "total": len(items)}

    @bp.route("/<pid>/team/<userId>")
    class TeamMember(MethodView):
        @bp.arguments(RoleChangeSchema)
        @bp.response(200, MemberSchema)
        @bp.alt_response(409, description="the owner cannot be demoted")
        def patch(self, body, pid, userId):  # noqa: N803
            """Change a member's role (the owner's only changes through transfer-ownership)."""
            project = authorized_project(pid, "team:edit_roles")
            return members.change_role(ext().app, project, userId, body["role"], g.user)

        @bp.response(204)
        @bp.alt_response(409, description="the owner cannot be removed")
        def delete(self, pid, userId):  # noqa: N803
            """Remove a member; any member may remove itself, the owner cannot be removed."""
            leaving = userId == str(g.user.id)
            project = authorized_project(pid, "project:view" if leaving else "team:remove")
            members.remove(ext().app, project, userId, g.user)
            return ""

    @bp.route("/<pid>/transfer-ownership")
    class Transfer(MethodView):
        @bp.arguments(TransferSchema)
        @bp.response(200, MemberListSchema)
        def post(self, body, pid):
            """Hand the project to another member (owner only); the previous owner becomes editor."""
            project = authorized_project(pid, "team:transfer")
            items = members.transfer(ext().app, project, body["userId"], g.user)
            return {"items": items, "total": len(items)}

    @bp.route("/<pid>/activity")
    class Activity(MethodView):
        @bp.arguments(ActivityArgs, location="query")
        @bp.response(200, LogPageSchema)
        def get(self, args, pid):
            """What happened in the project, newest first; filter by userId, action, resourceType.

            IP addresses, user agents and invitees' e-mail addresses are shown only to callers
            the policy grants ``team:view_details`` (the owner by default)."""
            project = authorized_project(pid, "project:view")
            authz = ext().authz
            personal = authz.is_allowed(g.user, "team:view_details", authz.project_resource(project))
            items, total = activity.query(str(project.id), user_id=args.get("userId"), action=args.get("action"),
                                          resource_type=args.get("resourceType"), limit=args["limit"],
                                          offset=args["offset"], personal=personal,
                                          readable=activity.readable_by(ext(), g.user, project))
            return {"items": items, "total": total, "limit": args["limit"], "offset": args["offset"]}

    @bp.route("/<pid>/audit")
    class Audit(MethodView):
        @bp.arguments(AuditArgs, location="query")
        @bp.response(200, LogPageSchema)
        def get(self, args, pid):
            """The append-only audit log (owner only), newest first; filter by userId, action, start, end."""
            project = authorized_project(pid, "audit:view")
            items, total = audit.query(str(project.id), user_id=args.get("userId"), action=args.get("action"),
                                       start=args.get("start"), end=args.get("end"), severity=args.get("severity"),
                                       limit=args["limit"], offset=args["offset"])
            return {"items": items, "total": total, "limit": args["limit"], "offset": args["offset"]}

    accept_bp = Blueprint("team-invitations", __name__, url_prefix="/api/v1/invitations",
                          description="Accepting invitations")

    @accept_bp.route("/<token>/accept")
    class Accept(MethodView):
        public_methods = {"GET"}  # the link itself: whoever holds it may look (core.web.authenticate)

        @accept_bp.doc(security=[])
        @accept_bp.response(200, InvitationInfoSchema)
        @accept_bp.alt_response(404, description="unknown token")
        def get(self, token):
            """The invitation link opened: a browser gets the page to sign up or sign in and accept
            in one step; other clients get what the page shows."""
            info = invitations.describe(token)
            if request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html":
                return page(PAGES / "join.html")
            return info

        @accept_bp.response(200, AcceptedSchema)
        @accept_bp.alt_response(403, description="the invitation is for another email address")
        @accept_bp.alt_response(404, description="unknown token")
        @accept_bp.alt_response(409, description="already used, or already a member")
        @accept_bp.alt_response(410, description="expired or revoked")
        def post(self, token):
            """Accept an invitation as the signed-in user whose email it was sent to."""
            invitation, project, member = invitations.accept(ext().app, token, g.user)
            return {"invitation": invitation.to_json(), "project": project.to_json(role=member.role),
                    "member": members.member_json(member, g.user)}

    @accept_bp.route("/<token>/signup", methods=["POST"])
    @accept_bp.doc(security=[])
    @accept_bp.arguments(SignUpSchema)
    @accept_bp.response(201, SignedUpSchema)
    @accept_bp.alt_response(409, description="the address has an account (sign in, then accept), or the link was used")
    @accept_bp.alt_response(410, description="expired or revoked")
    @public
    @rate_limit(login_rate_limit, "team.signup", count_refused=True)
    def sign_up(body, token):
        """A new person's one step: an account for the invited address (with a password), the
        membership, and a signed-in session."""
        user, (invitation, project, member) = invitations.sign_up_and_accept(ext().app, token, body["name"],
                                                                              body["password"])
        return {"invitation": invitation.to_json(), "project": project.to_json(role=member.role),
                "member": members.member_json(member, user), "session": start_session(user)}, 201

    return [bp, accept_bp]
