"""Oso authorization: the default ``.polar`` rule book, plugin and admin policy files, ``authorize()``.

Every route authorizes through :meth:`Authorizer.authorize`. A user with no role in a project
learns nothing about it (404), a member without the permission gets 403, and a document the
reader may not view answers like a missing one (404). Reads of content are decided by one
function, :meth:`Authorizer.read_filter`: a MongoDB filter for lists, matched for single documents."""

from __future__ import annotations

from .authorizer import DECISION_CACHE_SIZE, Authorizer
from .policy import (DEFAULT_POLICY_FILES, PERMISSIONS, POLICY_DIR, ROLES, PolicyError, build_oso,
                     policy_files, policy_origins)
from .reads import EVERYTHING, READ, CompileError, ReadFilter
from .resources import MISSING, Content, Fields, ListReader, Project, User

__all__ = ["Authorizer", "CompileError", "Content", "DECISION_CACHE_SIZE", "EVERYTHING", "MISSING",
           "PERMISSIONS", "PolicyError", "Project", "READ", "ROLES", "ReadFilter", "User", "build_oso",
           "policy_files", "policy_origins"]
