"""No per-message compression on the threading server's websockets: simple-websocket (1.1) accepts
permessage-deflate whenever a client offers it, and browsers and Node's ``ws`` always offer it.

Why: every Yjs keystroke, cursor and ack is a frame of a few dozen bytes, which zlib only makes
slower: deflating each frame cost the server CPU and added latency (``bench.yjs``: keystroke to
peer p50 about 0.8 ms, connect to synced about 5 ms, server CPU per edit about 0.2 ms). Node's
engine.io server and Hocuspocus (``ws``) leave it off by default for the same reason. No
public option: simple-websocket's server hands wsproto a ``PerMessageDeflate()`` it builds
itself in ``Base._handle_events``; the class it looks up there declines every offer instead."""

from __future__ import annotations

from wsproto.extensions import PerMessageDeflate


class Declined(PerMessageDeflate):
    """Offered permessage-deflate, the server answers without it (RFC 7692: the client then
    sends and expects plain frames)."""

    def accept(self, offer):
        return None


def decline_compression() -> None:
    """Make simple-websocket's servers (this process) refuse permessage-deflate."""
    import simple_websocket.ws

    simple_websocket.ws.PerMessageDeflate = Declined
