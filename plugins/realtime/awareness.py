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
from redis.exceptions import NoScriptError

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

# One awareness entry for KEYS[1] (the id's claim; KEYS[2] remembers "<clock>|<user>|" of the id's
# last removal) from ARGV[1] (the token; ARGV[3] "<user>|"), with clock ARGV[4], a removal when
# ARGV[5] is "1"; ARGV[6] is the clock this process holds for the id (0: none); ARGV[7] is "1"
# when the entry is the socket's first announcement (the only entry, the socket holding no other
# id): how a client back with the same Y.Doc announces itself. Returns
# {1, seen} when the entry goes on (the id claimed), {0, 0} when another user holds the id, and
# {-1, seen} when it is nothing new (see AwarenessOwners.admit); ``seen`` is the highest clock
# the peers hold for the id.
_ADMIT = """
local owner = redis.call('GET', KEYS[1])
local users = owner and string.sub(owner, 1, string.len(ARGV[3])) == ARGV[3]
if owner and not users then
  return {0, 0}
end
local seen = tonumber(ARGV[6])
local last = redis.call('GET', KEYS[2])
local lastuser = nil
if last then
  local sep = string.find(last, '|', 1, true)
  local clock = tonumber(sep and string.sub(last, 1, sep - 1) or last)
  if clock > seen then seen = clock end
  if sep then lastuser = string.sub(last, sep + 1) end
end
if owner ~= ARGV[1] then
  if ARGV[5] == '1' then
    if not owner then return {-1, seen} end
  elseif tonumber(ARGV[4]) <= seen then
    if owner or (lastuser and (lastuser ~= ARGV[3] or ARGV[7] ~= '1')) then return {-1, seen} end
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return {1, seen}
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

# Release KEYS[1] only if ARGV[1] still holds it, remembering the clock its removal goes out with
# (ARGV[2], "<clock>|<user>|", kept ARGV[3] seconds; none when empty); 1 when it did.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  if ARGV[2] ~= '' then
    redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
  end
  return redis.call('DEL', KEYS[1])
end
return 0
"""


# How long a removed client id's last clock is remembered (a client reconnecting later than this
# is seen again at its next renewal, at most 15 s on; peers that ran that long without it are rare).
CLOCK_MEMORY_SECONDS = 24 * 3600
MAX_DEPARTED = 100_000  # client ids released here whose user is remembered (cleared wholesale when full)


