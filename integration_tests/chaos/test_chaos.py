"""The chaos suite's short form: the kill loop and the rebalance of ``bench.chaos``, smaller.

Each test runs one scenario on its own embedded broker, with real `dagger worker`
processes on ``rocksdb://`` and 4 partitions, and asserts every pass criterion (the
verdicts, never a timing): every instance COMPLETED, one owner per instance, no task
completed twice or skipped over, ``on_message`` applied once per instance, no index
entry, timer or held message left, the last worker's stores as the changelogs say.
The long form is ``python -m bench.chaos kill-loop`` / ``rebalance`` (docs/reliability.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench._chaos import kill_loop, rebalance
from bench._chaos_checks import Criterion

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def _failed(criteria: list[Criterion]) -> list[str]:
    return [criterion.line() for criterion in criteria if not criterion.passed]


async def test_a_kill_loop_loses_nothing_and_leaves_nothing_behind(tmp_path: Path) -> None:
    """1,000 instances; the worker SIGKILLed every 4-8 s for 24 s, half the restarts
    without their data directory; then one worker finishes."""
    criteria, figures = await kill_loop(
        instances=1000, loop_seconds=24, seed=7, baseline=100, quiet=True, workdir=tmp_path
    )

    assert figures["kills"] >= 4
    assert figures["restarts_keeping_data"] == (figures["kills"] + 1) // 2
    assert not _failed(criteria), "\n".join(_failed(criteria))


async def test_a_killed_worker_and_a_stopped_one_lose_nothing(tmp_path: Path) -> None:
    """Two workers and 600 instances: one SIGKILLed mid-run and started again 10 s later,
    then the other stopped with SIGTERM while instances still run."""
    criteria, figures = await rebalance(
        instances=600, down_seconds=10, kill_at=0.3, quiet=True, workdir=tmp_path
    )

    assert figures["unfinished_at_sigterm"] > 0, "the SIGTERM came after the work was done"
    assert not _failed(criteria), "\n".join(_failed(criteria))
