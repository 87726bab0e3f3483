"""Socket.IO event handlers of the ``/collab`` namespace."""
