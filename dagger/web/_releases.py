"""``GET /workflows/{name}/releases`` and ``GET /schedules``: the schedules and their audit.

A workflow's schedule and the audit of its releases belong to the engine-topic partition
its name hashes to (``dagger.runtime._schedules``). The worker that owns that partition
answers from its table; another asks its peers, as instance look-ups do.
"""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import quote

from dagger.runtime._cron import utc_iso
from dagger.runtime._schedules import Schedule, ScheduleOwner
from dagger.web._errors import ApiError, Reply
from dagger.web._instances import Caller, InstancesApi
from dagger.web._local import WorkerView

__all__ = ["ReleasesApi"]


class ScheduledEngine(Protocol):
    """What the releases endpoints read of the engine (``Dagger``)."""

    template_dags: dict[str, Any]

    def release_owner(self) -> ScheduleOwner:
        """What holds the schedules' state and the release audit in this process."""
        ...


class ReleasesApi:
    """Answers the schedule and release endpoints for one worker."""

    def __init__(self, engine: ScheduledEngine, instances: InstancesApi, view: WorkerView) -> None:
        self._engine = engine
        self._instances = instances
        self._view = view

    async def releases(self, name: str, caller: Caller) -> Reply:
        """The audit of ``name``'s releases, oldest logical time first."""
        if getattr(self._engine.template_dags.get(name), "workflow", None) is None:
            known = sorted(
                n for n, t in self._engine.template_dags.items() if hasattr(t, "workflow")
            )
            raise ApiError(404, f"no declarative workflow named {name!r}; workflows: {known}")
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
