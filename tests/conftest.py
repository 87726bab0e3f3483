"""Aladdin's own tests use the test kit it ships for plugin authors (``core.testing``): a fresh app
per test on the embedded document server (one per test process), one embedded Redis per session,
``client``, ``actors``, ``team``, ``settings`` and the rest. See docs/plugin_hooks.md."""

# Where Aladdin is installed with its metadata, pytest loads the kit through the ``pytest11`` entry
# point named ``core.testing``; this line is then a no-op (same name) and otherwise loads it.
pytest_plugins = ["core.testing"]

import pytest  # noqa: E402

pytest.register_assert_rewrite("core.testing")  # before the import below, as pytest would for a plugin

# Re-exported: test modules import these helpers from here.
from core.testing import (Actors, database_names, docstore_uri, drop_new_databases, make_settings,  # noqa: E402,F401
                          policy_folder)
from core.testing.stores import _docstore  # noqa: E402,F401


def policy_settings(tmp_path, redis_server, rules: str, name: str = "admin.polar"):
    """Settings whose admin policy directory holds one file, ``name``, with ``rules``."""
    return make_settings(tmp_path, redis_server,
                         policy_dir=policy_folder(tmp_path / "admin-policies", **{name.removesuffix(".polar"): rules}))
