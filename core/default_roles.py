"""Built-in plugin: a user's role in a project, read from the membership collection."""

from __future__ import annotations

from .compat.mongoengine import collection_of
from .hookspecs import hookimpl
from .models import Membership


@hookimpl(trylast=True)
def aladdin_resolve_role(app, user_id, project_id):
    # Every authorized request asks: one indexed pymongo lookup, no MongoEngine queryset.
    member = collection_of(Membership).find_one({"projectId": project_id, "userId": user_id}, {"role": 1})
    return member["role"] if member else None
