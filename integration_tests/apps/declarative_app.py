"""The engine of the declarative integration test: its YAML, with topics from the environment."""

from __future__ import annotations

import dagger.declarative
from integration_tests.apps._env_engine import engine_from_env
from integration_tests.apps.declarative_workflows import FLOWS, TRIGGER_FLOWS

engine = engine_from_env()
dagger.declarative.load(engine, [str(FLOWS), str(TRIGGER_FLOWS)])
