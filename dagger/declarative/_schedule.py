"""A workflow's ``on:``: its cron schedule, checked when the file loads, added when compiled.

```yaml
on:
  schedule:
    cron: "0 6 * * *"          # five fields, or six with seconds last
    timezone: Asia/Bangkok     # an IANA name; UTC when left out
  catchup: latest              # latest (the default) | all | none
  max-active: 1                # at most this many releases running; a fire beyond is skipped
  params:                      # the params of every release, checked like a run's
    region: eu
    run-date: "${{ release.date }}"  # the logical time, as in docs/declarative.md
```

``release: [other-workflow]`` (with or without a schedule) starts the workflow, with its
params' defaults, each time an instance of one of those workflows completes.

The engine's schedules (``dagger.runtime._schedules``) release it; docs/declarative.md,
"Schedules and releases", says when and how often.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from dagger.declarative import _templating as templating
from dagger.declarative._errors import Path
from dagger.declarative._params import Param, validate
from dagger.declarative._yaml import Source
from dagger.runtime._cron import CronError, CronTimes
from dagger.runtime._schedules import CATCHUP_POLICIES, Schedule

if TYPE_CHECKING:
    from dagger.service._dagger import Dagger

_ON_KEYS = ("schedule", "catchup", "max-active", "params", "release")
_SCHEDULE_KEYS = ("cron", "timezone")


@dataclass(frozen=True)
class On:
    """The checked ``on:`` of a workflow."""

    times: CronTimes | None
    """None for a workflow released only by others (``release:`` without ``schedule:``)."""
    catchup: str = "latest"
    params: dict[str, Any] = field(default_factory=dict)
    max_active: int | None = None
    after: list[str] = field(default_factory=list)
    """``on.release``: the workflows whose completed instances start this one."""


def check_on(source: Source, body: Any, path: Path, params: dict[str, Param]) -> On | None:
    """The ``on:`` mapping at ``path``; problems go to ``source.problems``."""
    if not isinstance(body, dict):
        source.problem(path, "on: is a mapping with schedule: {cron, timezone}, or release:")
        return None
    for key in body:
        if key not in _ON_KEYS:
            source.problem((*path, str(key)), f"unknown field ({', '.join(_ON_KEYS)})")
    after = (
        _release(source, body["release"], (*path, "release"), params) if "release" in body else []
    )
    if "schedule" not in body and "release" in body:
        return None if after is None else On(None, after=after)
    scheduled = _scheduled(source, body, path, params)
    if scheduled is None or after is None:
        return None
    return replace(scheduled, after=after)


def _scheduled(
    source: Source, body: dict[Any, Any], path: Path, params: dict[str, Param]
) -> On | None:
    """The schedule part of ``on:``: cron, catch-up, max-active and the releases' params."""
    times = _times(source, body.get("schedule"), (*path, "schedule"))
    catchup = body.get("catchup", "latest")
    if catchup not in CATCHUP_POLICIES:
        source.problem(
            (*path, "catchup"), f"must be one of {', '.join(CATCHUP_POLICIES)}, got {catchup!r}"
        )
    max_active = body.get("max-active")
    bad_bound = max_active is not None and (
        isinstance(max_active, bool) or not isinstance(max_active, int) or max_active < 1
    )
    if bad_bound:
        source.problem((*path, "max-active"), f"must be a whole number >= 1, got {max_active!r}")
    given = body.get("params") or {}
    if not isinstance(given, dict):
        source.problem((*path, "params"), "must be a mapping of param names to values")
        given = {}
    errors: dict[str, str] = {}
    try:  # rendered for a sample release, so a bad expression or type is named now
        _, errors = validate(params, templating.render(given, _context("sample@", _SAMPLE, "UTC")))
    except templating.ExpressionError as exc:
        errors = {"": str(exc)}
    for name, message in errors.items():
        source.problem((*path, "params", name) if name else (*path, "params"), message)
    if times is None or catchup not in CATCHUP_POLICIES or errors or bad_bound:
        return None
    return On(times, catchup, {str(name): value for name, value in given.items()}, max_active)


def _release(source: Source, body: Any, path: Path, params: dict[str, Param]) -> list[str] | None:
    """``on.release``: the workflows whose completed instances start this one."""
    if not isinstance(body, list) or not body or not all(isinstance(n, str) for n in body):
        source.problem(path, "release: is a list of workflow names")
        return None
    _, errors = validate(params, {})
    for name, message in errors.items():
        source.problem(path, f"a released run starts with its params' defaults: {name} {message}")
    return list(body)


def _times(source: Source, body: Any, path: Path) -> CronTimes | None:
    if not isinstance(body, dict) or "cron" not in body:
        source.problem(path, "schedule: needs cron (and, optionally, timezone)")
        return None
    for key in body:
        if key not in _SCHEDULE_KEYS:
            source.problem((*path, str(key)), f"unknown field ({', '.join(_SCHEDULE_KEYS)})")
    timezone = body.get("timezone", "UTC")
    try:
        return CronTimes(str(body["cron"]), str(timezone))
    except CronError as exc:
        source.problem((*path, exc.field), str(exc))
        return None


def add_schedule(app: Dagger, name: str, on: On | None) -> None:
    """Schedule the workflow ``name`` on ``app`` (a workflow without ``on:`` has none)."""
    if on is None:
        return
    if on.after:
        app.release_after(name, on.after)
    if on.times is None:
        return
    zone = on.times.timezone

    def params(key: str, logical_time: float) -> dict[str, Any]:
        return dict(templating.render(on.params, _context(key, logical_time, zone)))

    app.add_schedule(Schedule(name, on.times, on.catchup, params, on.max_active))


_SAMPLE = 946_684_800.0
"""2000-01-01T00:00:00Z: the release the params are checked with when the file loads."""


def _context(key: str, logical_time: float, zone: str) -> dict[str, Any]:
    """What a release's params expressions see: ``release.time`` (in the schedule's
    timezone), ``release.utc``, ``release.date`` (the local date) and ``release.key``."""
    local = dt.datetime.fromtimestamp(logical_time, ZoneInfo(zone))
    release = {
        "time": local,
        "utc": dt.datetime.fromtimestamp(logical_time, dt.timezone.utc),
        "date": local.date(),
        "key": key,
    }
    return {"release": release}