class AwarenessOwners:
    """Client-id claims per document, in Redis (``<prefix>:aw:<project>:<collection>:<doc>:<client>``).

    This process remembers its own sockets' claims, so the common case -- a client renewing its
    own state -- costs no round trip; the sweeper renews them in Redis, and a claim left by a
    crashed process expires after ``ttl`` seconds. Every other entry of an awareness update is
    decided in one round trip, whatever the number of entries."""

    def __init__(self, redis, prefix: str, process_id: str, ttl: float = 30.0):
        self.redis = redis
        self.prefix = prefix
        self.process_id = process_id
        self.ttl = max(int(ttl), 5)
        self._claim = redis.register_script(_CLAIM)
        self._admit = redis.register_script(_ADMIT)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)
        self._lock = threading.Lock()
        self._owned: dict[tuple, set[int]] = {}               # (docKey, sid) -> client ids
        self._holder: dict[tuple, tuple[str, str]] = {}       # (docKey, client id) -> (sid, user id)
        self._users: dict[str, str] = {}                      # sid -> user id
        self._departed: dict[tuple, str] = {}                 # (docKey, client id) -> user, released here

    def _key(self, key: tuple, client: int) -> str:
        return f"{self.prefix}:aw:{':'.join(key)}:{client}"

    def _clock_key(self, key: tuple, client: int) -> str:
        return f"{self.prefix}:awclock:{':'.join(key)}:{client}"

    def _token(self, sid: str, user_id: str) -> str:
        return f"{user_id}|{self.process_id}|{sid}"

    def _hold(self, key: tuple, client: int, sid: str, user_id: str) -> None:
        with self._lock:
            previous = self._holder.get((key, client))
            if previous is not None and previous[0] != sid:  # taken over from the user's other socket
                self._owned.get((key, previous[0]), set()).discard(client)
            self._holder[(key, client)] = (sid, user_id)
            self._owned.setdefault((key, sid), set()).add(client)
            self._users[sid] = user_id

    def _scripts(self, calls: list[tuple]) -> list:
        """Run ``(script, keys, args)`` calls in one round trip. EVALSHA directly: a pipeline that
        knows its scripts first asks Redis whether it has them, a second round trip every time.
        Scripts a restarted Redis has lost are loaded, and only the calls they refused run again.
        A single call (a reconnect's claim, a departure's release) skips the pipeline's machinery:
        the script's own call does the same, EVALSHA and the reload."""
        if len(calls) == 1:
            script, keys, args = calls[0]
            return [script(keys=keys, args=args)]
        pipe = self.redis.pipeline(transaction=False)
        for script, keys, args in calls:
            pipe.evalsha(script.sha, len(keys), *keys, *args)
        results = pipe.execute(raise_on_error=False)
        lost = [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]
        if lost:
            for script in {id(calls[i][0]): calls[i][0] for i in lost}.values():
                self.redis.script_load(script.script)
            again = self._scripts([calls[i] for i in lost])
            for i, result in zip(lost, again):
                results[i] = result
        for result in results:
            if isinstance(result, Exception):
                raise result
        return results

    def claim(self, key: tuple, sid: str, user_id: str, clients: Iterable[int]) -> set[int]:
        """Claim ``clients`` for ``sid`` where allowed (a socket's Yjs updates: the ids it writes
        under); returns the ids another user's socket holds."""
        refused, ask = set(), []
        for client in set(clients):
            with self._lock:
                holder = self._holder.get((key, client))
            if holder is not None and holder[1] != user_id:
                refused.add(client)
            elif holder is None or holder[0] != sid:
                ask.append(client)
        if not ask:
            return refused
        args = [self._token(sid, user_id), self.ttl, f"{user_id}|"]
        for client, claimed in zip(ask, self._scripts([(self._claim, [self._key(key, c)], args) for c in ask])):
            if claimed:
                self._hold(key, client, sid, user_id)
            else:
                refused.add(client)
        return refused

    def admit(self, key: tuple, sid: str, user_id: str, entries: list, meta: dict) -> tuple[list, set[int]]:
        """The ``(client, clock, state)`` entries of one awareness update from ``sid`` that go on,
        each with the clock it goes out with, and the ids dropped because another user's socket
        holds them. ``meta`` is this process's awareness meta of the document.

        An entry for an id this socket does not hold yet claims it (free, or held by another
        socket of the same user: a client reconnecting with the same Y.Doc), unless it is
        nothing new -- stock y-websocket clients send back every change they receive:

        * a removal of an id nobody holds removes nothing (claiming the departed client's id for
          the peer that echoed it hid that client's own states as "another user's" when it came
          back with the same Y.Doc);
        * a state no newer than the one the peers hold (its clock not above) is an echo, when the
          user's other socket holds the id, or its client has left: the peers have it (an id
          released here, by another user's socket, is decided without a round trip). Taking
          such an echo in resurrected a departed client's state under the echoing user's name,
          passed on to every later client (a page reloaded at once gets its previous client's
          state with the others', before that client's removal); between two tabs of one user,
          each echo took the id over with a higher clock and the two sent it back and forth
          without end.

        The exception is the client itself back with the same Y.Doc: a departed client's state,
        no newer than its removal, as the first announcement of a socket of the same user (stock
        providers announce their own state first on every connection). It goes on above the
        removal's clock (see :func:`relay_clock`)."""
        kept, refused, ask = [], set(), []
        for client, clock, state in entries:
            with self._lock:
                holder = self._holder.get((key, client))
            seen = meta[client]["clock"] if client in meta else None
            if holder is not None and holder[1] != user_id:
                refused.add(client)
            elif holder is not None and holder[0] == sid and seen is not None:
                kept.append((client, out_clock(seen, clock, state), state))
            elif state is not None and seen is not None and clock <= seen and (
                    holder is not None or self._departed.get((key, client), user_id) != user_id):
                continue  # the user's other socket's state, or another user's departed client's, echoed
            else:
                ask.append((client, clock, state, seen or 0))
        if not ask:
            return kept, refused
        token, users = self._token(sid, user_id), f"{user_id}|"
        with self._lock:
            held = set(self._owned.get((key, sid), ()))
        first = "1" if len(entries) == 1 and not held - {entries[0][0]} else "0"
        answers = self._scripts([(self._admit, [self._key(key, c), self._clock_key(key, c)],
                                  [token, self.ttl, users, clock, "1" if state is None else "0", seen, first])
                                 for c, clock, state, seen in ask])
        for (client, clock, state, _seen), (status, seen) in zip(ask, answers):
            if status == 0:
                refused.add(client)
            elif status == 1:
                self._hold(key, client, sid, user_id)
                kept.append((client, out_clock(int(seen), clock, state), state))
        return kept, refused

    def release(self, key: tuple, sid: str, clocks: dict[int, int] | None = None) -> set[int]:
        """The socket closed the document: its client ids are free again, and the clock each
        one's removal goes out with (``clocks``) is remembered for whichever process sees the id
        next (peers keep a removed id's clock for as long as they run; see :meth:`admit`).
        Returns the ids it still held (not the ones another socket of its user took over)."""
        with self._lock:
            clients = self._owned.pop((key, sid), set())
            user_id = self._users.get(sid, "")
            for client in clients:
                if self._holder.get((key, client), (None,))[0] == sid:
                    del self._holder[(key, client)]
                if len(self._departed) >= MAX_DEPARTED:
                    self._departed.clear()
                self._departed[(key, client)] = user_id
            if not any(k[1] == sid for k in self._owned):
                self._users.pop(sid, None)
        if not clients:
            return set()
        ordered, clocks = sorted(clients), clocks or {}
        token = self._token(sid, user_id)
        held = self._scripts([(self._release, [self._key(key, c), self._clock_key(key, c)],
                               [token, f"{clocks[c]}|{user_id}|" if c in clocks else "", CLOCK_MEMORY_SECONDS])
                              for c in ordered])
        return {client for client, kept in zip(ordered, held) if kept}

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
        kept = self._scripts([(self._renew, [self._key(key, client)], [self._token(sid, user_id), self.ttl])
                              for key, sid, user_id, client in claims])
        for (key, sid, _user, client), still in zip(claims, kept):
            if not still:
                with self._lock:
                    self._owned.get((key, sid), set()).discard(client)
                    if self._holder.get((key, client), (None,))[0] == sid:
                        del self._holder[(key, client)]


