"""Awareness belongs to its socket: which Yjs client ids each socket uses, shared by every process.

A socket claims a client id the first time it sends an awareness entry (or a Yjs update) under
it; the claim lives in Redis, so a socket of another user, on any server process, cannot take it
over, and ends when the socket closes the document. Entries and removals for ids claimed by
another user's socket are dropped, and the identity fields of every accepted state are the
server's, not the client's. A socket of the *same* user may take a claim over: that is a client
reconnecting with the same Y.Doc while the server still holds its old connection."""

from __future__ import annotations

import json
import threading
from typing import Any, Callable, Iterable

from pycrdt import Decoder, Encoder, get_state

from .validation import InvalidMessage

# Claim KEYS[1] for ARGV[1] (a "<user>|<process>|<sid>" token) if it is free, ARGV[1]'s already,
# or held by another socket of the same user (ARGV[3] is "<user>|"); 0 when another user holds it.
_CLAIM = """
local owner = redis.call('GET', KEYS[1])
if (not owner) or owner == ARGV[1] or string.sub(owner, 1, string.len(ARGV[3])) == ARGV[3] then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return 1
end
return 0
"""

# Keep ARGV[1]'s claim alive (or re-make it if it expired); 0 when somebody took it over.
_RENEW = """
local owner = redis.call('GET', KEYS[1])
if (not owner) or owner == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return 1
end
return 0
"""

# Release KEYS[1] only if ARGV[1] still holds it; 1 when it did.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


# How long a removed client id's last clock is remembered (a client reconnecting later than this
# is seen again at its next renewal, at most 15 s on; peers that ran that long without it are rare).
CLOCK_MEMORY_SECONDS = 24 * 3600


class AwarenessOwners:
    """Client-id claims per document, in Redis (``<prefix>:aw:<project>:<collection>:<doc>:<client>``).

    This process remembers its own sockets' claims, so the common case -- a client renewing its
    own state -- costs no round trip; the sweeper renews them in Redis, and a claim left by a
    crashed process expires after ``ttl`` seconds."""

    def __init__(self, redis, prefix: str, process_id: str, ttl: float = 30.0):
        self.redis = redis
        self.prefix = prefix
        self.process_id = process_id
        self.ttl = max(int(ttl), 5)
        self._claim = redis.register_script(_CLAIM)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)
        self._lock = threading.Lock()
        self._owned: dict[tuple, set[int]] = {}               # (docKey, sid) -> client ids
        self._holder: dict[tuple, tuple[str, str]] = {}       # (docKey, client id) -> (sid, user id)
        self._users: dict[str, str] = {}                      # sid -> user id

    def _key(self, key: tuple, client: int) -> str:
        return f"{self.prefix}:aw:{':'.join(key)}:{client}"

    def _token(self, sid: str, user_id: str) -> str:
        return f"{user_id}|{self.process_id}|{sid}"

    def claim(self, key: tuple, sid: str, user_id: str, clients: Iterable[int]) -> set[int]:
        """Claim ``clients`` for ``sid`` where allowed; returns the ids another user's socket holds."""
        refused: set[int] = set()
        for client in set(clients):
            with self._lock:
                holder = self._holder.get((key, client))
            if holder is not None and holder[0] == sid:
                continue
            if holder is not None and holder[1] != user_id:
                refused.add(client)
                continue
            if not self._claim(keys=[self._key(key, client)],
                               args=[self._token(sid, user_id), self.ttl, f"{user_id}|"]):
                refused.add(client)
                continue
            with self._lock:
                previous = self._holder.get((key, client))
                if previous is not None and previous[0] != sid:  # taken over from the user's other socket
                    self._owned.get((key, previous[0]), set()).discard(client)
                self._holder[(key, client)] = (sid, user_id)
                self._owned.setdefault((key, sid), set()).add(client)
                self._users[sid] = user_id
        return refused

    def admit(self, key: tuple, sid: str, user_id: str, entries: list) -> tuple[list, set[int]]:
        """The ``(client, clock, state)`` entries of one awareness update from ``sid`` that may go
        on, and the ids dropped because another user's socket holds them (see :meth:`removals`)."""
        refused, free = self.removals(key, sid, user_id, [c for c, _, st in entries if st is None])
        entries = [e for e in entries if e[0] not in free]  # removing what nobody holds changes nothing
        return entries, refused | self.claim(key, sid, user_id, [c for c, _, _ in entries if c not in refused])

    def removals(self, key: tuple, sid: str, user_id: str, clients: Iterable[int]) -> tuple[set[int], set[int]]:
        """Removal entries from ``sid``: a removal claims no id. Returns the ids another user's
        socket holds (dropped, and the ack says so) and the ones nobody holds (nothing to remove:
        ignored). Stock y-websocket clients send back every removal they receive: claiming the
        departed client's free id for the peer that echoed it cost a claim and a relay per
        departure, and hid that client's own states as "another user's" when it came back with
        the same Y.Doc. Ids of this socket or of its user's other sockets go on to :meth:`claim`."""
        refused, free, ask = set(), set(), []
        for client in set(clients):
            with self._lock:
                holder = self._holder.get((key, client))
            if holder is None:
                ask.append(client)
            elif holder[1] != user_id:
                refused.add(client)
        if ask:
            for client, owner in zip(ask, self.redis.mget([self._key(key, c) for c in ask])):
                owner = owner.decode() if isinstance(owner, bytes) else owner
                if owner is None:
                    free.add(client)
                elif not owner.startswith(f"{user_id}|"):
                    refused.add(client)
        return refused, free

    def release(self, key: tuple, sid: str) -> set[int]:
        """The socket closed the document: its client ids are free again. Returns those it still
        held (not the ones another socket of its user took over meanwhile)."""
        with self._lock:
            clients = self._owned.pop((key, sid), set())
            user_id = self._users.get(sid, "")
            for client in clients:
                if self._holder.get((key, client), (None,))[0] == sid:
                    del self._holder[(key, client)]
            if not any(k[1] == sid for k in self._owned):
                self._users.pop(sid, None)
        if not clients:
            return set()
        ordered = sorted(clients)
        pipe = self.redis.pipeline(transaction=False)
        for client in ordered:
            self._release(keys=[self._key(key, client)], args=[self._token(sid, user_id)], client=pipe)
        return {client for client, held in zip(ordered, pipe.execute()) if held}

    def seen_clocks(self, key: tuple, meta: dict, clients: Iterable[int]) -> dict[int, int]:
        """The last clock the peers hold for each client id: this process's awareness ``meta``
        of the document, or, for an id it has not seen since it opened the document, the clock
        of the id's last removal in any process (:meth:`removed`; the document may have closed
        here in between, and its meta with it)."""
        clients = set(clients)
        seen = {client: meta[client]["clock"] for client in clients if client in meta}
        unknown = sorted(clients - set(seen))
        if unknown:
            remembered = self.redis.mget([self._clock_key(key, client) for client in unknown])
            seen.update({client: int(value) for client, value in zip(unknown, remembered) if value is not None})
        return seen

    def removed(self, key: tuple, clocks: dict[int, int]) -> None:
        """Remember the clock each id's removal went out with, for the process that sees it next
        (see :meth:`seen_clocks`); peers keep a removed id's clock for as long as they run."""
        pipe = self.redis.pipeline(transaction=False)
        for client, clock in clocks.items():
            pipe.set(self._clock_key(key, client), clock, ex=CLOCK_MEMORY_SECONDS)
        pipe.execute()

    def _clock_key(self, key: tuple, client: int) -> str:
        return f"{self.prefix}:awclock:{':'.join(key)}:{client}"

    def renew(self, alive: Callable[[tuple, str], bool]) -> None:
        """Keep this process's claims alive in Redis (called by the sweeper); claims of sockets
        that no longer have the document open (``alive(docKey, sid)`` false) are released, and
        ones taken over elsewhere are forgotten."""
        with self._lock:
            held = list(self._owned)
        for key, sid in held:
            if not alive(key, sid):
                self.release(key, sid)
        with self._lock:
            claims = [(key, sid, self._users.get(sid, ""), client)
                      for (key, sid), clients in self._owned.items() for client in clients]
        if not claims:
            return
        pipe = self.redis.pipeline(transaction=False)
        for key, sid, user_id, client in claims:
            self._renew(keys=[self._key(key, client)], args=[self._token(sid, user_id), self.ttl], client=pipe)
        for (key, sid, _user, client), kept in zip(claims, pipe.execute()):
            if not kept:
                with self._lock:
                    self._owned.get((key, sid), set()).discard(client)
                    if self._holder.get((key, client), (None,))[0] == sid:
                        del self._holder[(key, client)]


