"""The engine of the dead-letter integration tests; topics and group come from the environment."""

from __future__ import annotations

import os

from integration_tests.apps._env_engine import engine_from_env
from integration_tests.apps.dlq_workflows import build_faulty_template

engine = engine_from_env()
engine.template_dags.update(
    build_faulty_template(engine, os.environ.get("TEST_LISTEN_TOPIC", "listen_a"))
)
