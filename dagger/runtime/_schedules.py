"""Schedules: each fire of a workflow's cron is a release, created once per key.

A schedule belongs to one partition of the engine topic, the one its workflow's name
hashes to, and only that partition's owner changes it, as an instance's owner changes
the instance. Its state, the logical time it last released, is a record of the
partition-local table ``dagger_schedules``; the audit of its releases is the table
``dagger_releases`` (a compacted changelog), keyed by release key.

The worker's schedule tick (:meth:`ScheduleOwner.due`) reads the state of each schedule
its partitions own and, when a fire is due, appends a :class:`ScheduleDue` event (with
the tick's time) to the schedule's partition. Applying it (:meth:`ScheduleOwner.handle`)
picks the fires to release by the schedule's catch-up policy, starts one instance per
fire, records each in the audit and moves the state on, all in the batch's commit: the
``created`` events are on the broker before the state is stored. A crash before the
commit replays the event, which picks the same fires again; each release's instance id
is derived from its key (:func:`release_id`), and its owner treats a repeated
``created`` of the same template and params as a no-op, so a key is released once.

Manual releases go the same way: :meth:`ScheduleOwner.request` makes the
:class:`ReleaseRequested` event (``force``, ``dry-run`` or ``rerun``) that the API appends
to the schedule's partition, and the owner applies it (:meth:`ScheduleOwner.handle`). A
force keeps the key of the logical time it releases, so forcing a time already released
(by the schedule or by hand) changes nothing; a rerun's key is its original's with
``#rerun-N``; a dry-run is audited under ``#dry-run`` and starts nothing.
"""

from __future__ import annotations

import itertools
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dagger.core._codec import dumps, loads
from dagger.core._events import ReleaseRequested, ScheduleDue
from dagger.runtime._cron import CronTimes, utc_iso
from dagger.runtime._partitioning import partition_for_key
from dagger.runtime._starts import InstanceStarter, StartRequest
from dagger.tasks._status import TERMINAL_STATUSES

logger = logging.getLogger(__name__)

__all__ = [
    "CATCHUP_POLICIES",
    "MANUAL_KINDS",
    "MAX_RELEASES_PER_EVENT",
    "MISSED_AFTER_SECONDS",
    "ManualRelease",
    "ReleaseRefused",
    "Schedule",
    "ScheduleOwner",
    "release_id",
    "release_key",
]

CATCHUP_POLICIES = ("latest", "all", "none")
"""What a schedule releases of the fires it missed (``latest`` is the default):
``all`` every one, oldest first; ``latest`` the newest only; ``none`` none of them."""

MISSED_AFTER_SECONDS = 60.0
"""A fire seen more than this long after its time was missed (``catchup: none`` drops it)."""

MAX_RELEASES_PER_EVENT = 100
"""The most fires one event releases (``catchup: all``); the next tick goes on from there."""

ASK_AGAIN_SECONDS = 5.0
"""How long the tick waits for a requested schedule event to be applied before asking again."""

NORMAL = "normal"
"""The kind of release the audit records for a scheduled fire."""
FORCE = "force"
DRY_RUN = "dry-run"
RERUN = "rerun"
MANUAL_KINDS = (FORCE, DRY_RUN, RERUN)
"""The kinds of release asked for by hand (``POST /workflows/{name}/releases``)."""

_RELEASE_NAMESPACE = uuid.UUID("0c3f1d7e-5a8b-4e62-9f0d-2b7c91e4a6d3")

Store = MutableMapping[bytes, bytes]

InstanceStatus = Callable[[str], "str | None"]
"""The status code of a stored instance, ``"DELETED"`` once deleted, None if not stored."""

FINISHED = TERMINAL_STATUSES | {"DELETED"}


def release_key(workflow: str, logical_time: float) -> str:
    """The key of a release: the workflow and its logical time in UTC."""
    return f"{workflow}@{utc_iso(logical_time)}"


