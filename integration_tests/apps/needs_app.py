"""The engine of the needs integration test; topics and group come from the environment."""

from __future__ import annotations

import os

from integration_tests.apps._env_engine import engine_from_env
from integration_tests.apps.needs_workflows import build_needs_templates

engine = engine_from_env()
engine.template_dags.update(
    build_needs_templates(
        engine,
        os.environ.get("TEST_LISTEN_TOPIC", "listen_a"),
        os.environ.get("TEST_LISTEN_TOPIC_B", "listen_b"),
    )
)
