"""Manual releases on a LocalEngine's injected clock: force, dry-run and rerun, audited."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from dagger.runtime._schedules import ReleaseRefused, release_id
from dagger.testing import LocalEngine
from tests.unit.declarative._helpers import engine_with

HOUR = 3600.0

NIGHTLY = """
    nightly:
      type: Workflow
      params:
        day: date
      on:
        schedule: {cron: "0 6 * * *", timezone: Asia/Bangkok}
        max-active: 1
        params: {day: "${{ release.date }}"}
      jobs:
        load:
          stages:
            - {id: echo, call: test-echo, with: {value: "${{ params.day }}"}}
            - {id: nap, sleep: 7200}
"""


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


async def test_a_force_starts_the_release_of_a_time_at_once_bypassing_max_active(
    tmp_path: Path,
) -> None:
    engine = engine_with(tmp_path, NIGHTLY)
    partitions = engine.settings.kafka_partitions
    async with LocalEngine(engine, start=at("2026-05-01T12:00:00")) as local:
        first = await engine.request_release("nightly", "force")  # now, to the second
        second = await engine.request_release(
            "nightly", "force", logical_time=at("2026-05-01T23:00:00")
        )
        running = [local.get_instance(r.instance_id) for r in (first, second)]
        records = local.releases("nightly")
    assert first.key == "nightly@2026-05-01T12:00:00Z"
    assert second.key == "nightly@2026-05-01T23:00:00Z"
    assert second.instance_id == release_id(second.key, partitions)
    # max-active is 1 and the first still naps: a force starts the second anyway.
    assert [i.status.code if i else None for i in running] == ["EXECUTING", "EXECUTING"]
    assert [(r["key"], r["kind"], r["instance_id"]) for r in records] == [
        (first.key, "force", first.instance_id),
        (second.key, "force", second.instance_id),
    ]
    assert running[1] is not None and running[1].runtime_parameters["day"] == "2026-05-02"


async def test_forcing_a_released_time_again_is_the_same_one_release(tmp_path: Path) -> None:
    engine = engine_with(tmp_path, NIGHTLY)
    async with LocalEngine(engine, start=at("2026-05-01T12:00:00")) as local:
        await local.fire_due_timers()
        await local.advance(12 * HOUR)  # the schedule releases 23:00Z (06:00 in Bangkok)
        [scheduled] = local.releases("nightly")
        again = await engine.request_release(
            "nightly", "force", logical_time=at("2026-05-01T23:00:00")
        )
        forced = await engine.request_release(
            "nightly", "force", logical_time=at("2026-05-01T00:00:00")
        )
        twice = await engine.request_release(
            "nightly", "force", logical_time=at("2026-05-01T00:00:00")
        )
        records = local.releases("nightly")
        instances = len(local.store)
    assert again.existing and again.instance_id == scheduled["instance_id"]
    assert not forced.existing and twice.existing and twice.instance_id == forced.instance_id
    assert [(r["logical_time"], r["kind"]) for r in records] == [
        ("2026-05-01T00:00:00Z", "force"),
        ("2026-05-01T23:00:00Z", "normal"),  # still the schedule's
    ]
    assert instances == 2


async def test_a_replayed_force_event_makes_no_second_instance(tmp_path: Path) -> None:
    engine = engine_with(tmp_path, NIGHTLY)
    async with LocalEngine(engine, start=at("2026-05-01T12:00:00")) as local:
        before = dict(local.releases_store)
        forced = await engine.request_release("nightly", "force")
        instances = dict(local.store)
        updates = len(local.updates)
        # A crash lost the batch's audit write but not the instance it created: the
        # event is read again by the next owner of the schedule's partition.
        local.releases_store.clear()
        local.releases_store.update(before)
        partition = local.schedules.partition_of("nightly")
        await local._append(forced.event, "nightly", partition)
        [record] = local.releases("nightly")
        assert local.store == instances
    assert record["instance_id"] == forced.instance_id
    assert len(local.updates) == updates  # nothing ran again
    assert local.dead_letters == []


async def test_a_dry_run_audits_the_release_and_starts_nothing(tmp_path: Path) -> None:
    engine = engine_with(tmp_path, NIGHTLY)
    async with LocalEngine(engine, start=at("2026-05-01T12:00:00")) as local:
        dry = await engine.request_release(
            "nightly", "dry-run", logical_time=at("2026-05-01T23:00:00")
        )
        [record] = local.releases("nightly")
        assert local.store == {}
        forced = await engine.request_release(
            "nightly", "force", logical_time=at("2026-05-01T23:00:00")
        )
        kinds = [r["kind"] for r in local.releases("nightly")]
    assert dry.key == "nightly@2026-05-01T23:00:00Z#dry-run" and dry.instance_id is None
    assert record == {
        "key": dry.key,
        "workflow": "nightly",
        "logical_time": "2026-05-01T23:00:00Z",
        "kind": "dry-run",
        "instance_id": None,
        "recorded_at": "2026-05-01T12:00:00Z",
        "params": {"day": "2026-05-02"},
    }
    # The dry-run does not hold the time: forcing it then releases it.
    assert not forced.existing and sorted(kinds) == ["dry-run", "force"]


async def test_a_rerun_starts_a_release_again_as_a_new_instance(tmp_path: Path) -> None:
    engine = engine_with(tmp_path, NIGHTLY)
    async with LocalEngine(engine, start=at("2026-05-01T12:00:00")) as local:
        forced = await engine.request_release("nightly", "force")
        await local.advance(3 * HOUR)  # it completes
        first = await engine.request_release("nightly", "rerun", original=forced.key)
        second = await engine.request_release("nightly", "rerun", original=first.key)
        rerun = local.get_instance(first.instance_id)
        records = {r["key"]: r for r in local.releases("nightly")}
    assert first.key == f"{forced.key}#rerun-1"
    assert second.key == f"{forced.key}#rerun-2"  # a rerun of a rerun counts on the original
    assert len({forced.instance_id, first.instance_id, second.instance_id}) == 3
    assert rerun is not None and rerun.status.code == "EXECUTING"
    assert records[first.key]["kind"] == "rerun"
    assert records[first.key]["original"] == forced.key
    assert records[first.key]["logical_time"] == records[forced.key]["logical_time"]


async def test_bad_manual_releases_are_refused_with_a_status(tmp_path: Path) -> None:
    engine = engine_with(tmp_path, NIGHTLY)
    async with LocalEngine(engine, start=at("2026-05-01T12:00:00")):
        with pytest.raises(ReleaseRefused, match="no release 'nightly@x'") as unknown:
            await engine.request_release("nightly", "rerun", original="nightly@x")
        with pytest.raises(ReleaseRefused, match="kind must be one of") as kind:
            await engine.request_release("nightly", "normal")
        with pytest.raises(ReleaseRefused, match="has no schedule") as ghost:
            await engine.request_release("ghost", "force")
    assert (unknown.value.status, kind.value.status, ghost.value.status) == (404, 400, 404)
