"""Project webhooks for finished exports: HMAC-SHA256-signed JSON POSTs, retried by RQ with backoff.

The receiver checks ``X-Aladdin-Signature: sha256=<hex>``, the HMAC of
``<X-Aladdin-Timestamp>.<raw body>`` under the webhook's secret (the timestamp stops replays)."""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
import uuid
from urllib.parse import urlsplit

import mongoengine as me

from core.crypto import EncryptedStringField
from core.errors import AladdinError, NotFound
from core.models import AppDocument, isoformat, utcnow

from . import service

log = logging.getLogger("aladdin.export")

EVENTS = ("export.completed", "export.failed")
SIGNATURE_HEADER = "X-Aladdin-Signature"
TIMESTAMP_HEADER = "X-Aladdin-Timestamp"
MAX_WEBHOOKS_PER_PROJECT = 20


class WebhookDeliveryError(Exception):
    """The receiver did not answer 2xx; RQ retries the delivery."""


class ExportWebhook(AppDocument):
    projectId = me.StringField(required=True)
    url = me.StringField(required=True, max_length=2000)
    secret = EncryptedStringField(required=True)  # AES-GCM at rest (core.crypto)
    events = me.ListField(me.StringField(choices=EVENTS))
    createdBy = me.StringField()
    createdAt = me.DateTimeField(default=utcnow)
    lastDeliveryAt = me.DateTimeField()
    lastStatus = me.IntField()
    lastError = me.StringField()
    meta = {"collection": "export_webhooks", "indexes": ["projectId"]}

    def to_json(self, secret: bool = False) -> dict:
        data = {"id": str(self.id), "projectId": self.projectId, "url": self.url, "events": list(self.events),
                "createdBy": self.createdBy, "createdAt": isoformat(self.createdAt),
                "lastDeliveryAt": isoformat(self.lastDeliveryAt), "lastStatus": self.lastStatus,
                "lastError": self.lastError}
        if secret:
            data["secret"] = self.secret
        return data


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` over ``timestamp.body``; receivers recompute it with the shared secret."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(secret: str, timestamp: str, body: bytes, header: str, tolerance: int = 300) -> bool:
    """What a receiver does (also used by tests): constant-time compare, reject stale timestamps."""
    try:
        if abs(time.time() - int(timestamp)) > tolerance:
            return False
    except (TypeError, ValueError):
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), header or "")


class PrivateAddress(AladdinError):
    status = 422


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AladdinError("webhook url must be an absolute http(s) URL", status=422)
    if parts.username or parts.password:
        raise AladdinError("webhook url must not carry credentials; use the signing secret", status=422)
    return url


def check_destination(app, url: str) -> None:
    """Refuse webhooks that resolve to loopback, private, link-local or reserved addresses.

    Project editors choose webhook URLs, so without this the server would POST into the
    operator's own network (SSRF). Checked at registration and again before every delivery,
    because DNS answers can change. ``ALADDIN_EXPORT_WEBHOOK_ALLOW_PRIVATE=1`` lifts it for
    installations whose receivers live on the internal network."""
    if service.setting(app, "EXPORT_WEBHOOK_ALLOW_PRIVATE", False):
        return
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror:
        raise PrivateAddress(f"webhook host {host!r} does not resolve")
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if not address.is_global:
            raise PrivateAddress(f"webhook host {host!r} resolves to a non-public address ({address}); "
                                 f"set ALADDIN_EXPORT_WEBHOOK_ALLOW_PRIVATE=1 to allow internal receivers")


def create_webhook(project, user, url: str, events: list[str] | None = None) -> ExportWebhook:
    """Register a webhook; its generated secret is readable only on the returned object."""
    from flask import current_app

    _check_url(url)
    check_destination(current_app, url)
    if ExportWebhook.objects(projectId=str(project.id)).count() >= MAX_WEBHOOKS_PER_PROJECT:
        raise AladdinError(f"a project has at most {MAX_WEBHOOKS_PER_PROJECT} webhooks", status=422)
    events = list(dict.fromkeys(events or EVENTS))
    return ExportWebhook(projectId=str(project.id), url=url, secret="whsec_" + secrets.token_urlsafe(32),
                         events=events, createdBy=str(user.id) if user else None).save()


def list_webhooks(project) -> list[ExportWebhook]:
    return list(ExportWebhook.objects(projectId=str(project.id)).order_by("createdAt"))


def delete_webhook(project, webhook_id: str) -> None:
    from bson import ObjectId

    if not ObjectId.is_valid(webhook_id):
        raise NotFound("webhook not found")
    hook = ExportWebhook.objects(id=webhook_id, projectId=str(project.id)).first()
    if hook is None:
        raise NotFound("webhook not found")
    hook.delete()


def payload_for(event, app=None) -> dict:
    """The webhook body; its ``statusUrl`` starts at the public base (``core.urls``)."""
    details = dict(event.details)
    status_url = None
    if app is not None and event.project_id and event.resource_id:
        from core.urls import public_base

        status_url = f"{public_base(app)}/api/v1/projects/{event.project_id}/exports/{event.resource_id}"
    return {"id": uuid.uuid4().hex, "event": event.name, "projectId": event.project_id,
            "jobId": event.resource_id, "statusUrl": status_url, "status": "completed" if event.name == "export.completed" else "failed",
            "preset": details.get("preset"), "batchId": details.get("batchId"),
            "error": details.get("error"), "size": details.get("size"), "duration": details.get("duration"),
            "downloadName": details.get("downloadName"), "timestamp": event.timestamp.isoformat() + "Z"}


def dispatch(app, event) -> int:
    """Queue one delivery per webhook of the event's project that asked for this event."""
    if not event.project_id:
        return 0
    hooks = [h for h in ExportWebhook.objects(projectId=event.project_id) if event.name in h.events]
    if not hooks:
        return 0
    attempts = max(1, service.setting(app, "EXPORT_WEBHOOK_ATTEMPTS", 5))
    backoff = service.backoff_schedule(service.setting(app, "EXPORT_WEBHOOK_BACKOFF_BASE", 10.0), attempts)
    payload = payload_for(event, app)
    jobs = app.extensions["aladdin"].jobs
    for hook in hooks:
        try:
            jobs.enqueue("plugins.export.webhooks:deliver", str(hook.id), payload, attempts=attempts,
                         backoff=backoff, timeout=60, queue=service.queue_name(app))
        except Exception as exc:  # a webhook must never break the export that triggered it
            log.warning("could not queue webhook %s for %s: %s", hook.id, event.name, exc)
    return len(hooks)


def deliver(app, webhook_id: str, payload: dict) -> int:
    """POST ``payload`` to the webhook; raise on anything but 2xx so RQ retries with backoff."""
    import requests

    hook = ExportWebhook.objects(id=webhook_id).first()
    if hook is None:
        return 0  # deleted since: nothing to do
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", "User-Agent": "Aladdin-Webhooks/1",
               SIGNATURE_HEADER: sign(hook.secret, timestamp, body), TIMESTAMP_HEADER: timestamp,
               "X-Aladdin-Event": payload.get("event", ""), "X-Aladdin-Delivery": payload.get("id", "")}
    timeout = service.setting(app, "EXPORT_WEBHOOK_TIMEOUT", 10.0)
    status, error = None, None
    try:
        check_destination(app, hook.url)
    except PrivateAddress as exc:
        error = exc.message
        ExportWebhook.objects(id=hook.id).update_one(set__lastDeliveryAt=utcnow(), set__lastError=error)
        return 0  # permanent: retrying cannot make the address public
    try:
        response = requests.post(hook.url, data=body, headers=headers, timeout=timeout, allow_redirects=False)
        status = response.status_code
        if not 200 <= status < 300:
            error = f"HTTP {status}"
    except requests.RequestException as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    ExportWebhook.objects(id=hook.id).update_one(set__lastDeliveryAt=utcnow(), set__lastStatus=status,
                                                 set__lastError=error)
    if error:
        raise WebhookDeliveryError(f"webhook {webhook_id} to {hook.url}: {error}")
    return status