def echoed(awareness, own: set[int], update: bytes) -> bool:
    """Is every entry of ``update`` (from a socket whose ids are ``own``) what ``awareness``, the
    server's copy, holds already -- another client's state at a clock not above the one held, or
    the removal of an id already removed? Then it changes nothing anywhere: a stock provider
    sending back what it received. So is, once the socket has announced its own client, a state
    of a client that has left since (at a clock not above its removal's): a page gets the others'
    states as it opens and sends each back, after the removal of one that left meanwhile; only a
    socket's first announcement can be a client back with the same Y.Doc (see
    :meth:`AwarenessOwners.admit`). Malformed updates are not echoes (they are answered)."""
    try:
        entries = parse_awareness(update)
    except InvalidMessage:
        return False
    meta, states = awareness.meta, awareness.states
    return bool(entries) and all(
        client not in own and client in meta and clock <= meta[client]["clock"]
        and ((client in states) == (state is not None) or (own and client not in states))
        for client, clock, state in entries)


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


def out_clock(seen: int, clock: int, state: Any) -> int:
    """The clock an accepted entry goes out with: a state's by :func:`relay_clock`; a removal's
    its own, or the peers' when they hold a higher one (they take a removal at an equal clock,
    as y-protocols' own removals go out; never above it, see :func:`relay_clock`)."""
    return relay_clock(seen, clock) if state is not None else max(seen, clock)


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
