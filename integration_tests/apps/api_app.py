"""The engine of the HTTP API tests: the API orders workflow and the listener workflows.

Besides the TEST_* settings of ``_env_engine``: ``TEST_OUTAGE_DIR`` (see
``api_workflows``), ``TEST_LISTEN_TOPIC``/``TEST_LISTEN_TOPIC_B`` (the listeners'
topics) and ``DAGGER_API_TOKEN`` (read by the engine itself).
"""

from __future__ import annotations

import os

from integration_tests.apps._env_engine import engine_from_env
from integration_tests.apps.api_workflows import build_api_orders
from integration_tests.apps.listener_workflows import build_listener_templates

engine = engine_from_env()
engine.template_dags.update(
    build_listener_templates(
        engine,
        os.environ.get("TEST_LISTEN_TOPIC", "listen_a"),
        os.environ.get("TEST_LISTEN_TOPIC_B", "listen_b"),
    )
)
engine.template_dags["orders"] = build_api_orders(engine)
