"""The engine of the timer integration tests; names and tick come from the environment."""

from __future__ import annotations

import os

from integration_tests.apps._env_engine import engine_from_env
from integration_tests.apps.timer_workflows import build_timer_templates

engine = engine_from_env(trigger_interval=float(os.environ.get("TEST_TRIGGER_INTERVAL", "0.25")))
engine.template_dags.update(build_timer_templates(engine))
