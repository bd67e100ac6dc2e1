"""``foreach`` stages: the same stages once per item of a list (see :mod:`._fanout`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dagger.declarative._fanout import FanOutTemplate
from dagger.declarative._runs import Item, Run
from dagger.declarative._templating import render
from dagger.tasks.task import ITemplateDAGInstance
from dagger.templates._task_templates import TaskTemplate

if TYPE_CHECKING:
    from dagger.service._dagger import Dagger


class ForeachTemplate(FanOutTemplate):
    """A branch of ``body`` per item of the stage's list, then ``then``."""

    def __init__(
        self, app: Dagger, run: Run, body: TaskTemplate, then: TaskTemplate | None
    ) -> None:
        assert run.stage is not None
        spec = run.stage.body
        super().__init__(
            app,
            run.stage.id,
            body,
            then,
            window=spec.get("max-parallel"),
            fail_fast=bool(spec.get("fail-fast", False)),
        )
        self.run = run

    def items(self, workflow_instance: ITemplateDAGInstance[Any, Any]) -> list[Item]:
        """The items, rendered from the params; ValueError when they are not a list."""
        assert self.run.stage is not None
        context = self.run.context(workflow_instance.runtime_parameters)
        found = render(self.run.stage.body["foreach"], context)
        if not isinstance(found, list):
            raise ValueError(
                f"foreach {self.name!r} of job {self.run.job!r} needs a list, got {found!r}"
            )
        return [
            {"foreach": self.name, "index": index, "value": value}
            for index, value in enumerate(found)
        ]
