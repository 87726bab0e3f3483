"""A socket's session: its user and what it has joined (kept by ``Realtime.sessions``)."""

from __future__ import annotations

import dataclasses
import time
from typing import Any


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclasses.dataclass
class Session:
    """One authenticated socket: its user and what it has joined."""

    sid: str
    user: Any
    user_id: str
    user_name: str
    projects: dict = dataclasses.field(default_factory=dict)   # projectId -> core.models.Project
    docs: set = dataclasses.field(default_factory=set)         # open Yjs DocKeys
    touched: dict = dataclasses.field(default_factory=dict)    # projectId -> last presence write
    token: str = ""                                            # re-checked on every event
    remote_addr: str | None = None
    pointed: dict = dataclasses.field(default_factory=dict)    # (projectId, documentId) -> collection
    closing: Any = None  # called with each DocKey closed for it (a plain WebSocket then closes)
    # Its handshake is under way: the credentials were checked by it, in the same unit of work
    # (a plain WebSocket's connect, join and document opening), and are not checked again.
    handshake: bool = False
    # What the handshake's events left for once the client has read their answer, which is
    # written with the 101 (the server's sync step 1 and the peers' awareness states after the
    # document's state): a client reads what arrives together before it is synced (``bench.yjs``,
    # connect to synced).
    held: list = dataclasses.field(default_factory=list)
