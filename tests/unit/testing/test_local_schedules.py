"""Schedules on a LocalEngine's injected clock: DST, catch-up after downtime, one per key."""

from __future__ import annotations

import textwrap
from datetime import datetime, timezone
from pathlib import Path

import pytest

from dagger.declarative import DeclarativeError, check_files
from dagger.runtime._schedules import release_id
from dagger.service.services import Dagger
from dagger.testing import LocalEngine
from tests.unit.declarative._helpers import as_editors_read, engine_with, write

HOUR = 3600.0


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


def scheduled(cron: str, zone: str = "UTC", catchup: str = "all", params: str = "") -> str:
    return f"""
        nightly:
          type: Workflow
          params:
            table: {{type: str, default: orders}}
          on:
            schedule: {{cron: "{cron}", timezone: {zone}}}
            catchup: {catchup}
            {params}
          jobs:
            load:
              stages:
                - id: echo
                  call: test-echo
                  with: {{value: "${{{{ params.table }}}}"}}
    """


def released(local: LocalEngine) -> list[str]:
    return [record["logical_time"] for record in local.releases("nightly")]


async def step_through(local: LocalEngine, hours: int) -> None:
    """Run a worker's ticks hour by hour: the clock moves, what is due fires."""
    for _ in range(hours):
        await local.advance(HOUR)


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (
            "2026-03-07T12:00:00",  # New York's spring gap: 02:00 EST becomes 03:00 EDT
            [
                "2026-03-08T06:30:00Z",  # 01:30 EST
                "2026-03-08T07:00:00Z",  # 02:30 does not exist: the gap's end, 03:00 EDT
                "2026-03-09T05:30:00Z",  # 01:30 EDT
                "2026-03-09T06:30:00Z",  # 02:30 EDT
            ],
        ),
        (
            "2026-10-31T12:00:00",  # the autumn repeat: 02:00 EDT goes back to 01:00 EST
            [
                "2026-11-01T05:30:00Z",  # 01:30 EDT; 01:30 EST, an hour later, does not fire
                "2026-11-01T07:30:00Z",  # 02:30 EST
                "2026-11-02T06:30:00Z",
                "2026-11-02T07:30:00Z",
            ],
        ),
    ],
)
async def test_a_schedule_fires_once_per_wall_clock_time_across_a_dst_change(
    tmp_path: Path, start: str, expected: list[str]
) -> None:
    engine = engine_with(tmp_path, scheduled("30 1,2 * * *", "America/New_York"))
    async with LocalEngine(engine, start=at(start)) as local:
        await local.fire_due_timers()  # the schedule is first seen: it fires from now on
        await step_through(local, 48)
    assert released(local) == expected


@pytest.mark.parametrize(
    ("catchup", "missed"),
    [
        ("all", ["01:00", "02:00", "03:00", "04:00", "05:00"]),
        ("latest", ["05:00"]),
        ("none", []),
    ],
)
async def test_fires_missed_while_no_worker_ran_follow_the_catch_up_policy(
    tmp_path: Path, catchup: str, missed: list[str]
) -> None:
    engine = engine_with(tmp_path, scheduled("0 * * * *", catchup=catchup))
    async with LocalEngine(engine, start=at("2026-05-01T00:10:00")) as local:
        await local.fire_due_timers()
        await local.advance(5 * HOUR)  # no tick ran in between: a worker was down
        after_downtime = released(local)
        await local.advance(50 * 60)  # back to normal: the next fire, on time
        on_time = released(local)[len(after_downtime) :]
    assert after_downtime == [f"2026-05-01T{time}:00Z" for time in missed]
    assert on_time == ["2026-05-01T06:00:00Z"]


