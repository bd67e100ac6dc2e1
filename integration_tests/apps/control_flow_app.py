"""The engine of the control-flow integration tests; topics and group come from the environment."""

from __future__ import annotations

import os

from integration_tests.apps._env_engine import engine_from_env
from integration_tests.apps.control_flow_workflows import build_control_flow_templates

engine = engine_from_env(
    delete_workflow_on_complete=os.environ.get("TEST_DELETE_ON_COMPLETE") == "1"
)
engine.template_dags.update(
    build_control_flow_templates(
        engine,
        os.environ.get("TEST_LISTEN_TOPIC", "listen_a"),
        os.environ.get("TEST_LISTEN_TOPIC_B", "listen_b"),
    )
)
