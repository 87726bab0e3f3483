"""Which of this process's sockets may view a document: ``content.can_view``, remembered briefly.

A room event about a document reaches only the sockets whose user may view it, so each event
asks the read rules once per socket in the room. Cursor events make that the hot path: dozens
of them a second, each about the same document, each re-asking every socket's role. The answers
only change when the document does (its version is part of the key), when a role or ownership
changes (``member.*`` / ``project.ownership_transferred``: every process is told over the bus
and forgets the project's answers, see :func:`.announce.on_event`), or when credentials change
(the user's sockets are re-checked and their answers forgotten). What nothing announces (a
role resolver plugin's own data, a hand edit of the database) is bounded by ``TTL``.

The answers are ``content.can_view``'s own; this only avoids asking twice in a second. The same
memory keeps what each socket may do with a document it has open (``Realtime.grants``: edit,
view only, or hidden), so a Yjs frame is authorized once per socket and document version, not
once per keystroke."""

from __future__ import annotations

import threading
import time
from typing import Callable

TTL = 1.0  # seconds an answer is kept without a change that forgets it
MAX_DOCUMENTS = 10_000  # per process; cleared wholesale when full


class Audience:
    def __init__(self, decide: Callable, ttl: float = TTL):
        self.decide = decide  # (session, project, collection, document) -> the answer (bool for viewers)
        self.ttl = ttl
        self._lock = threading.Lock()
        # (projectId, collection, documentId) -> (version, expires, {sid: bool})
        self._answers: dict[tuple, tuple] = {}

    def split(self, members: list, collection: str, document: dict, key: tuple) -> tuple[list, list]:
        """``members`` (``(session, project)`` pairs) into those who may view ``document`` and
        the others."""
        answers = self._entry(key, document.get("version"))
        viewers, others = [], []
        for session, project in members:
            allowed = self._answer(answers, session, project, collection, document)
            (viewers if allowed else others).append(session)
        return viewers, others

    def answer(self, session, project, collection: str, document: dict, key: tuple):
        """``decide``'s answer for one socket about ``document`` (its ``version`` is part of the key)."""
        return self._answer(self._entry(key, document.get("version")), session, project, collection, document)

    def remember(self, session, document: dict, key: tuple, answer) -> None:
        """An answer the caller decided itself just now (a socket opening the document): its
        next frame finds it, instead of deciding again."""
        self._entry(key, document.get("version"))[session.sid] = answer

    def _answer(self, answers: dict, session, project, collection: str, document: dict):
        allowed = answers.get(session.sid)
        if allowed is None:
            allowed = answers[session.sid] = self.decide(session, project, collection, document)
        return allowed

    def _entry(self, key: tuple, version) -> dict:
        now = time.monotonic()
        with self._lock:
            entry = self._answers.get(key)
            if entry is None or entry[0] != version or entry[1] < now:
                if len(self._answers) >= MAX_DOCUMENTS:
                    self._answers.clear()
                entry = (version, now + self.ttl, {})
                self._answers[key] = entry
        return entry[2]

    def forget_project(self, project_id: str) -> None:
        with self._lock:
            for key in [k for k in self._answers if k[0] == project_id]:
                del self._answers[key]

    def forget_all(self) -> None:
        with self._lock:
            self._answers.clear()
