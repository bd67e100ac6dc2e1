"""The engine of the Avro integration test: JSON engine topics, Avro command/listener topics.

``TEST_SCHEMA_REGISTRY_URL`` is the schema registry (the test's stand-in);
``TEST_REQUESTS_TOPIC`` carries the commands and ``TEST_LISTEN_TOPIC`` the replies.
"""

from __future__ import annotations

import os

from integration_tests.apps._env_engine import engine_from_env
from integration_tests.apps.avro_workflows import build_avro_template

engine = engine_from_env(schema_registry_url=os.environ["TEST_SCHEMA_REGISTRY_URL"])
engine.template_dags["avro_order"] = build_avro_template(
    engine, os.environ["TEST_REQUESTS_TOPIC"], os.environ["TEST_LISTEN_TOPIC"]
)
