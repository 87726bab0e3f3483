"""The team plugin's role cache: hits skip the membership lookup, misses are stored, Redis outages degrade."""

from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from core.models import Membership
from plugins.team.cache import NO_ROLE, RoleCache, encode


def test_hits_answer_without_the_database_and_changes_invalidate(app, team):
    ext = app.extensions["aladdin"]
    project_id, viewer, outsider = str(team["project"].id), str(team["viewer"].id), str(team["outsider"].id)
    assert ext.role_of(viewer, project_id) == "viewer"
    assert ext.role_of(outsider, project_id) is None
    cache = RoleCache.for_app(app)
    near = cache.lookup(outsider, project_id)
    assert near.found and near.near and near.role is None       # answered from this process's memory
    lookup = _redis_tier(app).lookup(outsider, project_id)      # and shared through Redis
    assert lookup.found and not lookup.near and lookup.role is None
    stored = ext.jobs.redis.get(cache._role_key(project_id, outsider)).decode()
    assert stored == encode(lookup.generation, None) == f"{lookup.generation}:{NO_ROLE}"
    # Writes that bypass the events are not seen while cached (the cache answered)...
    Membership(projectId=project_id, userId=outsider, role="viewer").save()
    Membership.objects(projectId=project_id, userId=viewer).update(set__role="editor")
    assert ext.role_of(outsider, project_id) is None and ext.role_of(viewer, project_id) == "viewer"
    # ...and one invalidation (what every member event triggers) makes both visible.
    cache.invalidate(project_id)
    assert ext.role_of(outsider, project_id) == "viewer" and ext.role_of(viewer, project_id) == "editor"


def test_a_reader_racing_a_change_cannot_store_a_stale_role(app, team):
    ext = app.extensions["aladdin"]
    project_id, viewer = str(team["project"].id), str(team["viewer"].id)
    cache = RoleCache.for_app(app)
    miss = cache.lookup(viewer, project_id)          # a reader misses, reads "viewer" from the database...
    assert not miss.found
    cache.invalidate(project_id)                     # ...a role change lands and invalidates...
    Membership.objects(projectId=project_id, userId=viewer).update(set__role="editor")
    cache.store(miss.generation, viewer, project_id, "viewer")  # ...then the reader stores its stale answer
    assert ext.role_of(viewer, project_id) == "editor"


def test_ttl_is_configurable(app, team):
    cache = RoleCache(app.extensions["aladdin"].jobs.redis, "ttl-test", ttl=42)
    cache.store("0", "u", "p", "editor")
    assert 0 < app.extensions["aladdin"].jobs.redis.ttl(cache._role_key("p", "u")) <= 42


def test_redis_outage_falls_back_to_the_database(app, team):
    ext = app.extensions["aladdin"]
    unreachable = redis.Redis(unix_socket_path="/nonexistent/redis.sock", retry=Retry(NoBackoff(), 0))
    broken = RoleCache(unreachable, "broken")
    app.extensions["aladdin.team"]["role_cache"] = broken
    assert broken.lookup("u", "p") is None
    assert ext.role_of(str(team["editor"].id), str(team["project"].id)) == "editor"
    assert ext.role_of(str(team["outsider"].id), str(team["project"].id)) is None
    broken.invalidate(str(team["project"].id))  # logged, not raised


