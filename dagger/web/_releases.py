"""``/workflows/{name}/releases`` and ``GET /schedules``: the schedules and their audit.

``GET`` lists a workflow's audit; ``POST`` asks for a manual release (force, dry-run,
rerun: :mod:`._release_request`), answered 202 with the release's key and instance id.

A workflow's schedule and the audit of its releases belong to the engine-topic partition
its name hashes to (``dagger.runtime._schedules``). The worker that owns that partition
answers from its table; another asks its peers, as instance look-ups do.
"""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import quote

from dagger.runtime._cron import utc_iso
from dagger.runtime._schedules import ManualRelease, ReleaseRefused, Schedule, ScheduleOwner
from dagger.web._errors import ApiError, Reply
from dagger.web._instances import Caller, InstancesApi
from dagger.web._local import WorkerView
from dagger.web._release_request import parse_release

__all__ = ["ReleasesApi"]


class ScheduledEngine(Protocol):
    """What the releases endpoints read of the engine (``Dagger``)."""

    template_dags: dict[str, Any]

    def release_owner(self) -> ScheduleOwner:
        """What holds the schedules' state and the release audit in this process."""
        ...

    async def request_release(
        self,
        workflow: str,
        kind: str,
        *,
        logical_time: float | None = None,
        original: str | None = None,
    ) -> ManualRelease:
        """Ask the owner of ``workflow``'s schedule for a manual release."""
        ...


class ReleasesApi:
    """Answers the schedule and release endpoints for one worker."""

    def __init__(self, engine: ScheduledEngine, instances: InstancesApi, view: WorkerView) -> None:
        self._engine = engine
        self._instances = instances
        self._view = view

    async def releases(self, name: str, caller: Caller) -> Reply:
        """The audit of ``name``'s releases, oldest logical time first."""
        self._require_workflow(name)
        owner = self._engine.release_owner()
        if owner.partition_of(name) in self._view.owned_partitions():
            return Reply(200, {"workflow": name, "releases": owner.releases_of(name)})
        if caller.local_only:
            raise ApiError(404, f"the releases of {name!r} are not on this worker")
        for _, answer in await self._instances.ask_peers(
            "GET", f"/workflows/{quote(name)}/releases", caller
        ):
            if answer.status != 404:
                return answer
        raise ApiError(503, f"no worker owns the partition of {name!r} now; try again")

    async def release(self, name: str, body: bytes, caller: Caller) -> Reply:
        """Ask for a manual release of ``name``: 202 with its key and instance id.

        The worker that owns the schedule checks the request against its audit and
        appends the event its owner applies; another forwards the request to it.
        """
        request = parse_release(body)
        self._require_workflow(name)
        owner = self._engine.release_owner()
        schedule = owner.schedules.get(name)
        if schedule is None:
            raise ApiError(409, f"the workflow {name!r} has no schedule to release")
        if owner.partition_of(name) not in self._view.owned_partitions():
            if caller.local_only:
                raise ApiError(404, f"the schedule of {name!r} is not on this worker")
            for _, answer in await self._instances.ask_peers(
                "POST", f"/workflows/{quote(name)}/releases", caller, body=request.body()
            ):
                if answer.status != 404:
                    return answer
            raise ApiError(503, f"no worker owns the partition of {name!r} now; try again")
        try:
            release = await self._engine.request_release(
                name,
                request.kind,
                logical_time=request.logical_time(schedule.times.timezone),
                original=request.key,
            )
        except ReleaseRefused as refused:
            raise ApiError(refused.status, str(refused)) from None
        accepted = {
            "workflow": name,
            "kind": request.kind,
            "key": release.key,
            "logical_time": utc_iso(release.event.logical_time),
            "instance_id": release.instance_id,
            "existing": release.existing,
        }
        return Reply(202, accepted)

    def _require_workflow(self, name: str) -> None:
        """ApiError 404 unless ``name`` is a declarative workflow."""
        if getattr(self._engine.template_dags.get(name), "workflow", None) is None:
            known = sorted(
                n for n, t in self._engine.template_dags.items() if hasattr(t, "workflow")
            )
            raise ApiError(404, f"no declarative workflow named {name!r}; workflows: {known}")

    async def schedules(self, now: float, caller: Caller) -> Reply:
        """Every schedule and its next fire after ``now``, each from the worker that owns it.

        A worker asked with the local scope lists the schedules of its own partitions
        only; one asked by a client adds its peers' answers, and lists a schedule no
        worker owns at the moment (a rebalance) without its last release.
        """
        owner = self._engine.release_owner()
        owned = self._view.owned_partitions()
        listed = {
            name: _schedule_entry(name, schedule, owner.last(name), now)
            for name, schedule in owner.schedules.items()
            if owner.partition_of(name) in owned
        }
        if not caller.local_only:
            for _, answer in await self._instances.ask_peers("GET", "/schedules", caller):
                if answer.status == 200 and isinstance(answer.body, dict):
                    for entry in answer.body.get("schedules", []):
                        listed.setdefault(entry["workflow"], entry)
            for name, schedule in owner.schedules.items():
                listed.setdefault(name, _schedule_entry(name, schedule, None, now))
        return Reply(200, {"schedules": [listed[name] for name in sorted(listed)]})


def _schedule_entry(
    name: str, schedule: Schedule, last: float | None, now: float
) -> dict[str, Any]:
    """What ``GET /schedules`` says of one schedule."""
    return {
        "workflow": name,
        "cron": schedule.times.expression,
        "timezone": schedule.times.timezone,
        "catchup": schedule.catchup,
        "last_release": None if last is None else utc_iso(last),
        "next_fire": utc_iso(schedule.times.next_after(max(now, last or now))),
    }