async def test_each_release_is_an_instance_whose_id_is_derived_from_its_key(
    tmp_path: Path,
) -> None:
    engine = engine_with(tmp_path, scheduled("0 6 * * *", params="params: {table: users}"))
    async with LocalEngine(engine, start=at("2026-05-01T00:00:00")) as local:
        await local.fire_due_timers()
        await local.advance(24 * HOUR)
    [record] = local.releases("nightly")
    assert record["key"] == "nightly@2026-05-01T06:00:00Z"
    assert record["kind"] == "normal"
    assert record["instance_id"] == release_id(
        "nightly@2026-05-01T06:00:00Z", engine.settings.kafka_partitions
    )
    instance = local.get_instance(record["instance_id"])
    assert instance is not None and instance.status.code == "COMPLETED"
    outputs = instance.runtime_parameters["jobs"]["load"]["stages"]["echo"]["outputs"]
    assert outputs == {"result": "users"}


async def test_a_fire_applied_again_after_a_lost_commit_creates_no_second_instance(
    tmp_path: Path,
) -> None:
    engine = engine_with(tmp_path, scheduled("0 * * * *"))
    async with LocalEngine(engine, start=at("2026-05-01T00:30:00")) as local:
        await local.fire_due_timers()
        before = dict(local.schedule_state)
        await local.advance(3 * HOUR)
        instances = {key for key, raw in local.store.items()}
        updates = len(local.updates)
        # A crash lost the schedule's state write but not the releases it sent: the
        # next owner looks at the schedule again from the state it finds.
        local.schedule_state.clear()
        local.schedule_state.update(before)
        await local.advance(10)  # the restart
        assert {key for key, raw in local.store.items()} == instances
    assert released(local) == [f"2026-05-01T0{hour}:00:00Z" for hour in (1, 2, 3)]
    assert len(instances) == 3
    assert local.dead_letters == []
    assert len(local.updates) == updates  # nothing ran again


def test_an_unknown_timezone_a_bad_cron_and_bad_params_are_named(tmp_path: Path) -> None:
    text = scheduled("61 * * * *", "Mars/Olympus", "sometimes", "params: {tabel: x}")
    path = write(tmp_path, text)
    with pytest.raises(DeclarativeError) as raised:
        check_files([str(path)])
    paths = [problem.path for problem in raised.value.problems]
    assert paths == [
        "nightly.on.schedule.cron",
        "nightly.on.catchup",
        "nightly.on.params.tabel",
    ]
    with_zone = write(tmp_path, scheduled("0 6 * * *", "Mars/Olympus"), "zone.yaml")
    with pytest.raises(DeclarativeError, match="'Mars/Olympus' is not a timezone"):
        check_files([str(with_zone)])


def test_a_schedule_is_added_for_a_registered_template_only() -> None:
    engine = Dagger(broker="kafka://127.0.0.1:9", store="memory://")
    from dagger.runtime._cron import CronTimes
    from dagger.runtime._schedules import Schedule

    with pytest.raises(ValueError, match="no template named 'ghost'"):
        engine.add_schedule(Schedule("ghost", CronTimes("0 6 * * *")))


async def test_a_fire_beyond_max_active_is_skipped_and_audited(tmp_path: Path) -> None:
    text = """
        slow:
          type: Workflow
          on:
            schedule: {cron: "0 * * * *"}
            max-active: 1
          jobs:
            wait:
              stages:
                - {id: nap, sleep: 5400}
    """
    engine = engine_with(tmp_path, text)
    async with LocalEngine(engine, start=at("2026-05-01T00:30:00")) as local:
        await local.fire_due_timers()
        for _ in range(6):  # half-hour ticks up to 03:30
            await local.advance(HOUR / 2)
        records = local.releases("slow")
        first = local.get_instance(records[0]["instance_id"])
    assert [(r["logical_time"][11:16], r.get("skipped")) for r in records] == [
        ("01:00", None),
        ("02:00", "max-active 1: 1 release(s) running"),  # 01:00's runs until 02:30
        ("03:00", None),
    ]
    assert records[1]["instance_id"] is None
    assert first is not None and first.status.code == "COMPLETED"


