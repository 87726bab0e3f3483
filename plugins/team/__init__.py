"""Built-in plugin: team."""
