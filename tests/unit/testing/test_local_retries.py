"""Retry policies end to end in a LocalEngine: waits on the timer index, attempts recorded.

The clock moves only when told to (``local.advance``), so each wait is exact.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest

from dagger.modeler.builder_helper import DAGBuilderHelper
from dagger.service.services import Dagger
from dagger.tasks.task import ExecutorTask, ITemplateDAGInstance, RetryPolicy
from dagger.templates.template import ITemplateDAG, ParallelCompositeTaskTemplateBuilder
from dagger.testing import LocalEngine
from tests.unit._listener_workflows import new_engine, unique
from tests.unit._workflows import task_named

START = 1_000_000.0
POLICY = RetryPolicy(max_attempts=3, initial_backoff=10.0, multiplier=3.0)


class Flaky(ExecutorTask[str, Any]):
    """Raises ConnectionError on its first ``fail_times`` runs, KeyError when ``fatal``."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None = None,
    ) -> None:
        runtime_parameters["tries"] = runtime_parameters.get("tries", 0) + 1
        if runtime_parameters.get("fatal"):
            raise KeyError("sku")
        if runtime_parameters["tries"] <= runtime_parameters.get("fail_times", 0):
            raise ConnectionError(f"try {runtime_parameters['tries']}: the service is down")


def _template(engine: Dagger, policy: RetryPolicy | None = POLICY) -> ITemplateDAG:
    helper = DAGBuilderHelper(dagger_app=engine)
    task = helper.generic_executor_task_builder(task_type=Flaky, name="flaky")
    if policy is not None:
        task.set_retry_policy(policy)
    process = helper.generic_process_builder(
        process_name="order", root_task=helper.build_and_link_tasks([task])
    )
    return helper.generic_template(
        template_name=unique("retried"), root_process=helper.build_and_link_processes([process])
    )


async def _run(local: LocalEngine, template: ITemplateDAG, **params: Any) -> str:
    instance = await template.create_instance(
        uuid.uuid4(), "order_id", submit_task=True, order_id="o-1", **params
    )
    return instance.id


def _flaky(local: LocalEngine, instance_id: str) -> Any:
    stored = local.get_instance(instance_id)
    assert stored is not None
    return stored, task_named(stored, "flaky")


async def test_a_failing_task_waits_and_runs_again_until_it_succeeds() -> None:
    async with LocalEngine(new_engine(), start=START) as local:
        instance_id = await _run(local, _template(local.engine), fail_times=2)

        stored, flaky = _flaky(local, instance_id)
        assert (stored.status.code, flaky.status.code) == ("EXECUTING", "EXECUTING")
        assert flaky.timer_due == START + 10  # the first wait: initial_backoff

        await local.advance(9.9)
        assert _flaky(local, instance_id)[0].runtime_parameters["tries"] == 1
        await local.advance(0.1)
        stored, flaky = _flaky(local, instance_id)
        assert stored.runtime_parameters["tries"] == 2
        assert flaky.timer_due == START + 10 + 30  # the second wait: 10 * 3

        await local.advance(30)
        stored, flaky = _flaky(local, instance_id)

    assert stored.status.code == "COMPLETED"
    assert stored.runtime_parameters["tries"] == 3
    assert [
        (attempt["number"], attempt["started"], attempt["ended"], attempt["error_type"])
        for attempt in flaky.attempts
    ] == [
        (1, START, START, "ConnectionError"),
        (2, START + 10, START + 10, "ConnectionError"),
        (3, START + 40, START + 40, None),
    ]
    assert [attempt["retry_at"] for attempt in flaky.attempts[:2]] == [START + 10, START + 40]
    assert flaky.attempts[0]["error_message"] == "try 1: the service is down"
    assert 'raise ConnectionError(f"try' in flaky.attempts[0]["traceback"]
    assert flaky.error_traceback is None  # it did not end in failure


async def test_after_the_last_attempt_the_task_fails_with_its_traceback() -> None:
    async with LocalEngine(new_engine(), start=START) as local:
        instance_id = await _run(local, _template(local.engine), fail_times=5)
        await local.advance(10)
        await local.advance(30)
        stored, flaky = _flaky(local, instance_id)

    assert stored.runtime_parameters["tries"] == 3
    assert (stored.status.code, flaky.status.code) == ("FAILURE", "FAILURE")
    assert (flaky.error_type, flaky.error_message) == (
        "ConnectionError",
        "try 3: the service is down",
    )
    assert flaky.error_traceback.startswith("Traceback (most recent call last)")
    assert "ConnectionError: try 3: the service is down" in flaky.error_traceback
    assert [attempt["number"] for attempt in flaky.attempts] == [1, 2, 3]
    assert "retry_at" not in flaky.attempts[-1]
    assert flaky.timer_due is None