async def test_a_release_s_params_may_use_its_logical_time(tmp_path: Path) -> None:
    text = """
        report:
          type: Workflow
          params:
            day: date
            at: datetime
          on:
            schedule: {cron: "0 6 * * *", timezone: Asia/Bangkok}
            params: {day: "${{ release.date }}", at: "${{ release.time }}"}
          jobs:
            show:
              stages:
                - {id: echo, call: test-echo, with: {value: "${{ params.day }}"}}
    """
    engine = engine_with(tmp_path, text)
    async with LocalEngine(engine, start=at("2026-05-01T12:00:00")) as local:
        await local.fire_due_timers()
        await local.advance(24 * HOUR)
        [record] = local.releases("report")
        instance = local.get_instance(record["instance_id"])
    assert record["logical_time"] == "2026-05-01T23:00:00Z"  # 06:00 on the 2nd in Bangkok
    assert instance is not None
    assert instance.runtime_parameters["day"] == "2026-05-02"
    assert instance.runtime_parameters["at"] == "2026-05-02T06:00:00+07:00"


def test_a_bad_expression_in_a_release_s_params_is_named(tmp_path: Path) -> None:
    text = scheduled("0 6 * * *", params='params: {table: "${{ release.dat }}"}')
    with pytest.raises(DeclarativeError) as raised:
        check_files([str(write(tmp_path, text))])
    [problem] = raised.value.problems
    assert problem.path == "nightly.on.params"
    assert "dat" in problem.message


def test_the_schema_accepts_a_schedule_and_refuses_a_misspelled_field() -> None:
    import jsonschema
    import yaml

    from dagger.declarative import schema

    document = as_editors_read(yaml.safe_load(textwrap.dedent(scheduled("0 6 * * *"))))
    jsonschema.validate(document, schema())
    document["nightly"]["on"]["catch-up"] = "all"
    with pytest.raises(jsonschema.ValidationError, match="catch-up"):
        jsonschema.validate(document, schema())


RELEASED = """
    extract:
      type: Workflow
      params:
        fail: {type: bool, default: false}
      jobs:
        load:
          stages:
            - {id: check, call: test-echo, with: {value: ok}}
            - {id: refuse, raise: refused, if: "${{ params.fail }}"}
    report:
      type: Workflow
      on:
        release: [extract]
      jobs:
        show:
          stages:
            - {id: echo, call: test-echo, with: {value: done}}
"""


async def test_on_release_starts_a_workflow_once_per_completed_upstream_instance(
    tmp_path: Path,
) -> None:
    from dagger.runtime._release_triggers import triggered_id

    engine = engine_with(tmp_path, RELEASED)
    extract = engine.get_template("extract")
    async with LocalEngine(engine) as local:
        done = await extract.create_instance("e-1", submit_task=True)
        failed = await extract.create_instance("e-2", submit_task=True, fail=True)
        # The upstream's create read again (a replayed intake record): nothing new.
        await extract.create_instance("e-1", submit_task=True)
    assert local.get_instance(done.id).status.code == "COMPLETED"  # type: ignore[union-attr]
    assert local.get_instance(failed.id).status.code == "FAILURE"  # type: ignore[union-attr]
    report = local.get_instance(triggered_id("report", "e-1"))
    assert report is not None and report.status.code == "COMPLETED"
    assert local.get_instance(triggered_id("report", "e-2")) is None
    reports = [u["id"] for u in local.updates if u["template"] == "report"]
    assert set(reports) == {triggered_id("report", "e-1")}
    assert local.dead_letters == []


def test_on_release_names_workflows_and_needs_params_with_defaults(tmp_path: Path) -> None:
    text = """
        report:
          type: Workflow
          params: {day: date}
          on: {release: extract}
          jobs:
            show: {stages: [{raise: x}]}
        again:
          type: Workflow
          params: {day: date}
          on: {release: [extract]}
          jobs:
            show: {stages: [{raise: x}]}
    """
    with pytest.raises(DeclarativeError) as raised:
        check_files([str(write(tmp_path, text))])
    assert [(p.path, p.message.split(":")[0]) for p in raised.value.problems] == [
        ("report.on.release", "release"),
        ("again.on.release", "a released run starts with its params' defaults"),
    ]
