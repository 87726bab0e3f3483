"""Yjs over a plain WebSocket, as y-websocket and Hocuspocus clients speak it (see ``endpoint``)."""
