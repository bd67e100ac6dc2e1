"""``GET /workflows/{name}/releases`` and ``GET /schedules``: the schedules and their audit.

A workflow's schedule and the audit of its releases belong to the engine-topic partition
its name hashes to (``dagger.runtime._schedules``). The worker that owns that partition
answers from its table; another asks its peers, as instance look-ups do.
"""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import quote

from dagger.runtime._cron import utc_iso
from dagger.runtime._schedules import ScheduleOwner
from dagger.web._errors import ApiError, Reply
from dagger.web._instances import Caller, InstancesApi
from dagger.web._local import WorkerView

__all__ = ["ReleasesApi"]


class ScheduledEngine(Protocol):
    """What the releases endpoints read of the engine (``Dagger``)."""

    template_dags: dict[str, Any]
    settings: Any

    def release_owner(self) -> ScheduleOwner:
        """What holds the schedules' state and the release audit in this process."""
        ...

    def worker_view(self) -> WorkerView:
        """This process's instance store and the partitions its worker owns."""
        ...


class ReleasesApi:
    """Answers the schedule and release endpoints for one worker."""

    def __init__(self, engine: ScheduledEngine, instances: InstancesApi) -> None:
        self._engine = engine
        self._instances = instances

    async def releases(self, name: str, caller: Caller) -> Reply:
        """The audit of ``name``'s releases, oldest logical time first."""
        if getattr(self._engine.template_dags.get(name), "workflow", None) is None:
            known = sorted(
                n for n, t in self._engine.template_dags.items() if hasattr(t, "workflow")
            )
            raise ApiError(404, f"no declarative workflow named {name!r}; workflows: {known}")
        owner = self._engine.release_owner()
        if owner.partition_of(name) in self._engine.worker_view().owned_partitions():
            return Reply(200, {"workflow": name, "releases": owner.releases_of(name)})
        if caller.local_only:
            raise ApiError(404, f"the releases of {name!r} are not on this worker")
        for _, answer in await self._instances.ask_peers(
            "GET", f"/workflows/{quote(name)}/releases", caller
        ):
            if answer.status != 404:
                return answer
        raise ApiError(503, f"no worker owns the partition of {name!r} now; try again")

    def schedules(self, now: float) -> Reply:
        """Every schedule and its next fire after ``now`` (as this worker sees its state)."""
        owner = self._engine.release_owner()
        listed = []
        for name, schedule in sorted(owner.schedules.items()):
            last = owner.last(name)
            listed.append(
                {
                    "workflow": name,
                    "cron": schedule.times.expression,
                    "timezone": schedule.times.timezone,
                    "catchup": schedule.catchup,
                    "last_release": None if last is None else utc_iso(last),
                    "next_fire": utc_iso(schedule.times.next_after(max(now, last or now))),
                }
            )
        return Reply(200, {"schedules": listed})