async def test_a_non_retryable_exception_fails_the_task_at_once() -> None:
    policy = RetryPolicy(max_attempts=3, non_retryable=(LookupError,))
    async with LocalEngine(new_engine(), start=START) as local:
        instance_id = await _run(local, _template(local.engine, policy), fatal=True)
        stored, flaky = _flaky(local, instance_id)

    assert stored.status.code == "FAILURE"
    assert stored.runtime_parameters["tries"] == 1
    assert flaky.error_type == "KeyError"
    assert [attempt["error_type"] for attempt in flaky.attempts] == ["KeyError"]


async def test_the_engine_default_policy_holds_for_tasks_without_their_own() -> None:
    engine = new_engine(retry_policy=RetryPolicy(max_attempts=2, initial_backoff=5.0))
    async with LocalEngine(engine, start=START) as local:
        default = await _run(local, _template(engine, policy=None), fail_times=1)
        own = await _run(local, _template(engine), fail_times=1)
        await local.advance(5)

        assert _flaky(local, default)[0].status.code == "COMPLETED"
        assert _flaky(local, own)[0].status.code == "EXECUTING"  # its own waits 10 s
        await local.advance(5)
        assert _flaky(local, own)[0].status.code == "COMPLETED"


async def test_without_a_policy_a_failure_is_final_and_no_attempts_are_kept() -> None:
    async with LocalEngine(new_engine(), start=START) as local:
        instance_id = await _run(local, _template(local.engine, policy=None), fail_times=1)
        stored, flaky = _flaky(local, instance_id)

    assert stored.status.code == "FAILURE"
    assert flaky.attempts == []
    assert flaky.retry_policy is None
    assert "ConnectionError: try 1" in flaky.error_traceback


async def test_a_stop_during_a_wait_cancels_the_next_attempt() -> None:
    async with LocalEngine(new_engine(), start=START) as local:
        instance_id = await _run(local, _template(local.engine), fail_times=1)
        await local.engine.stop_instance(instance_id)
        await local.advance(60)
        stored, flaky = _flaky(local, instance_id)

    assert stored.status.code == "STOPPED"
    assert stored.runtime_parameters["tries"] == 1
    assert flaky.timer_due is None


async def test_a_retry_of_the_instance_gives_the_task_a_new_budget() -> None:
    policy = RetryPolicy(max_attempts=2, initial_backoff=1.0)
    async with LocalEngine(new_engine(), start=START) as local:
        instance_id = await _run(local, _template(local.engine, policy), fail_times=3)
        await local.advance(1)
        assert _flaky(local, instance_id)[0].status.code == "FAILURE"

        await local.engine.retry_instance(instance_id)
        stored, flaky = _flaky(local, instance_id)
        assert stored.runtime_parameters["tries"] == 3  # the retry's first attempt failed
        assert [attempt["number"] for attempt in flaky.attempts] == [1]
        await local.advance(1)
        stored, flaky = _flaky(local, instance_id)

    assert stored.status.code == "COMPLETED"
    assert [attempt["error_type"] for attempt in flaky.attempts] == ["ConnectionError", None]


async def test_a_failing_hook_is_logged_at_error_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="dagger.runtime._owner"):
        async with LocalEngine(new_engine(), start=START) as local:
            await _run(local, _template(local.engine, policy=None), fail_times=1)

    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "execute of task flaky" in record.getMessage()
    assert record.exc_info is not None and record.exc_info[0] is ConnectionError


def test_a_parallel_composite_refuses_a_retry_policy() -> None:
    builder = ParallelCompositeTaskTemplateBuilder(new_engine())
    with pytest.raises(TypeError, match="set_retry_policy on the tasks of its branches"):
        builder.set_retry_policy(POLICY)


def test_the_engine_refuses_a_default_that_is_not_a_policy() -> None:
    with pytest.raises(TypeError, match="retry_policy must be a RetryPolicy"):
        new_engine(retry_policy={"max_attempts": 3})
