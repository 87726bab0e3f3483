"""``/api/v1/plugins``: each loaded plugin's name, version and hooks."""

from __future__ import annotations

from flask_smorest import Blueprint

from ..plugins import describe_plugins
from . import ext
from .schemas import PluginListSchema


def create_blueprint() -> Blueprint:
    bp = Blueprint("plugins", __name__, url_prefix="/api/v1/plugins", description="Plugins")

    @bp.route("")
    @bp.response(200, PluginListSchema)
    def list_plugins():
        """Loaded plugins (built-in and third-party)."""
        return {"items": describe_plugins(ext().pm)}

    return bp
