"""The engine of the renamed-class test: ``replies`` (see ``renamed_workflows``) and ``orders``."""

from __future__ import annotations

import os

from integration_tests.apps._env_engine import engine_from_env
from integration_tests.apps.api_workflows import build_api_orders
from integration_tests.apps.renamed_workflows import build_replies

engine = engine_from_env()
engine.template_dags["replies"] = build_replies(
    engine, os.environ.get("TEST_LISTEN_TOPIC", "listen_a")
)
engine.template_dags["orders"] = build_api_orders(engine)
