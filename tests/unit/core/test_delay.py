"""Delay tasks through ``step``: a timer counted from the start, seconds from a parameter."""

from __future__ import annotations

import random
from typing import Any

from dagger.core._effects import RunTask, SetTimer
from dagger.core._events import InstanceSubmitted, TimerFired
from dagger.core._step import step as core_step
from dagger.modeler.definition import DefaultTemplateBuilder, ProcessTemplateDagBuilder
from dagger.service.services import Dagger
from dagger.tasks._delay import DelayTask
from dagger.templates._task_templates import DefaultTaskTemplate
from tests.unit._listener_workflows import unique
from tests.unit._workflows import round_trip

NOW = 1_000.0


class _DelayTemplate(DefaultTaskTemplate):
    def _task_fields(self, runtime_parameters: dict[str, Any]) -> dict[str, Any]:
        return {"delay_key": "pause"}


async def _submitted(engine: Dagger, **params: Any) -> tuple[Any, list[Any]]:
    delay = _DelayTemplate(engine, DelayTask, "pause", [], allow_skip_to=False)
    process = ProcessTemplateDagBuilder(engine).set_name("P").set_root_task(delay).build()
    template = DefaultTemplateBuilder(engine).set_name(unique("delay")).set_root(process).build()
    instance = await template.create_instance("i-1", seed=random.Random(0), **params)
    instance.owner_partition = 0
    instance = round_trip(instance)
    return instance, core_step(instance, InstanceSubmitted("e-1", "i-1"), NOW).effects


async def test_a_delay_waits_its_seconds_from_the_moment_it_starts(engine: Dagger) -> None:
    instance, effects = await _submitted(engine, pause=30)
    task = next(t for t in instance.tasks.values() if isinstance(t, DelayTask))
    assert effects == [SetTimer(task.id, NOW + 30)]
    fired = core_step(instance, TimerFired("e-2", "i-1", task.id, NOW + 30), NOW + 30).effects
    assert RunTask(task.id) in fired


async def test_a_delay_without_a_number_of_seconds_fails_saying_so(engine: Dagger) -> None:
    instance, _ = await _submitted(engine, pause="soon")
    task = next(t for t in instance.tasks.values() if isinstance(t, DelayTask))
    assert (task.status.code, task.error_type) == ("FAILURE", "InvalidDelay")
    assert task.error_message == (
        "pause waits runtime_parameters['pause'] seconds, which is 'soon', not a number >= 0"
    )
    assert instance.status.code == "FAILURE"
