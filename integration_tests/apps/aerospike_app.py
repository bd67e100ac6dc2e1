"""The pizza workflow (a command and a listener) on an ``aerospike://`` engine.

The store is a real server or a fake's file: see :mod:`integration_tests.apps._aerospike_env`.
"""

from __future__ import annotations

from examples.pizza.templates import build_pizza_template
from integration_tests.apps._aerospike_env import aerospike_config
from integration_tests.apps._env_engine import engine_from_env

engine = engine_from_env(aerospike_config=aerospike_config())
engine.template_dags["pizza"] = build_pizza_template(engine, "pizza")
