"""The engine of an integration-test app, named and configured from the environment."""

from __future__ import annotations

import os
from typing import Any

from dagger.service.services import Dagger


def engine_from_env(**settings: Any) -> Dagger:
    """A Dagger whose group, topics and store come from the TEST_* variables."""
    return Dagger(
        application_name=os.environ.get("TEST_APP_ID", "dagger-test"),
        store=os.environ.get("TEST_STORE", "memory://"),
        datadir=os.environ.get("TEST_DATADIR"),
        kafka_partitions=int(os.environ.get("TEST_PARTITIONS", "4")),
        task_update_topic=os.environ.get("TEST_UPDATE_TOPIC", "dagger_test_updates"),
        tasks_topic=os.environ.get("TEST_TASKS_TOPIC", "dagger_task_topic"),
        dead_letter_topic=os.environ.get("TEST_DEAD_LETTER_TOPIC", "dagger_dead_letters"),
        intake_topic=os.environ.get("TEST_INTAKE_TOPIC", "dagger_intake"),
        **settings,
    )
