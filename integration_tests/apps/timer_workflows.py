"""Timed workflows the integration tests drive, built on any engine.

- ``trigger``: ``Stamp`` (a TriggerTask) runs at ``run_at`` and records ``fired_at``.
- ``interval``: ``Poller`` (an IntervalTask) tries every ``period`` seconds from
  ``start_at`` until its ``fail_times`` failures are used up or ``deadline`` passes.
- ``monitored``: a monitored process (due ``complete_by_time``) with a trigger at ``run_at``.
- ``deadline``: a process with ``max_run_duration=1`` waiting on a far trigger, then
  a process that finishes the workflow.
- ``retried``: ``Flaky`` (an executor with a retry policy of 3 attempts, 1.5 s apart)
  raises on its first ``fail_times`` runs.
"""

from __future__ import annotations

import os
import time
from typing import Any

from dagger.modeler.builder_helper import DAGBuilderHelper
from dagger.service.services import Dagger
from dagger.tasks.task import (
    ExecutorTask,
    IntervalTask,
    ITask,
    ITemplateDAGInstance,
    MonitoredProcessTemplateDAGInstance,
    MonitoringTask,
    RetryPolicy,
    TriggerTask,
)
from dagger.templates.template import ITemplateDAG
from integration_tests.apps.listener_workflows import Finish

_EXEC_LOG = os.environ.get("TEST_EXEC_LOG")


def _log_run(task: ITask[Any, Any]) -> None:
    """Append the run of ``task`` to the execution log, when the test keeps one."""
    if _EXEC_LOG:
        with open(_EXEC_LOG, "a") as log:
            log.write(f"{task.root_id} {task.task_name} {os.getpid()}\n")


class Stamp(TriggerTask[str, str]):
    """Records when it fired (and logs each run to the execution log)."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[Any, Any] | None = None,
    ) -> None:
        _log_run(self)
        runtime_parameters["fired_at"] = time.time()
        runtime_parameters["fired"] = runtime_parameters.get("fired", 0) + 1


class Flaky(ExecutorTask[str, str]):
    """Raises ConnectionError on its first ``fail_times`` runs (each logged), then succeeds."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[Any, Any] | None = None,
    ) -> None:
        _log_run(self)
        runtime_parameters["tries"] = runtime_parameters.get("tries", 0) + 1
        if runtime_parameters["tries"] <= int(runtime_parameters.get("fail_times", 0)):
            raise ConnectionError(f"try {runtime_parameters['tries']}: the service is down")


RETRIED_POLICY = RetryPolicy(max_attempts=3, initial_backoff=1.5, multiplier=1.0)
"""The ``retried`` workflow's policy: 3 attempts in all, 1.5 s apart."""


class Poller(IntervalTask[str, str]):
    """Fails ``fail_times`` times, then succeeds."""

    async def interval_execute(self, runtime_parameters: dict[str, Any]) -> bool:
        runtime_parameters.setdefault("attempts", []).append(time.time())
        return len(runtime_parameters["attempts"]) > int(runtime_parameters.get("fail_times", 0))

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[Any, Any] | None = None,
    ) -> None:
        runtime_parameters["finished_at"] = time.time()


class LateMonitor(MonitoringTask[str, str]):
    """Records that the monitored process was late."""

    async def process_monitored_task(
        self,
        monitored_task: ITask[Any, Any],
        workflow_instance: ITemplateDAGInstance[Any, Any] | None,
    ) -> None:
        assert workflow_instance is not None
        workflow_instance.runtime_parameters["monitor_fired_at"] = time.time()
        workflow_instance.runtime_parameters["late"] = monitored_task.task_name


class WatchedProcess(MonitoredProcessTemplateDAGInstance):
    """A process checked by LateMonitor."""

    def get_monitoring_task_type(self) -> type[MonitoringTask[Any, Any]]:
        return LateMonitor


def build_timer_templates(app: Dagger) -> dict[str, ITemplateDAG]:
    """Build the timed workflows of this module on ``app``."""
    helper = DAGBuilderHelper(dagger_app=app)

    def one(name: str, builder: Any, **process: Any) -> ITemplateDAG:
        chain = helper.build_and_link_tasks([builder])
        built = helper.generic_process_builder(process_name=name, root_task=chain, **process)
        return helper.generic_template(
            template_name=name, root_process=helper.build_and_link_processes([built])
        )

    trigger = one(
        "trigger",
        helper.generic_trigger_task_builder(
            task_type=Stamp, name="stamp", time_to_execute_key="run_at"
        ),
    )
    interval = one(
        "interval",
        helper.generic_interval_task_builder(
            task_type=Poller,
            name="poll",
            interval_execute_period_key="period",
            time_to_force_complete_key="deadline",
            time_to_execute_key="start_at",
        ),
    )
    monitored = one(
        "monitored",
        helper.generic_trigger_task_builder(
            task_type=Stamp, name="work", time_to_execute_key="run_at"
        ),
        process_type=WatchedProcess,
    )
    slow = helper.generic_process_builder(
        process_name="slow",
        root_task=helper.build_and_link_tasks(
            [
                helper.generic_trigger_task_builder(
                    task_type=Stamp, name="never", time_to_execute_key="run_at"
                )
            ]
        ),
        max_run_duration=1,
    )
    after = helper.generic_process_builder(
        process_name="after",
        root_task=helper.build_and_link_tasks(
            [helper.generic_executor_task_builder(task_type=Finish, name="finish")]
        ),
    )
    deadline = helper.generic_template(
        template_name="deadline", root_process=helper.build_and_link_processes([slow, after])
    )
    retried = one(
        "retried",
        helper.generic_executor_task_builder(task_type=Flaky, name="flaky").set_retry_policy(
            RETRIED_POLICY
        ),
    )
    return {
        "trigger": trigger,
        "interval": interval,
        "monitored": monitored,
        "deadline": deadline,
        "retried": retried,
    }
