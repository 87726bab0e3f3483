"""Aladdin core: the platform (projects, people, content, permissions, storage, jobs) that plugins extend."""

__version__ = "0.1.0"
