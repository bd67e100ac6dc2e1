"""Cron fires in a timezone: once per matching wall-clock time, across DST gaps and repeats."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from dagger.runtime._cron import CronError, CronTimes, utc_iso


def at(text: str) -> float:
    """The epoch seconds of an ISO time in UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


def fires(times: CronTimes, after: str, until: str) -> list[str]:
    return [utc_iso(fire) for fire in times.between(at(after), at(until), 100)]


def test_a_daily_time_skipped_by_the_spring_gap_fires_once_at_the_end_of_the_gap() -> None:
    # New York, 2026-03-08: 02:00 EST becomes 03:00 EDT, so 02:30 does not exist.
    times = CronTimes("30 2 * * *", "America/New_York")
    assert fires(times, "2026-03-07T00:00:00", "2026-03-10T00:00:00") == [
        "2026-03-07T07:30:00Z",  # 02:30 EST
        "2026-03-08T07:00:00Z",  # the gap's end: 03:00 EDT
        "2026-03-09T06:30:00Z",  # 02:30 EDT
    ]


def test_times_in_the_gap_and_just_after_it_make_one_fire() -> None:
    times = CronTimes("*/30 1-3 * * *", "America/New_York")
    assert fires(times, "2026-03-08T05:00:00", "2026-03-08T09:00:00") == [
        "2026-03-08T06:00:00Z",  # 01:00 EST
        "2026-03-08T06:30:00Z",  # 01:30 EST
        "2026-03-08T07:00:00Z",  # 02:00, 02:30 (skipped) and 03:00 EDT
        "2026-03-08T07:30:00Z",  # 03:30 EDT
    ]


def test_a_repeated_wall_clock_time_fires_at_its_first_occurrence_only() -> None:
    # New York, 2026-11-01: 02:00 EDT goes back to 01:00 EST; 01:00-01:59 happens twice.
    times = CronTimes("*/30 1-2 * * *", "America/New_York")
    assert fires(times, "2026-11-01T04:00:00", "2026-11-01T08:00:00") == [
        "2026-11-01T05:00:00Z",  # 01:00 EDT
        "2026-11-01T05:30:00Z",  # 01:30 EDT; 01:00 and 01:30 EST do not fire
        "2026-11-01T07:00:00Z",  # 02:00 EST
        "2026-11-01T07:30:00Z",
    ]


def test_berlin_keeps_the_same_policy() -> None:
    # Berlin, 2026-03-29: 02:00 CET becomes 03:00 CEST; 2026-10-25: 03:00 back to 02:00.
    times = CronTimes("15 2 * * *", "Europe/Berlin")
    assert fires(times, "2026-03-28T00:00:00", "2026-03-30T03:00:00") == [
        "2026-03-28T01:15:00Z",
        "2026-03-29T01:00:00Z",  # 02:15 skipped: 03:00 CEST
        "2026-03-30T00:15:00Z",
    ]
    assert fires(times, "2026-10-24T12:00:00", "2026-10-26T03:00:00") == [
        "2026-10-25T00:15:00Z",  # 02:15 CEST, the first of two
        "2026-10-26T01:15:00Z",
    ]


def test_next_and_latest_agree_with_the_list_inside_a_repeated_hour() -> None:
    times = CronTimes("*/30 1-2 * * *", "America/New_York")
    inside_second_pass = at("2026-11-01T06:40:00")  # 01:40 EST
    assert utc_iso(times.next_after(inside_second_pass)) == "2026-11-01T07:00:00Z"
    latest = times.latest_at(inside_second_pass, at("2026-11-01T00:00:00"))
    assert latest is not None and utc_iso(latest) == "2026-11-01T05:30:00Z"
    assert times.latest_at(inside_second_pass, at("2026-11-01T05:30:00")) is None


def test_seconds_are_a_sixth_field() -> None:
    times = CronTimes("* * * * * */2")
    assert fires(times, "2026-01-01T00:00:00", "2026-01-01T00:00:05") == [
        "2026-01-01T00:00:02Z",
        "2026-01-01T00:00:04Z",
    ]


@pytest.mark.parametrize(
    ("expression", "zone", "field"),
    [
        ("61 * * * *", "UTC", "cron"),
        ("0 0 30 2 *", "UTC", "cron"),  # 30 February: never
        ("0 6 * * *", "Mars/Olympus", "timezone"),
    ],
)
def test_a_bad_expression_or_timezone_says_which(expression: str, zone: str, field: str) -> None:
    with pytest.raises(CronError) as raised:
        CronTimes(expression, zone)
    assert raised.value.field == field
