"""The template of a declarative workflow: its params are checked as instances are created."""

from __future__ import annotations

import random
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from dagger.declarative._errors import ParamsError
from dagger.declarative._model import Workflow
from dagger.declarative._params import validate
from dagger.tasks.task import DefaultTemplateDAGInstance, ITemplateDAGInstance
from dagger.templates._process_templates import IProcessTemplateDAG
from dagger.templates._workflow_templates import TemplateDAG

if TYPE_CHECKING:
    from dagger.service._dagger import Dagger


class DeclarativeTemplate(TemplateDAG):
    """A :class:`TemplateDAG` compiled from YAML; ``workflow`` is its checked definition."""

    def __init__(self, dag: IProcessTemplateDAG, workflow: Workflow, app: Dagger) -> None:
        super().__init__(dag, workflow.name, app, DefaultTemplateDAGInstance)
        self.workflow = workflow

    def create_instance(
        self,
        id: Any,
        partition_key_lookup: str | None = None,
        *,
        repartition: bool = True,
        seed: random.Random | None = None,
        submit_task: bool = False,
        **kwargs: Any,
    ) -> Coroutine[Any, Any, ITemplateDAGInstance[Any, Any]]:
        """Check ``kwargs`` against the workflow's params, then create the instance.

        Raises:
            ParamsError: a parameter is unknown, missing or not of its type; each bad
                field is named with what was expected.
        """
        values = self.parameters(kwargs)
        return super().create_instance(
            id,
            partition_key_lookup,
            repartition=repartition,
            seed=seed,
            submit_task=submit_task,
            **values,
        )

    def parameters(self, given: dict[str, Any]) -> dict[str, Any]:
        """The runtime parameters for ``given`` (defaults filled in); ParamsError if bad."""
        values, errors = validate_params(self.workflow, given)
        if errors:
            raise ParamsError(self.workflow.name, errors)
        return values


def validate_params(
    workflow: Workflow, given: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The runtime parameters of ``workflow`` for ``given``, and a message per bad field."""
    return validate(workflow.params, given)
