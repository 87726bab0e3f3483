"""Mail delivery (invitations, password resets): an outbox collection operators read, or real mail through ``ALADDIN_SMTP_URL``."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

from core.models import utcnow

from .models import OutboxMessage

log = logging.getLogger("aladdin.team")
SMTP_TIMEOUT = 15


def compose(invitation: dict, accept_url: str) -> tuple[str, str]:
    project = invitation.get("projectName") or invitation.get("projectSlug") or "a project"
    subject = f"You are invited to join {project} on Aladdin"
    body = (
        f"Hello,\n\n{invitation.get('invitedBy') or 'Someone'} invited you to join the project "
        f"\"{project}\" as {invitation.get('role')}.\n\n"
        f"Open this link to accept (you can create your account there, or sign in as "
        f"{invitation.get('email')}):\n  {accept_url}\n\n"
        f"The invitation expires at {invitation.get('expiresAt')} and works once.\n"
    )
    return subject, body


def smtp_settings(url: str) -> dict:
    """``smtp://[user:password@]host[:port][?starttls=1]`` or ``smtps://...`` (implicit TLS)."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError(f"ALADDIN_SMTP_URL must look like smtp://host:port or smtps://host:port, got {url!r}")
    query = parse_qs(parts.query)
    return {"ssl": parts.scheme == "smtps", "host": parts.hostname,
            "port": parts.port or (465 if parts.scheme == "smtps" else 25),
            "username": unquote(parts.username) if parts.username else None,
            "password": unquote(parts.password) if parts.password else None,
            "starttls": query.get("starttls", ["0"])[0].lower() in ("1", "true", "yes")}


def send_smtp(url: str, sender: str, to: str, subject: str, body: str) -> None:
    cfg = smtp_settings(url)
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    cls = smtplib.SMTP_SSL if cfg["ssl"] else smtplib.SMTP
    with cls(cfg["host"], cfg["port"], timeout=SMTP_TIMEOUT) as smtp:
        if cfg["starttls"]:
            smtp.starttls()
        if cfg["username"]:
            smtp.login(cfg["username"], cfg["password"] or "")
        smtp.send_message(message)


def deliver(app, invitation: dict, accept_url: str) -> dict:
    """The default invitation delivery (``aladdin_send_invitation``), through :func:`send`."""
    subject, body = compose(invitation, accept_url)
    return send(app, to=invitation["email"], subject=subject, body=body, kind="invitation",
                project_id=invitation.get("projectId"), invitation_id=invitation.get("id"), link=accept_url)


def send(app, *, to: str, subject: str, body: str, kind: str, project_id: str | None = None,
         invitation_id: str | None = None, link: str | None = None) -> dict:
    """The default delivery of any message (invitations, password resets): mail when
    ``ALADDIN_SMTP_URL`` is set, else the outbox.

    Either way the message is kept in the outbox (encrypted at rest, it holds a one-time link)
    so an operator can see what went out and relay what could not be sent."""
    settings = app.extensions["aladdin"].settings
    message = OutboxMessage(kind=kind, projectId=project_id, invitationId=invitation_id, to=to, subject=subject,
                            body=body, acceptUrl=link)
    smtp_url = settings.get("SMTP_URL")
    if not smtp_url:
        message.save()
        return {"delivered": True, "channel": "outbox", "messageId": str(message.id)}
    message.channel = "smtp"
    try:
        send_smtp(smtp_url, settings.get("SMTP_FROM", "aladdin@localhost"), to, subject, body)
    except (OSError, smtplib.SMTPException, ValueError) as exc:
        log.warning("SMTP delivery of a %s message (outbox %s) failed: %s", kind, invitation_id or "-", exc)
        message.status, message.error = "failed", f"{type(exc).__name__}: {exc}"
        message.save()
        # Reported, not raised: the link stays valid and the operator can relay it.
        return {"delivered": False, "channel": "smtp", "messageId": str(message.id), "error": message.error}
    message.status, message.sentAt = "sent", utcnow()
    message.save()
    return {"delivered": True, "channel": "smtp", "messageId": str(message.id)}
