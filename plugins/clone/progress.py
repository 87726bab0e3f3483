"""One clone's progress: monotonic from 0 to 1 through planning and writing, to a callback
(the job record, the CLI bar) and as ``clone.progress`` events to the source and target projects.

Planning takes the first :data:`PLAN_SHARE` of the bar: the walk's share grows with the
documents whose references were read over those found so far (clamped, so it never goes
back when a level finds more), building the copies the rest. Writing then counts media
objects, documents and the graph as the executor weighs them."""

from __future__ import annotations

from typing import Callable

from core.content import actor_id
from core.events import emit

ProgressFn = Callable[[float, str], None]
PLAN_SHARE = 0.3
WALK_SHARE = 0.25
STEP = 0.05  # at most ~20 reports per clone, however large


class CloneProgress:
    def __init__(self, app, source, target, user, root: tuple[str, str], *, job_id: str | None = None,
                 callback: ProgressFn | None = None, planning: bool = True):
        self.app = app
        self.source, self.target = source, target
        self.actor_id = actor_id(user)
        self.root = root
        self.job_id = job_id
        self.callback = callback
        # Without a planning phase (an executor given a finished plan) writing spans the bar.
        self.write_start = PLAN_SHARE if planning else 0.0
        self.last = -1.0
        self.last_reported = -1.0

    def walked(self, read: int, found: int) -> None:
        if found:
            self.report(WALK_SHARE * min(1.0, read / found), "planning")

    def planned(self) -> None:
        self.report(self.write_start, "planned")

    def written(self, fraction: float, stage: str) -> None:
        self.report(self.write_start + (1.0 - self.write_start) * fraction, stage)

    def report(self, value: float, stage: str) -> None:
        value = round(min(max(value, self.last, 0.0), 1.0), 3)
        self.last = value
        first = self.last_reported < 0
        if not first and value < 1.0 and value - self.last_reported < STEP:
            return
        if value == self.last_reported and not first and stage != "completed":
            return  # nothing new; "completed" is always said, even when the graph already made it 1.0
        self.last_reported = value
        if self.callback:
            self.callback(value, stage)
        projects = [self.source] if str(self.source.id) == str(self.target.id) else [self.source, self.target]
        for project in projects:
            role = "source" if project is self.source else "target"
            emit(self.app, "clone.progress", project_id=str(project.id), actor_id=self.actor_id,
                 resource_type=self.root[0], resource_id=self.root[1], jobId=self.job_id,
                 progress=value, stage=stage, role=role, projectId=str(project.id),
                 sourceProjectId=str(self.source.id), targetProjectId=str(self.target.id))
