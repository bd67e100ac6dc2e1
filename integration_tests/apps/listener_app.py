"""The engine of the listener integration tests; topics and group come from the environment."""

from __future__ import annotations

import os

from dagger.service.services import Dagger
from integration_tests.apps.listener_workflows import build_listener_templates

TOPIC_A = os.environ.get("TEST_LISTEN_TOPIC", "listen_a")
TOPIC_B = os.environ.get("TEST_LISTEN_TOPIC_B", "listen_b")

engine = Dagger(
    application_name=os.environ.get("TEST_APP_ID", "dagger-listener-test"),
    store=os.environ.get("TEST_STORE", "memory://"),
    datadir=os.environ.get("TEST_DATADIR"),
    kafka_partitions=int(os.environ.get("TEST_PARTITIONS", "4")),
    task_update_topic=os.environ.get("TEST_UPDATE_TOPIC", "dagger_test_updates"),
    tasks_topic=os.environ.get("TEST_TASKS_TOPIC", "dagger_task_topic"),
    dead_letter_topic=os.environ.get("TEST_DEAD_LETTER_TOPIC", "dagger_dead_letters"),
)

for _name, _template_dag in build_listener_templates(engine, TOPIC_A, TOPIC_B).items():
    engine.template_dags[_name] = _template_dag
