"""The chaos suite's schedule, its start-up log reading and its pass criteria."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from bench._chaos import KILL_EVERY, kill_schedule
from bench._chaos_checks import Changelog, check, stored_completions
from bench._restart_times import phase_medians, phases_of, restart_phases
from bench._update_log import UpdateLog
from dagger.runtime._held import MESSAGE_MARK


def test_the_kill_schedule_is_seeded_fills_the_loop_and_keeps_half_the_data() -> None:
    schedule = kill_schedule(3, 120)

    assert schedule == kill_schedule(3, 120)
    assert schedule != kill_schedule(4, 120)
    waits = [wait for wait, _ in schedule]
    assert all(KILL_EVERY[0] <= wait <= KILL_EVERY[1] for wait in waits)
    assert 120 - KILL_EVERY[0] < sum(waits) <= 120
    assert sum(keep for _, keep in schedule) == (len(schedule) + 1) // 2


def test_a_start_s_phases_are_read_from_its_log(tmp_path: Path) -> None:
    log = tmp_path / "w.log"
    log.write_text(
        "[2026-12-02 01:00:02,000] [1] [INFO] [^Worker]: Starting... \n"
        "[2026-12-02 01:00:03,000] [1] [INFO] (Re-)joining group g \n"
        "| a table line without a stamp |\n"
        "[2026-12-02 01:00:06,000] [1] [INFO] Joined group 'g' (generation 1) \n"
        "[2026-12-02 01:00:07,500] [1] [INFO] [^Worker]: Ready \n"
        "[2026-12-02 01:00:08,000] [1] [INFO] Instance x completed (template t) \n"
    )
    import datetime

    spawned = datetime.datetime(2026, 12, 2, 1, 0, 1).timestamp()

    phases = phases_of(log, spawned)

    assert phases == {
        "starting": 1.0,
        "joining": 2.0,
        "joined": 5.0,
        "ready": 6.5,
        "processing": 7.0,
    }
    assert phase_medians([phases, {"starting": 3.0}]) == {
        "starting": 2.0,
        "joining": 2.0,
        "joined": 5.0,
        "ready": 6.5,
        "processing": 7.0,
    }


def _stored(status: str, applied: int, completed: list[float | None]) -> bytes:
    tasks = [
        [
            0,
            {
                "status": {"code": "COMPLETED" if at is not None else "NOT_STARTED"},
                "time_completed": at,
            },
        ]
        for at in completed
    ]
    return json.dumps(
        {
            "f": {"status": {"code": status}, "runtime_parameters": {"ready_applied": applied}},
            "t": tasks,
        }
    ).encode()


def _document(instance_id: str, applied: int, completed: list[float], count: int) -> dict[str, Any]:
    return {
        "id": instance_id,
        "status": "COMPLETED",
        "time_updated": 1.0,
        "update_count": count,
        "runtime_parameters": {"ready_applied": applied},
        "tasks": [
            {"name": f"t{n}", "kind": "LEAF", "status": "COMPLETED", "time_completed": at}
            for n, at in enumerate(completed)
        ],
    }


def _changelogs(
    instances: list[tuple[int, bytes, bytes | None]], **left: dict[bytes, bytes]
) -> dict[str, Changelog]:
    state, owners = {}, {}
    for partition, key, value in instances:
        if value is not None:
            state[key] = (partition, value)
            owners.setdefault(key, set()).add(partition)
    logs = {"dagger_instances": Changelog(state, owners, instances)}
    for table in ("dagger_correlation", "dagger_early_messages", "dagger_timers"):
        entries = left.get(table, {})
        logs[table] = Changelog(
            {key: (0, value) for key, value in entries.items()},
            {},
            [(0, key, value) for key, value in entries.items()],
        )
    return logs


def _verdicts(
    log: UpdateLog, changelogs: dict[str, Changelog], disk: Any = None
) -> dict[str, bool]:
    hooks = {"complete": Counter({"a": 1, "b": 2}), "on_message": Counter({"a": 1, "b": 1})}
    criteria, _ = check(["a", "b"], log, changelogs, disk, hooks)
    return {criterion.name: criterion.passed for criterion in criteria}


def _clean_run() -> tuple[UpdateLog, list[tuple[int, bytes, bytes | None]]]:
    log = UpdateLog(consumer=None)  # type: ignore[arg-type]  # never started here
    for instance_id in ("a", "b"):
        log._see(_document(instance_id, 1, [1.0, 2.0, 3.0], 5))
    history: list[tuple[int, bytes, bytes | None]] = [
        (0, b"a", _stored("EXECUTING", 0, [1.0, None, None])),
        (0, b"a", _stored("COMPLETED", 1, [1.0, 2.0, 3.0])),
        (1, b"b", _stored("COMPLETED", 1, [1.0, 2.0, 3.0])),
    ]
    return log, history


def test_a_clean_run_passes_every_criterion_and_counts_a_re_execution() -> None:
    log, history = _clean_run()
    criteria, figures = check(
        ["a", "b"],
        log,
        _changelogs(history),
        None,
        {"complete": Counter({"a": 1, "b": 2}), "on_message": Counter({"a": 1, "b": 1})},
    )

    assert all(criterion.passed for criterion in criteria), [c.line() for c in criteria]
    assert figures["executor_re_executions"] == 1


def test_each_defect_fails_its_criterion() -> None:
    log, history = _clean_run()
    # b stored on a second partition too, with its listener completed a second time
    two_owners = [*history, (3, b"b", _stored("COMPLETED", 1, [1.0, 2.5, 3.5]))]
    verdicts = _verdicts(log, _changelogs(two_owners))
    assert not verdicts["one owner per instance"]
    assert not verdicts["no task completed twice"]

    log.latest["a"] = _document("a", 2, [1.0, 2.0, 3.0], 6)  # a reply applied twice
    assert not _verdicts(log, _changelogs(history))["on_message applied once per instance"]

    log, _ = _clean_run()
    log.latest["b"] = _document("b", 1, [1.0, 3.0, 2.0], 6)  # the executor before the listener
    assert not _verdicts(log, _changelogs(history))["no task skipped over"]

    log, _ = _clean_run()
    unfinished = [history[0], history[2]]  # a's completion never stored
    assert not _verdicts(log, _changelogs(unfinished))["every instance COMPLETED"]

    held = {b"k" + MESSAGE_MARK.encode() + b"m": b"{}"}
    verdicts = _verdicts(log, _changelogs(history, dagger_early_messages=held))
    assert not verdicts["no index entry, timer or held message left (changelogs)"]

    disk = {
        "dagger_instances": {b"a": history[1][2], b"b": b"stale"},
        "dagger_correlation": {},
        "dagger_early_messages": {},
        "dagger_timers": {b"left": b"1"},
    }
    assert not _verdicts(log, _changelogs(history), disk)[
        "the last worker's stores agree with the changelogs"
    ]


def test_a_completion_time_kept_in_later_versions_is_one_completion() -> None:
    _, history = _clean_run()
    completions = stored_completions(history)

    assert completions["a", 0] == {1.0}
    assert completions["a", 2] == {3.0}


def test_only_a_worker_started_again_is_a_restart(tmp_path: Path) -> None:
    started = [
        ("a", 0.0, tmp_path / "a0"),
        ("b", 0.0, tmp_path / "b0"),
        ("a", 5.0, tmp_path / "a1"),
    ]

    assert restart_phases(started) == [{"worker": "a"}]
