"""LogLimit: a few lines per kind and interval, and how many were left out."""

from __future__ import annotations

import logging

import pytest

from dagger.runtime._log_limit import LogLimit
from dagger.testing._local import ManualClock

LOGGER = "tests.log_limit"


def test_a_kind_logs_its_burst_then_says_how_many_it_left_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = ManualClock(100.0)
    limit = LogLimit(logging.getLogger(LOGGER), burst=2, interval=10.0, clock=clock)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        for n in range(5):
            limit.log("undecodable", logging.WARNING, "letter %d", n)
        limit.log("too_large", logging.WARNING, "other kind")  # a kind of its own
        clock.advance(10.0)
        limit.log("undecodable", logging.WARNING, "letter %d", 5)

    assert caplog.messages == [
        "letter 0",
        "letter 1",
        "other kind",
        "3 more like the next line (undecodable) in the last 10 s were not logged",
        "letter 5",
    ]


def test_a_level_that_is_not_logged_costs_no_line_nor_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limit = LogLimit(logging.getLogger(LOGGER), burst=1, interval=10.0, clock=ManualClock(0.0))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        for _ in range(3):
            limit.log("replayed", logging.INFO, "not shown")
        limit.log("replayed", logging.WARNING, "shown")

    assert caplog.messages == ["shown"]