class CountingRedis:
    """Forwards to a real client and counts the commands a lookup sends."""

    def __init__(self, client):
        self.client, self.calls = client, []

    def __getattr__(self, name):
        attr = getattr(self.client, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            self.calls.append(name)
            return attr(*args, **kwargs)

        return call


def _redis_tier(app) -> RoleCache:
    """The app's role cache without the near cache in front: what a process's first lookup sees."""
    ext = app.extensions["aladdin"]
    return RoleCache(ext.jobs.redis, ext.settings.platform_db)


def test_a_repeated_lookup_costs_no_round_trip_and_a_second_process_one(app, team, settings):
    from core.app import create_app

    ext = app.extensions["aladdin"]
    project_id, editor = str(team["project"].id), str(team["editor"].id)
    counting = CountingRedis(ext.jobs.redis)
    app.extensions["aladdin.team"]["role_cache"] = RoleCache(counting, ext.settings.platform_db, near=ext.near_cache)
    assert ext.role_of(editor, project_id) == "editor"          # miss everywhere: lookup + store
    assert counting.calls == ["mget", "set"]
    counting.calls.clear()
    for _ in range(3):
        assert ext.role_of(editor, project_id) == "editor"      # from memory
    assert counting.calls == []
    other = create_app(settings, load_entry_points=False)       # another process of the installation
    try:
        other_ext = other.extensions["aladdin"]
        other_counting = CountingRedis(other_ext.jobs.redis)
        other.extensions.setdefault("aladdin.team", {})["role_cache"] = RoleCache(
            other_counting, other_ext.settings.platform_db, near=other_ext.near_cache)
        assert other_ext.role_of(editor, project_id) == "editor"
        assert other_counting.calls == ["mget"]                 # Redis answered; nothing to store
        # A change in the first process reaches the second's memory at once.
        Membership.objects(projectId=project_id, userId=editor).update(set__role="viewer")
        app.extensions["aladdin.team"]["role_cache"].invalidate(project_id)
        assert other_ext.role_of(editor, project_id) == "viewer"
        assert ext.role_of(editor, project_id) == "viewer"
    finally:
        other.extensions["aladdin"].near_cache.close()
        other.extensions["aladdin"].db.close()


def test_a_hit_is_one_round_trip(app, team):
    ext = app.extensions["aladdin"]
    project_id, editor = str(team["project"].id), str(team["editor"].id)
    counting = CountingRedis(ext.jobs.redis)
    app.extensions["aladdin.team"]["role_cache"] = RoleCache(counting, ext.settings.platform_db)
    assert ext.role_of(editor, project_id) == "editor"          # miss: lookup + store
    assert counting.calls == ["mget", "set"]
    counting.calls.clear()
    assert ext.role_of(editor, project_id) == "editor"          # hit: a single MGET
    assert counting.calls == ["mget"]


def test_a_role_stored_under_an_older_generation_is_a_miss(app, team):
    ext = app.extensions["aladdin"]
    project_id, viewer = str(team["project"].id), str(team["viewer"].id)
    cache = _redis_tier(app)
    assert ext.role_of(viewer, project_id) == "viewer"
    old = cache.lookup(viewer, project_id)
    assert old.found and old.role == "viewer"
    cache.invalidate(project_id)
    fresh = cache.lookup(viewer, project_id)
    assert not fresh.found and fresh.generation != old.generation
    # A value from a generation that is not current never answers, whatever it says.
    ext.jobs.redis.set(cache._role_key(project_id, viewer), encode(old.generation, "owner"), ex=60)
    assert not cache.lookup(viewer, project_id).found
    assert ext.role_of(viewer, project_id) == "viewer"
    # Malformed values (e.g. written by an older release) are misses too, never roles.
    ext.jobs.redis.set(cache._role_key(project_id, viewer), "owner", ex=60)
    assert not cache.lookup(viewer, project_id).found


def test_cache_mode_setting(tmp_path, redis_server):
    import pytest

    from plugins.team.cache import enabled_for
    from tests.conftest import make_settings

    assert enabled_for(make_settings(tmp_path, redis_server))                       # default: cached
    assert enabled_for(make_settings(tmp_path, redis_server, role_cache="auto"))     # every store is a server: cached
    assert not enabled_for(make_settings(tmp_path, redis_server, role_cache="off"))
    with pytest.raises(ValueError, match="ALADDIN_ROLE_CACHE"):
        enabled_for(make_settings(tmp_path, redis_server, role_cache="sometimes"))


def test_with_the_cache_off_roles_are_read_fresh_and_redis_is_untouched(app, team):
    ext = app.extensions["aladdin"]
    project_id, viewer = str(team["project"].id), str(team["viewer"].id)
    counting = CountingRedis(ext.jobs.redis)
    app.extensions["aladdin.team"]["role_cache"] = RoleCache(counting, ext.settings.platform_db, enabled=False)
    assert ext.role_of(viewer, project_id) == "viewer"
    Membership.objects(projectId=project_id, userId=viewer).update(set__role="editor")  # bypasses every event
    assert ext.role_of(viewer, project_id) == "editor"
    assert ext.role_of(str(team["outsider"].id), project_id) is None
    assert counting.calls == []


def test_auto_on_the_embedded_store_keeps_roles_in_memory_without_redis_round_trips(app, team):
    """Without the Redis tier, the near cache still answers
    repeats and membership changes still reach it."""
    from core.projects import set_role

    ext = app.extensions["aladdin"]
    project_id, viewer = str(team["project"].id), str(team["viewer"].id)
    counting = CountingRedis(ext.jobs.redis)
    cache = RoleCache(counting, ext.settings.platform_db, near=ext.near_cache, redis_tier=False)
    app.extensions["aladdin.team"]["role_cache"] = cache
    for _ in range(3):
        assert ext.role_of(viewer, project_id) == "viewer"
    assert counting.calls == []                              # nothing read from or stored in Redis
    assert cache.lookup(viewer, project_id).near              # answered from memory
    set_role(app, team["project"], viewer, "editor", team["owner"])
    assert ext.role_of(viewer, project_id) == "editor"
    assert "mget" not in counting.calls and "set" not in counting.calls
