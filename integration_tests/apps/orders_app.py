"""A 2-process, 4-task workflow whose behaviour the tests steer through the environment.

- ``DAGGER_BROKER``: the broker (read by Dagger itself).
- ``TEST_APP_ID``, ``TEST_STORE``, ``TEST_DATADIR``, ``TEST_PARTITIONS``,
  ``TEST_UPDATE_TOPIC``: engine settings.
- ``TEST_EXEC_LOG``: a file each ``execute`` appends ``instance task pid`` to.
- ``TEST_TASK_SLEEP``: seconds each task sleeps (to keep instances in flight).
- ``TEST_REQUESTS_TOPIC``: a topic whose JSON messages ``{"order_id", "repartition",
  ...}`` make the worker itself create and submit an instance (the ``repartition=False``
  path needs a worker that owns partitions).
A runtime parameter ``fail_at`` names a task that raises.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

from dagger.service.services import Dagger
from dagger.templates.template import ITemplateDAG
from integration_tests.apps._env_engine import engine_from_env
from integration_tests.apps.orders_workflow import build_orders_template

engine = engine_from_env()


@Dagger.register_template("orders")
def orders_template(template_name: str) -> ITemplateDAG:
    return build_orders_template(engine, template_name)


requests_topic = engine.faust_app.topic(
    os.environ.get("TEST_REQUESTS_TOPIC", "dagger_test_requests"), partitions=1, internal=True
)


@engine.faust_app.agent(requests_topic)
async def create_requested_orders(stream: Any) -> None:
    async for raw in stream:
        request = json.loads(raw)
        repartition = bool(request.pop("repartition"))
        await engine.get_template("orders").create_instance(
            uuid.uuid4(), "order_id", repartition=repartition, submit_task=True, **request
        )
