"""The state machine's listeners: registering, accepting messages, re-keying, unregistering.

No owner runs here: the tests apply events and call the listener functions of
:mod:`dagger.core._machine` directly, and run executor effects in place.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from dagger.core import _flow as flow
from dagger.core._effects import Effect, InstanceFinished, Register, RunTask, Unregister
from dagger.core._events import InstanceSubmitted, TaskFailed, TaskSucceeded
from dagger.core._keys import index_key
from dagger.core._kinds import listener as listener_rules
from dagger.core._step import step as core_step
from dagger.service.services import Dagger
from dagger.tasks.task import ITemplateDAGInstance
from tests.unit._listener_workflows import (
    COMMAND,
    FINISH,
    LISTENER,
    PREPARE,
    PROCESS,
    ExplodingTask,
    ForgetOrderId,
    order_template,
)
from tests.unit._workflows import round_trip, task_named

STATUS = "status-topic"
PAYMENT = "payment-topic"
KEY = index_key(STATUS, "order_id", "o-1")
PAYMENT_KEY = index_key(PAYMENT, "order_id", "o-1")


async def _instance(engine: Dagger, **options: Any) -> ITemplateDAGInstance[Any, Any]:
    template = order_template(engine, status_topic=STATUS, command_topic="commands", **options)
    return await template.create_instance(
        "instance-1", "order_id", seed=random.Random(0), order_id="o-1"
    )


def _id(instance: ITemplateDAGInstance[Any, Any], name: str) -> str:
    return task_named(instance, name).id


def _code(instance: ITemplateDAGInstance[Any, Any], name: str) -> str:
    return task_named(instance, name).status.code


async def _drive(
    instance: ITemplateDAGInstance[Any, Any], effects: list[Effect]
) -> tuple[ITemplateDAGInstance[Any, Any], list[Effect]]:
    """Run the RunTask effects as the owner does; return the instance and the other effects."""
    others: list[Effect] = []
    queue = list(effects)
    while queue:
        effect = queue.pop(0)
        if not isinstance(effect, RunTask):
            others.append(effect)
            continue
        task = instance.get_task(effect.task_id)
        try:
            await task.execute(
                runtime_parameters=instance.runtime_parameters, workflow_instance=instance
            )
        except Exception as exc:
            outcome: TaskSucceeded | TaskFailed = TaskFailed(task.id, type(exc).__name__, str(exc))
        else:
            outcome = TaskSucceeded(task.id)
        instance = round_trip(instance)
        queue.extend(core_step(instance, outcome, now=2.0).effects)
    return instance, others


async def _waiting(engine: Dagger, **options: Any) -> ITemplateDAGInstance[Any, Any]:
    """Return the submitted instance waiting in its first listener."""
    instance = await _instance(engine, **options)
    instance, effects = await _drive(
        instance, core_step(instance, InstanceSubmitted("e-1", instance.id), now=1.0).effects
    )
    if _code(instance, LISTENER) == "EXECUTING":
        assert Register(_id(instance, LISTENER), KEY) in effects
    return round_trip(instance)


# -- registering -------------------------------------------------------------------------


async def test_a_listener_registers_under_its_parameter_when_it_starts(engine: Dagger) -> None:
    instance = await _instance(engine)

    effects = core_step(instance, InstanceSubmitted("e-1", instance.id), now=1.0).effects
    assert effects == [RunTask(_id(instance, PREPARE))]
    instance, effects = await _drive(instance, effects)

    assert effects == [Register(_id(instance, LISTENER), KEY)]
    listener = task_named(instance, LISTENER)
    assert listener.status.code == "EXECUTING"
    assert listener.correlatable_key_value == "o-1"
    assert listener.time_submitted == 2.0
    assert (_code(instance, COMMAND), _code(instance, FINISH)) == ("COMPLETED", "NOT_STARTED")
    assert round_trip(instance).get_task(listener.id).correlatable_key_value == "o-1"


async def test_submit_registers_skip_to_listeners_before_anything_runs(engine: Dagger) -> None:
    instance = await _instance(engine, allow_skip_to=True)

    effects = core_step(instance, InstanceSubmitted("e-1", instance.id), now=1.0).effects

    assert effects == [Register(_id(instance, LISTENER), KEY), RunTask(_id(instance, PREPARE))]
    assert _code(instance, LISTENER) == "NOT_STARTED"
    assert task_named(instance, LISTENER).correlatable_key_value == "o-1"


async def test_a_registered_skip_to_listener_does_not_register_twice(engine: Dagger) -> None:
    instance = await _instance(engine, allow_skip_to=True)
    effects = core_step(instance, InstanceSubmitted("e-1", instance.id), now=1.0).effects

    instance, effects = await _drive(instance, effects)

    assert effects == [Register(_id(instance, LISTENER), KEY)]
    assert _code(instance, LISTENER) == "EXECUTING"


async def test_a_skip_to_listener_re_registers_when_its_parameter_changed_before_it_started(
    engine: Dagger,
) -> None:
    instance = await _instance(engine, allow_skip_to=True)
    effects = core_step(instance, InstanceSubmitted("e-1", instance.id), now=1.0).effects
    instance.runtime_parameters["order_id"] = "o-2"

    instance, effects = await _drive(instance, effects)

    listener_id = _id(instance, LISTENER)
    assert effects == [
        Register(listener_id, KEY),
        Unregister(listener_id, KEY),
        Register(listener_id, index_key(STATUS, "order_id", "o-2")),
    ]


async def test_a_listener_without_its_parameter_fails_the_workflow(engine: Dagger) -> None:
    instance = await _instance(engine, before_listener=(("forget", ForgetOrderId),))

    instance, effects = await _drive(
        instance, core_step(instance, InstanceSubmitted("e-1", instance.id), now=1.0).effects
    )

    assert effects == [InstanceFinished("FAILURE")]
    listener = task_named(instance, LISTENER)
    assert listener.status.code == "FAILURE"
    assert listener.error_type == "MissingCorrelationKey"
    assert listener.error_message.startswith("runtime parameter 'order_id' is not set")
    assert listener.correlatable_key_value is None
    assert _code(instance, PROCESS) == "FAILURE"
    assert instance.error_type == "MissingCorrelationKey"
    assert _code(instance, FINISH) == "NOT_STARTED"


async def test_a_skip_to_listener_whose_parameter_disappeared_fails_too(engine: Dagger) -> None:
    instance = await _instance(
        engine, allow_skip_to=True, before_listener=(("forget", ForgetOrderId),)
    )

    instance, effects = await _drive(
        instance, core_step(instance, InstanceSubmitted("e-1", instance.id), now=1.0).effects
    )

    listener_id = _id(instance, LISTENER)
    assert effects == [
        Register(listener_id, KEY),
        Unregister(listener_id, KEY),
        InstanceFinished("FAILURE"),
    ]
    assert task_named(instance, LISTENER).error_type == "MissingCorrelationKey"


# -- accepting messages ------------------------------------------------------------------


async def test_an_executing_listener_accepts_a_message(engine: Dagger) -> None:
    instance = await _waiting(engine)

    assert listener_rules.accept_message(instance, _id(instance, LISTENER), now=3.0) == (True, [])


@pytest.mark.parametrize("name", [PREPARE, COMMAND, FINISH, PROCESS])
async def test_tasks_that_are_not_listeners_accept_no_message(engine: Dagger, name: str) -> None:
    instance = await _waiting(engine)

    assert listener_rules.accept_message(instance, _id(instance, name), now=3.0) == (False, [])


async def test_an_unknown_task_accepts_no_message(engine: Dagger) -> None:
    instance = await _waiting(engine)

    assert listener_rules.accept_message(instance, "no-such-task", now=3.0) == (False, [])
    assert listener_rules.accept_message(instance, instance.id, now=3.0) == (False, [])


async def test_a_not_started_listener_without_skip_to_accepts_no_message(engine: Dagger) -> None:
    instance = await _waiting(engine, payment_topic=PAYMENT)

    assert _code(instance, LISTENER) == "NOT_STARTED"
    assert listener_rules.accept_message(instance, _id(instance, LISTENER), now=3.0) == (False, [])
    assert _code(instance, PREPARE) == "NOT_STARTED"


async def test_a_completed_listener_accepts_only_with_reprocess_on_message(engine: Dagger) -> None:
    plain = await _waiting(engine)
    listener_rules.message_handled(plain, _id(plain, LISTENER), True, now=3.0)

    reprocessing = await _waiting(engine, reprocess_on_message=True, payment_after=PAYMENT)
    listener_rules.message_handled(reprocessing, _id(reprocessing, LISTENER), True, now=3.0)

    assert _code(plain, LISTENER) == _code(reprocessing, LISTENER) == "COMPLETED"
    assert listener_rules.accept_message(plain, _id(plain, LISTENER), now=4.0) == (False, [])
    assert listener_rules.accept_message(reprocessing, _id(reprocessing, LISTENER), now=4.0) == (
        True,
        [],
    )


async def test_a_finished_instance_accepts_no_message(engine: Dagger) -> None:
    instance = await _waiting(engine, reprocess_on_message=True)
    instance, _ = await _drive(
        instance, listener_rules.message_handled(instance, _id(instance, LISTENER), True, now=3.0)
    )

    assert instance.status.code == "COMPLETED"
    assert listener_rules.accept_message(instance, _id(instance, LISTENER), now=4.0) == (False, [])


async def test_a_message_for_a_skip_to_listener_skips_what_runs_before_it(engine: Dagger) -> None:
    instance = await _waiting(engine, payment_topic=PAYMENT, allow_skip_to=True)
    payment_listener = _id(instance, "PAYMENT_listener_task")
    assert _code(instance, "PAYMENT_listener_task") == "EXECUTING"

    accepted, effects = listener_rules.accept_message(instance, _id(instance, LISTENER), now=3.0)

    assert accepted
    assert effects == [Unregister(payment_listener, PAYMENT_KEY)]
    assert {task.task_name: task.status.code for task in instance.tasks.values()} == {
        "PAYMENT": "SKIPPED",
        "PAYMENT_listener_task": "SKIPPED",
        PROCESS: "EXECUTING",
        PREPARE: "SKIPPED",
        COMMAND: "SKIPPED",
        LISTENER: "EXECUTING",
        FINISH: "NOT_STARTED",
    }
    assert instance.status.code == "EXECUTING"
    assert task_named(instance, PREPARE).time_completed == 3.0
    assert task_named(instance, PROCESS).time_submitted == 3.0
    assert task_named(instance, LISTENER).time_submitted == 3.0
    assert task_named(instance, LISTENER).correlatable_key_value == "o-1"


async def test_after_a_skip_the_completed_listener_runs_the_rest(engine: Dagger) -> None:
    instance = await _waiting(engine, payment_topic=PAYMENT, allow_skip_to=True)
    listener_id = _id(instance, LISTENER)
    listener_rules.accept_message(instance, listener_id, now=3.0)

    effects = listener_rules.message_handled(instance, listener_id, True, now=4.0)
    assert effects == [Unregister(listener_id, KEY), RunTask(_id(instance, FINISH))]
    instance, effects = await _drive(instance, effects)

    assert effects == [Unregister(listener_id, KEY), InstanceFinished("COMPLETED")]
    assert instance.status.code == "COMPLETED"
    assert _code(instance, PROCESS) == "COMPLETED"
    assert _code(instance, "PAYMENT") == "SKIPPED"


async def test_a_skip_within_the_running_process_skips_the_running_listener(
    engine: Dagger,
) -> None:
    instance = await _waiting(engine, payment_topic=PAYMENT, allow_skip_to=True)
    # The payment listener is the one running; ORDER has not started.
    assert _code(instance, PROCESS) == "NOT_STARTED"

    listener_rules.accept_message(instance, _id(instance, LISTENER), now=3.0)

    # A late payment message no longer reaches the skipped payment listener.
    assert listener_rules.accept_message(
        instance, _id(instance, "PAYMENT_listener_task"), now=4.0
    ) == (
        False,
        [],
    )


# -- after on_message --------------------------------------------------------------------


async def test_a_completing_message_unregisters_and_moves_on(engine: Dagger) -> None:
    instance = await _waiting(engine)
    listener_id = _id(instance, LISTENER)

    effects = listener_rules.message_handled(instance, listener_id, True, now=3.0)

    assert effects == [Unregister(listener_id, KEY), RunTask(_id(instance, FINISH))]
    listener = task_named(instance, LISTENER)
    assert (listener.status.code, listener.time_completed) == ("COMPLETED", 3.0)
    assert listener.correlatable_key_value is None
    _, effects = await _drive(instance, effects)
    assert effects == [Unregister(listener_id, KEY), InstanceFinished("COMPLETED")]


async def test_a_message_that_does_not_complete_changes_nothing(engine: Dagger) -> None:
    instance = await _waiting(engine)

    assert listener_rules.message_handled(instance, _id(instance, LISTENER), False, now=3.0) == []
    assert _code(instance, LISTENER) == "EXECUTING"


async def test_a_changed_key_parameter_moves_the_listener(engine: Dagger) -> None:
    instance = await _waiting(engine)
    listener_id = _id(instance, LISTENER)
    instance.runtime_parameters["order_id"] = "o-2"

    effects = listener_rules.message_handled(instance, listener_id, False, now=3.0)

    assert effects == [
        Unregister(listener_id, KEY),
        Register(listener_id, index_key(STATUS, "order_id", "o-2")),
    ]
    assert task_named(instance, LISTENER).correlatable_key_value == "o-2"
    assert listener_rules.message_handled(instance, listener_id, False, now=4.0) == []


async def test_a_changed_key_then_completion_unregisters_the_old_key(engine: Dagger) -> None:
    instance = await _waiting(engine)
    listener_id = _id(instance, LISTENER)
    instance.runtime_parameters["order_id"] = "o-2"

    effects = listener_rules.message_handled(instance, listener_id, True, now=3.0)

    assert effects[0] == Unregister(listener_id, KEY)
    assert Register(listener_id, index_key(STATUS, "order_id", "o-2")) not in effects


async def test_a_numeric_key_is_registered_as_text(engine: Dagger) -> None:
    instance = await _waiting(engine)
    listener_id = _id(instance, LISTENER)
    instance.runtime_parameters["order_id"] = 42

    effects = listener_rules.message_handled(instance, listener_id, False, now=3.0)

    assert effects[-1] == Register(listener_id, index_key(STATUS, "order_id", "42"))
    assert task_named(instance, LISTENER).correlatable_key_value == "42"


async def test_message_handled_for_a_task_that_is_not_a_listener_does_nothing(
    engine: Dagger,
) -> None:
    instance = await _waiting(engine)

    assert listener_rules.message_handled(instance, _id(instance, FINISH), True, now=3.0) == []
    assert _code(instance, FINISH) == "NOT_STARTED"


async def test_a_reprocessing_listener_stays_registered_after_it_completes(
    engine: Dagger,
) -> None:
    instance = await _waiting(engine, reprocess_on_message=True, payment_after=PAYMENT)
    listener_id = _id(instance, LISTENER)

    effects = listener_rules.message_handled(instance, listener_id, True, now=3.0)

    assert effects == [RunTask(_id(instance, FINISH))]
    instance, effects = await _drive(instance, effects)
    payment_listener = _id(instance, "PAYMENT_listener_task")
    assert effects == [Register(payment_listener, PAYMENT_KEY)]
    assert task_named(instance, LISTENER).correlatable_key_value == "o-1"

    # A later message runs on_message again; completing again changes nothing.
    assert listener_rules.accept_message(instance, listener_id, now=4.0) == (True, [])
    assert listener_rules.message_handled(instance, listener_id, True, now=4.0) == []
    assert _code(instance, LISTENER) == "COMPLETED"

    # The instance finishing unregisters every listener still registered.
    effects = listener_rules.message_handled(instance, payment_listener, True, now=5.0)
    assert effects == [
        Unregister(payment_listener, PAYMENT_KEY),
        Unregister(listener_id, KEY),
        InstanceFinished("COMPLETED"),
    ]
    assert task_named(instance, LISTENER).correlatable_key_value is None


async def test_a_failing_workflow_unregisters_its_waiting_skip_to_listener(
    engine: Dagger,
) -> None:
    instance = await _instance(
        engine, allow_skip_to=True, before_listener=(("explode", ExplodingTask),)
    )

    instance, effects = await _drive(
        instance, core_step(instance, InstanceSubmitted("e-1", instance.id), now=1.0).effects
    )

    listener_id = _id(instance, LISTENER)
    assert effects == [
        Register(listener_id, KEY),
        Unregister(listener_id, KEY),
        InstanceFinished("FAILURE"),
    ]
    assert _code(instance, LISTENER) == "NOT_STARTED"


async def test_a_listener_finished_with_failure_unregisters(engine: Dagger) -> None:
    instance = await _waiting(engine)
    listener_id = _id(instance, LISTENER)

    effects = flow.finish_task(instance, listener_id, "FAILURE", now=3.0, error=("E", "m"))

    assert effects == [Unregister(listener_id, KEY), InstanceFinished("FAILURE")]


async def test_a_completed_reprocessing_listener_unregisters_on_failure_later(
    engine: Dagger,
) -> None:
    instance = await _waiting(engine, reprocess_on_message=True, payment_after=PAYMENT)
    listener_id = _id(instance, LISTENER)
    instance, _ = await _drive(
        instance, listener_rules.message_handled(instance, listener_id, True, now=3.0)
    )
    payment_listener = _id(instance, "PAYMENT_listener_task")

    effects = flow.finish_task(instance, payment_listener, "FAILURE", now=4.0)

    assert effects == [
        Unregister(payment_listener, PAYMENT_KEY),
        Unregister(listener_id, KEY),
        InstanceFinished("FAILURE"),
    ]


# -- listen and stop_listening -----------------------------------------------------------


async def test_listen_and_stop_listening_ignore_tasks_that_are_not_listeners(
    engine: Dagger,
) -> None:
    instance = await _waiting(engine)

    for name in (PREPARE, PROCESS):
        assert listener_rules.listen(instance, task_named(instance, name)) == []
        assert listener_rules.stop_listening(task_named(instance, name)) == []
    assert listener_rules.stop_listening(instance) == []


async def test_stop_listening_is_once(engine: Dagger) -> None:
    instance = await _waiting(engine)
    listener = task_named(instance, LISTENER)

    assert listener_rules.stop_listening(listener) == [Unregister(listener.id, KEY)]
    assert listener_rules.stop_listening(listener) == []
    assert listener_rules.listen(instance, listener) == [Register(listener.id, KEY)]
    assert listener_rules.listen(instance, listener) == []


async def test_listen_needs_a_topic_and_a_value(engine: Dagger) -> None:
    instance = await _waiting(engine)
    listener = task_named(instance, LISTENER)
    listener_rules.stop_listening(listener)

    instance.runtime_parameters["order_id"] = None
    assert listener_rules.listen(instance, listener) == []
    instance.runtime_parameters["order_id"] = "o-1"
    listener.topic = None
    assert listener_rules.listen(instance, listener) == []
    assert listener.correlatable_key_value is None
