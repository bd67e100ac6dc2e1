"""How ``run_worker`` sets up the faust worker (its run loop is not started here)."""

from __future__ import annotations

import logging
from typing import Any

import faust
import pytest

from dagger.service._worker import run_worker
from tests.unit._listener_workflows import new_engine


def test_a_warning_worker_leaves_the_root_logger_at_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """faust's spinner would lower the root logger to DEBUG, making every debug call cost."""
    seen: dict[str, Any] = {}

    def set_up_logging_only(worker: Any) -> None:
        worker._setup_logging()
        seen["root level"] = logging.root.level
        seen["debug enabled"] = logging.getLogger("faust.tables").isEnabledFor(logging.DEBUG)

    root = logging.root
    saved = (root.level, list(root.handlers))
    monkeypatch.setattr(faust.Worker, "execute_from_commandline", set_up_logging_only)
    try:
        run_worker(new_engine(), loglevel="warning")
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]

    assert seen == {"root level": logging.WARNING, "debug enabled": False}
