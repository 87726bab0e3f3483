"""Errors a user can cause, answered as ``{"code", "status", "message"}`` JSON like flask-smorest's abort."""

from __future__ import annotations

import re
from typing import Any, Callable

from flask_smorest import abort as smorest_abort

# An absolute filesystem path inside a message: "/tmp/x/y.mp4", "'/srv/data/storage/...'",
# "C:\\data\\x". Not the path of a URL ("http://host/api/v1/..." is preceded by a host name).
_POSIX_PATH = re.compile(r"(?<![\w:/.\-~])(?:~|/)(?:[^\s'\"/:,;()<>\[\]]+/)+([^\s'\"/:,;()<>\[\]]*)")
_WINDOWS_PATH = re.compile(r"\b[A-Za-z]:\\(?:[^\s'\"\\:,;()<>]+\\)*([^\s'\"\\:,;()<>]*)")


def without_paths(text: str) -> str:
    """``text`` with every absolute server path reduced to its last component (``<path>`` when
    that is empty): error bodies and job errors never show where the server keeps its files.
    Applied wherever an error becomes a message (the HTTP error handler, job error records)."""
    if not text:
        return text

    def tail(match: re.Match) -> str:
        return match.group(1) or "<path>"

    return _WINDOWS_PATH.sub(tail, _POSIX_PATH.sub(tail, str(text)))


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
