"""Where a content write running now came from, for the content hook that follows it:

* inside :func:`socket_write` a socket handler writes and announces its own write (with the patch,
  skipping the sender's socket), so the hook must not announce it again;
* inside :func:`yjs_write` a Yjs save writes what the Y.Doc holds, so the hook must not turn the
  write back into a server Yjs update."""

from __future__ import annotations

import contextlib
import contextvars

_socket_write: contextvars.ContextVar[bool] = contextvars.ContextVar("aladdin_realtime_socket_write",
                                                                    default=False)
_yjs_write: contextvars.ContextVar[bool] = contextvars.ContextVar("aladdin_realtime_yjs_write", default=False)


@contextlib.contextmanager
def _marked(flag: contextvars.ContextVar):
    token = flag.set(True)
    try:
        yield
    finally:
        flag.reset(token)


def socket_write():
    return _marked(_socket_write)


def yjs_write():
    return _marked(_yjs_write)


def announced_by_socket() -> bool:
    return _socket_write.get()


def from_yjs() -> bool:
    return _yjs_write.get()