def release_id(key: str, partitions: int) -> str:
    """The instance id of the release ``key``: the same key, the same instance.

    A UUID 5 of the key, chosen (with a counter, the first that fits) so that the id
    hashes to the partition of the key's workflow: a workflow's releases live beside its
    schedule, whose owner can so tell which of them still run (``max-active``).
    """
    workflow = key.rsplit("@", 1)[0]
    wanted = partition_for_key(workflow, partitions)
    for attempt in itertools.count():
        candidate = str(uuid.uuid5(_RELEASE_NAMESPACE, f"{key}#{attempt}"))
        if partition_for_key(candidate, partitions) == wanted:
            return candidate
    raise AssertionError("unreachable")  # pragma: no cover


ReleaseParams = Callable[[str, float], Mapping[str, Any]]
"""The params of a release, from its key and logical time (the same every time asked)."""


def no_params(key: str, logical_time: float) -> Mapping[str, Any]:
    """A release with no params: the workflow's defaults."""
    return {}


@dataclass(frozen=True)
class Schedule:
    """A workflow's cron schedule: when it fires, what it catches up, its params."""

    workflow: str
    times: CronTimes
    catchup: str = "latest"
    params: ReleaseParams = no_params
    max_active: int | None = None
    """The most of its releases running at once; a fire beyond it is skipped (None: no bound)."""

    def __post_init__(self) -> None:
        if self.catchup not in CATCHUP_POLICIES:
            raise ValueError(
                f"catchup must be one of {', '.join(CATCHUP_POLICIES)}, got {self.catchup!r}"
            )
        if self.max_active is not None and (
            isinstance(self.max_active, bool)
            or not isinstance(self.max_active, int)
            or self.max_active < 1
        ):
            raise ValueError(f"max_active must be a whole number >= 1, got {self.max_active!r}")

    def to_release(self, last: float, now: float) -> tuple[list[float], float]:
        """The fires to release at ``now`` after ``last``, and the state to move on to."""
        if self.catchup == "all":
            fires = self.times.between(last, now, MAX_RELEASES_PER_EVENT)
            return fires, fires[-1] if fires else last
        newest = self.times.latest_at(now, last)
        if newest is None:
            return [], last
        if self.catchup == "none" and now - newest > MISSED_AFTER_SECONDS:
            return [], newest
        return [newest], newest


