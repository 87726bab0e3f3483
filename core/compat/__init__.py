"""Every third-party internal Aladdin relies on, one module per library (``core/compat/<library>.py``).

Each module names the locked version it was checked against and why no public API serves;
``tests/unit/test_compat.py`` fails, naming the library and the internal, when one changes."""
