"""Built-in plugin: clone."""
