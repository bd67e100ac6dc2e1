"""The engine of an integration-test app, named and configured from the environment."""

from __future__ import annotations

import os
from typing import Any

from dagger.service.services import Dagger

TEST_SESSION_TIMEOUT = 3.0
"""The test workers' group session timeout, in seconds (the engine's default is 6 s).

The embedded broker holds a JoinGroup for half the session timeout, and a SIGKILLed
member's partitions move once its session expires: every worker start and takeover in
the suite waits on it. The embedded broker accepts 3 s (Apache Kafka's
``group.min.session.timeout.ms`` refuses under 6 s by default, hence the engine's 6 s).
"""


def engine_from_env(**settings: Any) -> Dagger:
    """A Dagger whose group, topics and store come from the TEST_* variables."""
    settings.setdefault("broker_session_timeout", TEST_SESSION_TIMEOUT)
    settings.setdefault("broker_heartbeat_interval", TEST_SESSION_TIMEOUT / 4)
    if os.environ.get("TEST_MAX_CONCURRENT_HOOKS"):
        settings.setdefault("max_concurrent_hooks", int(os.environ["TEST_MAX_CONCURRENT_HOOKS"]))
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
