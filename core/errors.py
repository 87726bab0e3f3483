"""Errors a user can cause, answered as ``{"code", "status", "message"}`` JSON like flask-smorest's abort."""

from __future__ import annotations

from typing import Any, Callable

from flask_smorest import abort as smorest_abort


class AladdinError(Exception):
    """An error with an HTTP status that reaches the client as clear JSON, never a stack trace."""

    status: int = 400

    def __init__(self, message: str, status: int | None = None, *,
                 detail: str | Callable[[], str] | None = None, **extra: Any):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.extra = extra
        #: For the command line only (an operator's own terminal), never in an HTTP answer: what
        #: the message leaves out on purpose, e.g. which project a 404 is about. A callable is
        #: called only when shown, so HTTP requests never pay for it.
        self.detail = detail

    def describe(self) -> str:
        """The message with its operator detail, for the command line."""
        detail = self.detail() if callable(self.detail) else self.detail
        return f"{self.message}: {detail}" if detail else self.message


class WriteRefused(AladdinError):
    """Raised by a before-write hook to refuse a write; nothing is written."""

    status = 422


class Conflict(AladdinError):
    status = 409


class NotFound(AladdinError):
    status = 404


class Forbidden(AladdinError):
    status = 403


class AuthenticationFailed(AladdinError):
    status = 401


def abort(status: int, message: str, **extra: Any):
    """Abort the request with flask-smorest's JSON body (``code``, ``status``, ``message``)."""
    smorest_abort(status, message=message, **extra)
