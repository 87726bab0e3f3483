"""Aladdin's built-in plugins; each uses only the public hooks of ``core.hookspecs``."""
