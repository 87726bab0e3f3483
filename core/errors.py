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
    """An error with an HTTP status that reaches the client as clear JSON, never a stack trace.

    Raise it as ``AladdinError("message", status=409)``: ``status`` is keyword-only and checked
    here, so a call with the arguments swapped fails at the raise site naming the fix rather
    than as a 500 later in the error handler."""

    status: int = 400
    #: The statuses a subclass may carry (``WriteRefused``: a refusal is always the client's 4xx).
    allowed_statuses = range(400, 600)

    def __init__(self, message: str, *positional: Any, status: int | None = None,
                 detail: str | Callable[[], str] | None = None, **extra: Any):
        name = type(self).__name__
        if positional or isinstance(message, int):  # WriteRefused(422, "..."), as old docs showed
            raise TypeError(f"{name} takes the message first and the status as a keyword: "
                            f"{name}(\"what went wrong\", status={self.status}), not "
                            f"{name}({', '.join(map(repr, (message, *positional)))})")
        if status is not None:
            if isinstance(status, bool) or not isinstance(status, int) or status not in self.allowed_statuses:
                raise ValueError(f"{name} status must be an int in {self.allowed_statuses.start}-"
                                 f"{self.allowed_statuses.stop - 1}, got {status!r}: "
                                 f"{name}(\"what went wrong\", status={self.status})")
            self.status = status
        super().__init__(message)
        self.message = message
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
    """Raised by a before-write hook to refuse a write; nothing is written.

    ``WriteRefused("message", status=4xx)``; ``status`` defaults to 422 and must be a 4xx."""

    status = 422
    allowed_statuses = range(400, 500)


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
