"""Per-app realtime state: sockets' sessions, presence, open Yjs documents and the inter-process bus.

Background threads (bus listener, presence sweeper) start on the first connection, so workers
and CLI commands that build the same app never run them."""

from __future__ import annotations

import atexit
import dataclasses
import logging
import threading
import time
import uuid
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError, TimeoutError as RedisTimeoutError

from core.authz.scope import actor_scope
from core.errors import NotFound

from .audience import Audience
from .autosave import Autosave
from .awareness import AwarenessOwners
from .credentials import recheck_user
from .delivery import deliver_content
from .cursors import CursorCoalescer
from .emitter import NAMESPACE, Emitter, doc_ref, emit_to, project_room
from .presence import PresenceStore
from .revisit import after_bus_gap
from .session import Session
from . import bus, pointers, ysync
from .yjs import YjsHub, create_update_message, doc_room
from .ystore import ystore_for

log = logging.getLogger("aladdin.realtime")


class Realtime:
    """Everything one app's ``/collab`` namespace needs, kept in ``app.extensions["realtime"]``."""

    def __init__(self, app, socketio):
        self.app = app
        self.socketio = socketio
        self.ext = app.extensions["aladdin"]
        settings = self.ext.settings
        self.process_id = uuid.uuid4().hex
        self.sessions: dict[str, Session] = {}
        self.listeners = bus.Listeners()  # any other process on the bus? (awareness is for them only)
        self.redis = self.ext.jobs.redis
        self.presence = PresenceStore(
            self.redis, f"aladdin:realtime:{settings.platform_db}",
            idle_after=settings.get("REALTIME_IDLE_SECONDS", 60.0),
            away_after=settings.get("REALTIME_AWAY_SECONDS", 180.0),
            expire_after=settings.get("REALTIME_EXPIRE_SECONDS", 300.0),
            grace=settings.get("REALTIME_PRESENCE_GRACE_SECONDS", 3.0))
        self.hub = YjsHub(ystore_for(app), self.publish, send=self.send_frames,
                          compact_every=settings.get("REALTIME_COMPACT_EVERY", 200))
        self.cursors = CursorCoalescer(settings.get("REALTIME_CURSOR_INTERVAL_MS", 50) / 1000.0,
                                       self._spawn)
        self.sweep_seconds = settings.get("REALTIME_SWEEP_SECONDS", 5.0)
        self.hub.owners = AwarenessOwners(self.redis, f"aladdin:realtime:{settings.platform_db}",
                                          self.process_id, ttl=max(30.0, 6 * self.sweep_seconds))
        self.compact_idle_seconds = settings.get("REALTIME_COMPACT_IDLE_SECONDS", 30.0)
        self.emitter = Emitter(app)
        self.autosave = Autosave(self, idle=settings.get("REALTIME_AUTOSAVE_IDLE_SECONDS", 2.0),
                                 max_delay=settings.get("REALTIME_AUTOSAVE_MAX_SECONDS", 10.0))
        self.hub.on_stored = self.autosave.typed
        self._started = False
        self._shut_down = False
        self._saver = None
        self._start_lock = threading.Lock()
        self._subscribed = threading.Event()
        self._owed: set[tuple] = set()   # documents whose stored updates the bus could not relay
        self._owed_lock = threading.Lock()
        self.audience = Audience(self.may_view)
        self.grants = Audience(lambda *args: None)  # what a socket may do with an open doc (/collab decides)
        self.plain: dict[str, Any] = {}  # sid -> the Wire of a plain WebSocket (see ``ywebsocket``)

    # --- background services --------------------------------------------------------------

    def _spawn(self, fn, *args):
        thread = threading.Thread(target=fn, args=args, daemon=True)
        thread.start()
        return thread

    def ensure_started(self) -> None:
        """Start the bus listener and sweeper once; wait until the bus is subscribed (no peer
        update published after this socket opened a document can be missed)."""
        if not self._started:
            with self._start_lock:
                if not self._started:
                    self._spawn(self._listen)
                    self._spawn(self._sweep_forever)
                    self._saver = self._spawn(self.autosave.run, self.ext.stopping)
                    # After the embedded Redis registered its own exit handler: runs before it.
                    atexit.register(self.shutdown)
                    self._started = True
        self._subscribed.wait(10)

    def _listen(self) -> None:
        """Listen to the bus. Every subscription after the first (redis-py re-subscribes by
        itself after a lost connection; a longer outage lands in the loop below) means messages
        were lost meanwhile: the open documents catch up from storage."""
        stopping = self.ext.stopping
        while not stopping.is_set():
            try:
                pubsub = self.redis.pubsub()
                pubsub.subscribe(bus.bus_channel(self.ext.settings))
                for message in pubsub.listen():
                    if message.get("type") == "message" and not bus.own(message["data"], self.process_id):
                        self._on_bus(message["data"])
                    elif message.get("type") == "subscribe":
                        self._on_subscribed()
            except Exception as exc:
                if stopping.is_set():
                    return  # the process is shutting down and its Redis connections close under us
                if isinstance(exc, RedisConnectionError):  # a restarted or unreachable Redis: one line
                    log.warning("realtime bus lost Redis (%s); reconnecting", exc)
                else:
                    log.exception("realtime bus listener failed; reconnecting")
                stopping.wait(1)

    def _on_subscribed(self) -> None:
        if not self._subscribed.is_set():
            self._subscribed.set()
            return
        log.warning("realtime bus back: open documents catch up from storage, access is re-decided")
        after_bus_gap(self)  # what the messages lost meanwhile would have done

    def shutdown(self) -> None:
        """At exit: unsaved typing is saved, and what the open documents stored since their last
        compaction is compacted. Once: the app's close (``aladdin_shutdown``) runs it while the
        connections work; the exit handler covers a process that never closed its app."""
        if self._shut_down or not self._started:
            return
        self._shut_down = True
        # A save in progress finishes (the saver stops on ``stopping``) before the database goes.
        if self._saver is not None and self._saver is not threading.current_thread():
            self._saver.join(10)  # it wakes at least once a second
        try:
            self.autosave.save_all()
            with self.app.app_context():
                self.hub.compact_all()
        except Exception:
            log.exception("realtime could not compact at shutdown")

    def send_frames(self, state, sids: list, update: bytes) -> None:
        """A Yjs update to some of this process's sockets (each process sends to its own)."""
        self.to_sockets(state.key, "yjs", create_update_message(update), sids)

    def to_sockets(self, key: tuple, event: str, message: bytes, sids: list) -> None:
        """A document's frame to some of this process's sockets; a plain WebSocket gets it as it
        is, not encoded as a Socket.IO event and decoded again."""
        data, plain = {**doc_ref(key), "message": message}, self.plain
        for wire in [plain[sid] for sid in sids if sid in plain]:
            wire.event(event, data)
        emit_to(self.socketio.server, event, data, [sid for sid in sids if sid not in plain],
                ignore_queue=True)  # no sids: nobody (see emit_to), never everybody

    def _sweep_forever(self) -> None:
        while not self.ext.stopping.wait(self.sweep_seconds):
            try:
                with self.app.app_context():
                    self.sweep()
            except Exception:
                log.exception("realtime sweep failed")

    def sweep(self) -> None:
        self._relay_owed()
        self.listeners.counted(bus.listening(self.redis, self.ext.settings))
        for project_id, kind, record in self.presence.sweep():
            if kind == "left":  # gone: where its cursor was is nobody's business any more
                self.emit("user_left", {**record, "cursor": None, "projectId": project_id},
                          to=project_room(project_id))
            else:
                pointers.announce_presence(self, project_id, "presence", record)
        self.hub.compact_idle(self.compact_idle_seconds)
        self.hub.owners.renew(lambda key, sid: key in getattr(self.sessions.get(sid), "docs", ()))

    # --- the bus between server processes -------------------------------------------------

    def publish(self, message: bus.Message) -> int | None:
        """Tell the other processes; how many listen, this one included (None: Redis is away). A Yjs
        update is stored before this: when Redis is away it is owed, and the sweeper tells the others to
        catch up from storage once Redis is back (``_relay_owed``); what else is lost is live-only."""
        if self.listeners.skips(message):
            return 1
        try:
            listening = bus.publish(self.redis, self.ext.settings, dataclasses.replace(message, origin=self.process_id))
            self.listeners.counted(listening)
            return listening
        except (RedisConnectionError, RedisTimeoutError) as exc:
            if isinstance(message, bus.YjsUpdate):
                with self._owed_lock:
                    self._owed.add(message.key)
            log.warning("realtime bus could not relay %s (%s): owed until Redis is back", message.kind, exc)

    def _relay_owed(self) -> None:
        """Updates stored while the bus was down: every process catches those documents up."""
        with self._owed_lock:
            owed, self._owed = self._owed, set()
        for index, key in enumerate(sorted(owed)):
            try:
                bus.publish(self.redis, self.ext.settings, bus.Resync(key, origin=self.process_id))
            except (RedisConnectionError, RedisTimeoutError):
                with self._owed_lock:
                    self._owed.update(sorted(owed)[index:])
                return

    def _on_bus(self, raw: bytes) -> None:
        try:
            message = bus.decode(raw)
            if message.origin != self.process_id:
                self.listeners.heard()
            elif not isinstance(message, bus.Content):
                return  # this process did it already (a content event is delivered by every process)
            with self.app.app_context(), actor_scope():  # each viewer's role looked up once per message
                self._bus_handlers[type(message)](message)
        except Exception:
            log.exception("bad realtime bus message")

    def _on_yjs(self, message: bus.YjsUpdate) -> None:
        if message.document is not None:  # a server update: only for who may view
            ysync.deliver(self, message.key, message.update, message.version, message.document)
        else:
            self.hub.apply_remote(message.key, message.update, message.version)

    def _on_awareness(self, message: bus.Awareness) -> None:
        self.hub.apply_remote_awareness(message.key, message.update)
        self.relay_awareness(message.key, message.update)

    def relay_awareness(self, key: tuple, update: bytes, skip_sid: str | None = None) -> None:
        """An awareness update to this process's sockets that have ``key`` open. Each process
        sends to its own when the update reaches it on the bus (``bus.Awareness``, which also
        keeps its copy current): one Redis message per update, not a second one through
        Socket.IO's queue -- awareness is what an editor sends most (every cursor move)."""
        state = self.hub.docs.get(key)  # its sockets are the document's room here
        self.to_sockets(key, "awareness", update, [sid for sid in list(state.sids) if sid != skip_sid] if state else [])

    def _on_resync(self, message: bus.Resync) -> None:
        state = self.hub.docs.get(message.key)
        if state is not None:
            self.hub.catch_up(state)

    def _on_credentials(self, message: bus.CredentialsChanged) -> None:
        self.forget_answers()
        recheck_user(self, message.user)

    def forget_answers(self, project_id: str | None = None) -> None:
        """Who may view or edit what is decided again (one project's documents, or all)."""
        for answers in (self.audience, self.grants):
            answers.forget_all() if project_id is None else answers.forget_project(project_id)

    @property
    def _bus_handlers(self) -> dict:
        return {
            bus.Content: lambda m: deliver_content(self, m),
            bus.YjsUpdate: self._on_yjs,
            bus.Resync: self._on_resync,
            bus.DocumentDeleted: lambda m: ysync.drop_live(self, m.key, m.slug),
            bus.Awareness: self._on_awareness,
            bus.AwarenessQuery: lambda m: self.answer_awareness(m.key, m.sid),
            bus.Kick: lambda m: self.kick(m.project, m.user),
            bus.CredentialsChanged: self._on_credentials,
            bus.RolesChanged: lambda m: self.roles_changed(m.project),
        }

    # --- document events: only to the sockets whose user may view the document (see .delivery) ---

    def may_view(self, session: Session, project, collection: str, document: dict) -> bool:
        try:
            return self.ext.content.can_view(session.user, project, collection, document)
        except Exception:  # a policy that cannot decide shows nothing
            log.exception("could not decide whether %s may view %s/%s", session.user_id, collection,
                          document.get("_id"))
            return False

    # --- rooms ----------------------------------------------------------------------------

    def emit(self, event: str, data: Any, *, to: str, skip_sid: str | None = None) -> None:
        """To a room or one socket on every process (through the message queue); see :func:`emit_to`.
        A socket of this process gets it directly, nothing published: python-socketio publishes
        every queued emit, so each reply to a sync step 1 cost a Redis round trip and a message
        for every process, for a socket no other process holds (``bench.yjs``: connect to synced)."""
        if to in self.plain:  # a plain WebSocket's own frames: written now, no Socket.IO packet
            return self.plain[to].event(event, data)
        emit_to(self.socketio.server, event, data, to, skip_sid=skip_sid, ignore_queue=to in self.sessions)

    def enter(self, sid: str, room: str) -> None:
        self.socketio.server.enter_room(sid, room, namespace=NAMESPACE)

    def exit(self, sid: str, room: str) -> None:
        try:
            self.socketio.server.leave_room(sid, room, namespace=NAMESPACE)
        except Exception:  # the socket is already gone
            pass

    def join_presence(self, session: Session, project_id: str) -> tuple[dict, list[dict]]:
        """The socket's presence in the project (announced if new there) and the presence list."""
        record, is_new, users = self.presence.join(project_id, session.user_id, session.user_name, session.sid)
        session.touched[project_id] = time.monotonic()
        if is_new:
            self.emit("user_joined", {**record, "projectId": project_id}, to=project_room(project_id),
                      skip_sid=session.sid)
        return record, users

    def activity(self, session: Session, project_id: str, *, status: str | None = None,
                 cursor: Any = ..., force: bool = False) -> None:
        """Note activity in presence, at most once a second per socket unless ``force``."""
        now = time.monotonic()
        if not force and now - session.touched.get(project_id, 0.0) < 1.0:
            return
        session.touched[project_id] = now
        try:
            if self.presence.touch(project_id, session.user_id, status=status, cursor=cursor) is None:
                # The presence expired while the socket stayed: it is back.
                self.join_presence(session, project_id)
        except (RedisConnectionError, RedisTimeoutError):
            session.touched.pop(project_id, None)  # Redis is away: the edit stands, presence waits

    def close_doc(self, session: Session, key: tuple) -> None:
        session.docs.discard(key)
        self.exit(session.sid, doc_room(key))
        removal = self.hub.close(key, session.sid)
        if key not in self.hub.docs:  # the last local socket left: what it typed is saved now
            self.autosave.left(key)
        if removal:
            self.relay_awareness(key, removal)
        if session.closing is not None:
            session.closing(key)

    def leave_project(self, session: Session, project_id: str, *, at_once: bool = True) -> None:
        session.projects.pop(project_id, None)
        session.touched.pop(project_id, None)
        for key in [k for k in session.docs if k[0] == project_id]:
            self.close_doc(session, key)
        self.exit(session.sid, project_room(project_id))
        record = self.presence.leave(project_id, session.user_id, session.sid, at_once=at_once)
        if record is not None:
            self.emit("user_left", {"userId": session.user_id, "userName": session.user_name, "projectId": project_id,
                                    "lastActivity": self.presence.public(record)["lastActivity"] if record else None},
                      to=project_room(project_id))

    def disconnect(self, sid: str, *, at_once: bool = False) -> None:
        """The socket is gone; its user stays in presence for the grace (a reload) unless ``at_once``."""
        session = self.sessions.pop(sid, None)
        self.cursors.forget(sid)
        if session is None:
            return
        for project_id in list(session.projects):
            self.leave_project(session, project_id, at_once=at_once)

    def ask_awareness(self, key: tuple, sid: str) -> bool:
        """``sid`` just opened ``key`` here: the other processes send it their sockets' awareness states
        (this copy knows only what came while it was open). True when nobody else listened to it."""
        return self.publish(bus.AwarenessQuery(key, sid)) == 1

    def answer_awareness(self, key: tuple, sid: str) -> None:
        state = self.hub.docs.get(key)
        update = self.hub.local_awareness(state) if state is not None else None
        if update:
            self.emit("awareness", {**doc_ref(key), "message": update}, to=sid)

    def roles_changed(self, project_id: str) -> None:
        """A role or the ownership changed in the project (any process): answers about who may
        view its documents are forgotten, and documents this process's sockets have open in Yjs
        that their user may no longer view are closed for them now, not at their next frame."""
        self.forget_answers(project_id)
        for session in [s for s in list(self.sessions.values()) if project_id in s.projects]:
            for key in [k for k in session.docs if k[0] == project_id]:
                try:
                    self.ext.content.get(session.projects[project_id], key[1], key[2], reader=session.user)
                except NotFound:  # hidden now, or gone
                    self.close_doc(session, key)
                except Exception:  # cannot decide: shows nothing, as may_view does
                    log.exception("could not re-check %s for socket %s", key, session.sid)
                    self.close_doc(session, key)

    def kick(self, project_id: str, user_id: str) -> None:
        """A member was removed: its local sockets leave the project at once."""
        for session in list(self.sessions.values()):
            if session.user_id == user_id and project_id in session.projects:
                self.leave_project(session, project_id)
                self.emit("access_revoked", {"projectId": project_id}, to=session.sid)
