"""A membership change acknowledged while Redis is down is not undone when Redis comes back with
its data: the role cache's invalidation is owed, and paid as soon as Redis answers again, so no
process goes on answering with the old role for the cache's TTL."""

from __future__ import annotations

import pytest

from core.testing import make_settings
from core.testing.actors import Actors
from tests.restartable_redis import restartable_redis
from tests.waiting import wait_for


@pytest.fixture
def server():
    yield from restartable_redis()


def test_a_removal_made_while_redis_was_down_holds_when_it_returns(make_app, tmp_path, server):
    from core.projects import remove_member

    settings = make_settings(tmp_path / "installation", server.url)
    one, two = make_app(settings), make_app(settings)  # two server processes of one installation
    actors = Actors(one)
    owner, member = actors.user("owner@outage.example"), actors.user("member@outage.example")
    project = actors.project(owner, "Outage Film", "outage-film")
    actors.member(project, member, "editor")

    def role_in(app):
        with app.app_context():
            return app.extensions["aladdin"].role_of(str(member.id), str(project.id))

    assert role_in(two) == "editor"  # cached: in two's memory and in Redis, which saves it
    server.stop()
    with one.app_context():
        remove_member(one, project, str(member.id), owner)  # stored; the cache cannot be told
    server.start()  # back with its data: the old role under the old generation
    wait_for(lambda: role_in(two) is None, message="the removal to hold in the other process",
             ignoring=(Exception,))
    assert role_in(one) is None
    with one.app_context():
        ledger = one.extensions["aladdin"].db.platform()["team_role_invalidations_owed"]
        wait_for(lambda: ledger.count_documents({}) == 0, message="the owed invalidation to be settled")


def test_an_invalidation_owed_by_a_process_that_died_is_paid_by_the_next_to_start(make_app, tmp_path, server):
    from core.models import Membership

    settings = make_settings(tmp_path / "installation", server.url)
    one = make_app(settings)
    actors = Actors(one)
    owner, member = actors.user("owner@ledger.example"), actors.user("member@ledger.example")
    project = actors.project(owner, "Ledger Film", "ledger-film")
    actors.member(project, member, "editor")
    with one.app_context():
        ext = one.extensions["aladdin"]
        assert ext.role_of(str(member.id), str(project.id)) == "editor"  # cached everywhere
        # What a process that died owing the invalidation leaves: the change stored, the
        # ledger written, and every cache still holding the old role.
        Membership.objects(projectId=str(project.id), userId=str(member.id)).delete()
        ext.db.platform()["team_role_invalidations_owed"].insert_one({"_id": str(project.id)})
        assert ext.role_of(str(member.id), str(project.id)) == "editor"
    make_app(settings)  # the next process to start pays it, for every process

    def role_in_one():
        with one.app_context():
            return one.extensions["aladdin"].role_of(str(member.id), str(project.id))

    wait_for(lambda: role_in_one() is None, message="the owed invalidation to reach the running process")
