"""The engine of the listener integration tests; topics and group come from the environment."""

from __future__ import annotations

import os

from integration_tests.apps._env_engine import engine_from_env
from integration_tests.apps.listener_workflows import build_listener_templates

TOPIC_A = os.environ.get("TEST_LISTEN_TOPIC", "listen_a")
TOPIC_B = os.environ.get("TEST_LISTEN_TOPIC_B", "listen_b")

engine = engine_from_env()
engine.template_dags.update(build_listener_templates(engine, TOPIC_A, TOPIC_B))