class ReleaseRefused(ValueError):
    """A manual release that cannot be made; ``status`` is the HTTP status that says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ManualRelease:
    """What a manual release request will do: its event, key and instance id."""

    event: ReleaseRequested
    key: str
    instance_id: str | None
    """None for a dry-run, which starts nothing."""
    existing: bool
    """The key is released already: the event changes nothing."""


class ScheduleOwner:
    """Applies schedule events, and tells the tick which schedules are due."""

    def __init__(
        self,
        schedules: Mapping[str, Schedule],
        state: Store,
        releases: Store,
        *,
        starter: InstanceStarter | None,
        partitions: int,
        status_of: InstanceStatus = lambda instance_id: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.schedules = schedules
        self._state = state
        self.releases = releases
        self._starter = starter
        self._partitions = partitions
        self._status_of = status_of
        self.clock = clock
        """The time a manual release is asked at (the engine's clock)."""
        self._asked: dict[str, tuple[float | None, float]] = {}

    def use_stores(self, state: Store, releases: Store) -> None:
        """Keep the schedules' state and the audit in these stores from now on."""
        self._state = state
        self.releases = releases

    def partition_of(self, workflow: str) -> int:
        """The partition that owns the schedule (and the audit) of ``workflow``."""
        return partition_for_key(workflow, self._partitions)

    def last(self, workflow: str) -> float | None:
        """The logical time ``workflow``'s schedule last released (None: never looked at)."""
        state = self._load_state(workflow)
        return None if state is None else state[0]

    def next_fire(self, workflow: str, now: float) -> float:
        """When the schedule of ``workflow`` next releases, as seen at ``now``."""
        schedule = self.schedules[workflow]
        last = self.last(workflow)
        return schedule.times.next_after(now if last is None else last)

    # -- the tick ------------------------------------------------------------------------
    def due(self, owned: Iterable[int], now: float) -> list[tuple[int, ScheduleDue]]:
        """The events to append for the schedules of ``owned`` partitions due at ``now``."""
        owned = set(owned)
        events: list[tuple[int, ScheduleDue]] = []
        for workflow, schedule in sorted(self.schedules.items()):
            partition = self.partition_of(workflow)
            if partition not in owned:
                continue
            last = self.last(workflow)
            if last is not None and schedule.times.next_after(last) > now:
                continue
            asked = self._asked.get(workflow)
            if asked is not None and asked[0] == last and now - asked[1] < ASK_AGAIN_SECONDS:
                continue  # asked already; its event is on the way
            self._asked[workflow] = (last, now)
            events.append((partition, ScheduleDue(str(uuid.uuid4()), workflow, now)))
        return events

    def next_due(self, owned: Iterable[int], now: float) -> float | None:
        """The earliest next fire of the schedules ``owned`` partitions own, if any."""
        owned = set(owned)
        fires = [
            self.next_fire(workflow, now)
            for workflow in self.schedules
            if self.partition_of(workflow) in owned
        ]
        return min(fires, default=None)

    # -- the owner -----------------------------------------------------------------------
    async def handle(self, event: ScheduleDue | ReleaseRequested, partition: int) -> None:
        """Release what is due of ``event.workflow``'s schedule at ``event.now``, or what
        a manual release request asks for."""
        schedule = self.schedules.get(event.workflow)
        if schedule is None:
            logger.warning("no schedule for workflow %r is loaded here", event.workflow)
            return
        if partition != self.partition_of(event.workflow):
            return  # read on a partition that does not own the schedule
        if isinstance(event, ReleaseRequested):
            await self._handle_manual(schedule, event)
            return
        state = self._load_state(event.workflow)
        if state is None:
            # First seen: it releases from now on, not what fell due before it existed.
            self._store_state(event.workflow, event.now, [])
            return
        last, running = state
        # The releases live on this partition (release_id): their owner is this one.
        running = [rid for rid in running if self._status_of(rid) not in FINISHED]
        fires, moved_to = schedule.to_release(last, event.now)
        for fire in fires:
            key = release_key(schedule.workflow, fire)
            if schedule.max_active is not None and len(running) >= schedule.max_active:
                skipped = f"max-active {schedule.max_active}: {len(running)} release(s) running"
                self.record(key, schedule.workflow, fire, NORMAL, None, event.now, skipped=skipped)
                continue
            instance_id = await self._release(schedule, key, fire, event.now)
            if instance_id is not None and schedule.max_active is not None:
                running.append(instance_id)
        if (moved_to, running) != state:
            self._store_state(event.workflow, moved_to, running)

    async def _release(
        self,
        schedule: Schedule,
        key: str,
        logical_time: float,
        now: float,
        kind: str = NORMAL,
        original: str | None = None,
    ) -> str | None:
        """Start the release ``key``; its instance id, or None when it was refused."""
        instance_id = release_id(key, self._partitions)
        if self._starter is None:
            raise RuntimeError("schedules need an engine that starts instances")
        try:
            params = dict(schedule.params(key, logical_time))
            await self._starter.start_instance(StartRequest(schedule.workflow, instance_id, params))
        except Exception as exc:
            # Refused for good (the params were checked when the file loaded): the schedule
            # goes on, and the audit says why this fire has no instance.
            logger.exception("could not start release %s", key)
            self.record(
                key, schedule.workflow, logical_time, kind, None, now, error=exc, original=original
            )
            return None
        self.record(key, schedule.workflow, logical_time, kind, instance_id, now, original=original)
        return instance_id

    # -- manual releases -----------------------------------------------------------------
    def request(
        self,
        workflow: str,
        kind: str,
        *,
        logical_time: float | None = None,
        original: str | None = None,
    ) -> ManualRelease:
        """The event of a manual release of ``workflow``, checked against the audit here.

        ``force`` and ``dry-run`` release ``logical_time`` (default: now, to the second);
        ``rerun`` starts the release ``original`` again. Raises ReleaseRefused for a
        request that cannot be made (an unknown workflow or original key).
        """
        now = self.clock()
        schedule = self.schedules.get(workflow)
        if schedule is None:
            raise ReleaseRefused(404, f"the workflow {workflow!r} has no schedule")
        if kind not in MANUAL_KINDS:
            raise ReleaseRefused(
                400, f"kind must be one of {', '.join(MANUAL_KINDS)}, got {kind!r}"
            )
        event_id = str(uuid.uuid4())
        if kind == RERUN:
            return self._request_rerun(workflow, original, event_id, now)
        if original is not None:
            raise ReleaseRefused(400, f"a {kind} release takes a time, not a key")
        when = float(int(now if logical_time is None else logical_time))
        event = ReleaseRequested(event_id, workflow, kind, when, now)
        key = release_key(workflow, when)
        if kind == DRY_RUN:
            return ManualRelease(event, f"{key}#{DRY_RUN}", None, False)
        return ManualRelease(event, key, release_id(key, self._partitions), self._released(key))

    def _request_rerun(
        self, workflow: str, original: str | None, event_id: str, now: float
    ) -> ManualRelease:
        if original is None:
            raise ReleaseRefused(400, "a rerun names the key of the release to run again")
        record = self._record_of(original)
        if record is None or record["workflow"] != workflow or record["kind"] == DRY_RUN:
            raise ReleaseRefused(404, f"no release {original!r} of {workflow!r} to rerun")
        base = record.get("original") or original  # a rerun of a rerun reruns the original
        counter = 1 + sum(1 for r in self.releases_of(workflow) if r.get("original") == base)
        logical_time = _parse_utc(record["logical_time"])
        event = ReleaseRequested(event_id, workflow, RERUN, logical_time, now, base, counter)
        key = f"{base}#{RERUN}-{counter}"
        return ManualRelease(event, key, release_id(key, self._partitions), False)

    async def _handle_manual(self, schedule: Schedule, event: ReleaseRequested) -> None:
        """Apply a manual release; one whose key is released already changes nothing."""
        key = release_key(schedule.workflow, event.logical_time)
        if event.kind == DRY_RUN:
            params = dict(schedule.params(key, event.logical_time))
            self.record(
                f"{key}#{DRY_RUN}",
                schedule.workflow,
                event.logical_time,
                DRY_RUN,
                None,
                event.now,
                params=params,
            )
            return
        original = None
        if event.kind == RERUN:
            original = event.original
            key = f"{original}#{RERUN}-{event.counter}"
        elif event.kind != FORCE:
            logger.warning("unknown release kind %r for %s; ignored", event.kind, key)
            return
        if self._released(key):
            return  # released already (or this event is a replay): one release per key
        await self._release(schedule, key, event.logical_time, event.now, event.kind, original)

    def _released(self, key: str) -> bool:
        """Whether the audit has an instance for ``key`` (a skipped or refused fire has none)."""
        record = self._record_of(key)
        return record is not None and record.get("instance_id") is not None

    def _record_of(self, key: str) -> dict[str, Any] | None:
        raw = self.releases.get(key.encode())
        return None if raw is None else dict(loads(raw))

    def record(
        self,
        key: str,
        workflow: str,
        logical_time: float,
        kind: str,
        instance_id: str | None,
        recorded_at: float,
        *,
        error: Exception | None = None,
        skipped: str | None = None,
        original: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        """Write the audit record of release ``key`` (written again, it changes nothing)."""
        record: dict[str, Any] = {
            "key": key,
            "workflow": workflow,
            "logical_time": utc_iso(logical_time),
            "kind": kind,
            "instance_id": instance_id,
            "recorded_at": utc_iso(recorded_at),
        }
        if error is not None:
            record["error"] = f"{type(error).__name__}: {error}"
        if skipped is not None:
            record["skipped"] = skipped
        if original is not None:
            record["original"] = original
        if params is not None:
            record["params"] = dict(params)
        self.releases[key.encode()] = dumps(record)

    def releases_of(self, workflow: str) -> list[dict[str, Any]]:
        """The audit records of ``workflow`` this worker holds, oldest logical time first."""
        prefix = f"{workflow}@".encode()
        found = [loads(raw) for key, raw in list(self.releases.items()) if key.startswith(prefix)]
        return sorted(found, key=lambda record: (record["logical_time"], record["key"]))

    def _load_state(self, workflow: str) -> tuple[float, list[str]] | None:
        raw = self._state.get(workflow.encode())
        if raw is None:
            return None
        state = loads(raw)
        return float(state["last"]), list(state.get("running", []))

    def _store_state(self, workflow: str, last: float, running: list[str]) -> None:
        self._state[workflow.encode()] = dumps({"last": last, "running": running})


def _parse_utc(text: str) -> float:
    """The instant of a UTC ISO time the audit wrote (:func:`utc_iso`)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
