"""The engine of the timer integration tests; names and tick come from the environment."""

from __future__ import annotations

import os

from dagger.service.services import Dagger
from integration_tests.apps.timer_workflows import build_timer_templates

engine = Dagger(
    application_name=os.environ.get("TEST_APP_ID", "dagger-timer-test"),
    store=os.environ.get("TEST_STORE", "memory://"),
    datadir=os.environ.get("TEST_DATADIR"),
    kafka_partitions=int(os.environ.get("TEST_PARTITIONS", "4")),
    task_update_topic=os.environ.get("TEST_UPDATE_TOPIC", "dagger_test_updates"),
    tasks_topic=os.environ.get("TEST_TASKS_TOPIC", "dagger_task_topic"),
    dead_letter_topic=os.environ.get("TEST_DEAD_LETTER_TOPIC", "dagger_dead_letters"),
    trigger_interval=float(os.environ.get("TEST_TRIGGER_INTERVAL", "0.25")),
)

engine.template_dags.update(build_timer_templates(engine))
