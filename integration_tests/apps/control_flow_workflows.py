"""Control-flow workflows the integration tests drive, built on any engine.

- ``decision``: ``start`` then the decision ``route`` on the parameter ``route``:
  ``express`` (then ``express_label``) or ``standard``. Any other value is returned as
  is, which is not a branch id.
- ``join_all`` / ``atleast_one``: a parallel composite ``quotes`` of ``quote_a``,
  ``quote_b`` and the listener ``quote_wait`` (keyed on ``ref``), then ``chosen``. A
  quote fails when the parameter ``fail`` names it.
- ``combo``: process ``intake`` (``start`` → decision ``route`` → ``fan_marker`` or
  ``lean_marker``); parallel processes ``fan`` (JOIN_ALL) of ``pack`` (``pack_task``)
  and ``payment`` (the listener ``payment_wait`` on topic A); the dynamic process
  ``items`` (the ``item_<n>`` processes chosen at creation); process ``closing`` (the
  listener ``close_wait`` on topic B, whose ``stop`` hook records itself).

Every executor appends its name to ``ran``; every ``stop`` hook to ``stop_hooks``.
"""

from __future__ import annotations

from typing import Any

from dagger.modeler.builder_helper import DAGBuilderHelper
from dagger.modeler.definition import (
    DynamicProcessTemplateDagBuilder,
    ParallelCompositeProcessTemplateDagBuilder,
    ProcessTemplateDagBuilder,
)
from dagger.service.services import Dagger
from dagger.tasks.task import (
    DecisionTask,
    ExecutorTask,
    ITemplateDAGInstance,
    KafkaListenerTask,
    TaskLookupKey,
    TaskOperator,
)
from dagger.templates.template import (
    DecisionTaskTemplateBuilder,
    DefaultTaskTemplateBuilder,
    ITemplateDAG,
    KafkaListenerTaskTemplateBuilder,
    ParallelCompositeTaskTemplateBuilder,
    TaskTemplate,
)


class Step(ExecutorTask[str, Any]):
    """Records its name in ``ran``; raises when the parameter ``fail`` names it."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[Any, Any] | None = None,
    ) -> None:
        if runtime_parameters.get("fail") == self.task_name:
            raise RuntimeError(f"{self.task_name} refused")
        runtime_parameters.setdefault("ran", []).append(self.task_name)


class Route(DecisionTask[str, Any]):
    """Chooses the branch named by the parameter ``route`` (as is when it names none)."""

    async def evaluate(self, **runtime_parameters: Any) -> str | None:
        route = runtime_parameters["route"]
        if route == "none":
            return None
        return self.branch(route) if route in self.branch_names else str(route)


class RefWait(KafkaListenerTask[str, Any]):
    """Keyed on ``ref``: completes on any message; its stop hook records itself."""

    correlatable_key = "ref"

    async def get_correlatable_keys_from_payload(
        self, payload: Any
    ) -> list[TaskLookupKey[str, str]]:
        return [("ref", payload["ref"])]

    async def on_message(
        self, runtime_parameters: dict[str, Any], *args: Any, **kwargs: Any
    ) -> bool:
        runtime_parameters.setdefault("ran", []).append(self.task_name)
        return True

    async def stop(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[Any, Any] | None = None,
    ) -> None:
        runtime_parameters.setdefault("stop_hooks", []).append(self.task_name)


def _step(app: Dagger, name: str, then: TaskTemplate | None = None) -> TaskTemplate:
    builder = DefaultTaskTemplateBuilder(app).set_name(name).set_type(Step)
    if then is not None:
        builder.set_next(then)
    return builder.build()


def _wait(app: Dagger, name: str, topic: str) -> TaskTemplate:
    builder = KafkaListenerTaskTemplateBuilder(app).set_name(name).set_type(RefWait)
    return builder.set_topic(Dagger.create_topic(topic, value_serializer="json")).build()


def _route(app: Dagger, branches: list[TaskTemplate]) -> TaskTemplate:
    builder = DecisionTaskTemplateBuilder(app).set_name("route").set_type(Route)
    for branch in branches:
        builder.set_next(branch)
    return builder.build()


def _process(app: Dagger, name: str, root: TaskTemplate) -> ProcessTemplateDagBuilder:
    return ProcessTemplateDagBuilder(app).set_name(name).set_root_task(root)


def item_process(app: Dagger, number: int) -> ProcessTemplateDagBuilder:
    """The dynamic ``items`` process number ``number``: one step ``item_<number>_task``."""
    return _process(app, f"item_{number}", _step(app, f"item_{number}_task"))


def _single_process_template(app: Dagger, name: str, root: TaskTemplate) -> ITemplateDAG:
    helper = DAGBuilderHelper(app)
    return helper.generic_template(
        template_name=name, root_process=_process(app, name, root).build()
    )


def _quotes(app: Dagger, name: str, operator: TaskOperator, topic: str) -> ITemplateDAG:
    quotes = (
        ParallelCompositeTaskTemplateBuilder(app)
        .set_name("quotes")
        .add_parallel_task(_step(app, "quote_a"))
        .add_parallel_task(_step(app, "quote_b"))
        .add_parallel_task(_wait(app, "quote_wait", topic))
        .set_task_operator(operator)
        .set_next(_step(app, "chosen"))
        .build()
    )
    return _single_process_template(app, name, quotes)


def _combo(app: Dagger, topic_a: str, topic_b: str) -> ITemplateDAG:
    closing = _process(app, "closing", _wait(app, "close_wait", topic_b)).build()
    items = DynamicProcessTemplateDagBuilder(app).set_name("items").set_next_process(closing)
    items_template = items.build()
    # The worker builds an item process once, so the classes it uses are registered.
    items_template.set_dynamic_process_builders([item_process(app, 0)])
    fan = (
        ParallelCompositeProcessTemplateDagBuilder(app)
        .set_name("fan")
        .set_parallel_process_templates(
            [
                _process(app, "pack", _step(app, "pack_task")).build(),
                _process(app, "payment", _wait(app, "payment_wait", topic_a)).build(),
            ]
        )
        .set_parallel_operator_type(TaskOperator.JOIN_ALL)
        .set_next_process(items_template)
        .build()
    )
    route = _route(app, [_step(app, "fan_marker"), _step(app, "lean_marker")])
    intake = _process(app, "intake", _step(app, "start", route)).set_next_process(fan).build()
    return DAGBuilderHelper(app).generic_template(template_name="combo", root_process=intake)


def build_control_flow_templates(
    app: Dagger, topic_a: str, topic_b: str
) -> dict[str, ITemplateDAG]:
    """Build the workflows of this module on ``app``."""
    decision = _route(
        app, [_step(app, "express", _step(app, "express_label")), _step(app, "standard")]
    )
    return {
        "decision": _single_process_template(app, "decision", _step(app, "start", decision)),
        "join_all": _quotes(app, "join_all", TaskOperator.JOIN_ALL, topic_a),
        "atleast_one": _quotes(app, "atleast_one", TaskOperator.ATLEAST_ONE, topic_a),
        "combo": _combo(app, topic_a, topic_b),
    }
