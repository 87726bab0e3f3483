"""Built-in plugin: realtime."""