def update_clients(update: bytes) -> list[int]:
    """The Yjs client ids whose structs a (v1) update carries, from its state vector."""
    try:
        decoder = Decoder(get_state(update))
        clients = []
        for _ in range(decoder.read_var_uint()):
            clients.append(decoder.read_var_uint())
            decoder.read_var_uint()  # the clock
        return clients
    except (IndexError, RuntimeError, ValueError):
        return []


def stamp_state(state: dict, user_id: str, user_name: str) -> dict:
    """The awareness state with the server's identity: top-level ``userId``/``userName`` (as on
    cursor and typing events) and ``user.id``/``user.name`` (what stock cursor plugins such as
    y-prosemirror and y-codemirror display); the client's other ``user`` fields (color) stay."""
    user = state.get("user")
    user = {**user} if isinstance(user, dict) else {}
    user.update(id=user_id, name=user_name)
    return {**state, "userId": user_id, "userName": user_name, "user": user}


def relay_clock(seen: int, clock: int) -> int:
    """The clock an accepted entry goes out with: the client's own, or one past the last one the
    peers hold for that id (``seen``) when the client's is not higher. A reconnecting client
    re-announces its state under the clock its removal went out with, and stock y-protocols
    peers ignore a state whose clock is not above the one they hold: its presence would stay
    hidden until the client's next 15 s renewal."""
    return clock if clock > seen else seen + 1


def encode_awareness(entries: list[tuple[int, int, Any]]) -> bytes:
    encoder = Encoder()
    encoder.write_var_uint(len(entries))
    for client, clock, state in entries:
        encoder.write_var_uint(client)
        encoder.write_var_uint(clock)
        encoder.write_var_string(json.dumps(state, separators=(",", ":")))
    return encoder.to_bytes()


def parse_awareness(update: bytes) -> list[tuple[int, int, Any]]:
    """Decode an awareness update fully (client id, clock, JSON state) or raise InvalidMessage."""
    try:
        decoder = Decoder(update)
        count = decoder.read_var_uint()
        if count > 1000:
            raise InvalidMessage("awareness update lists too many clients")
        out = []
        for _ in range(count):
            client = decoder.read_var_uint()
            clock = decoder.read_var_uint()
            raw = decoder.read_message()
            if raw is None:
                raise InvalidMessage("malformed awareness update")
            state = json.loads(raw.decode("utf-8"))
            if state is not None and not isinstance(state, dict):
                raise InvalidMessage("awareness state must be an object or null")
            out.append((client, clock, state))
        if decoder.length:
            raise InvalidMessage("trailing bytes after the awareness update")
        return out
    except InvalidMessage:
        raise
    except (IndexError, RuntimeError, ValueError, UnicodeDecodeError):
        raise InvalidMessage("malformed awareness update")
