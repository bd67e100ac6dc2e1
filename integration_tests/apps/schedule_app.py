"""The engine of the schedule integration test: a workflow released every second."""

from __future__ import annotations

from pathlib import Path

import dagger.declarative
from integration_tests.apps import declarative_workflows  # noqa: F401 - registers it-echo
from integration_tests.apps._env_engine import engine_from_env

FLOWS = Path(__file__).with_name("schedule_flows.yaml")

engine = engine_from_env(trigger_interval=0.25)
dagger.declarative.load(engine, [str(FLOWS)])
