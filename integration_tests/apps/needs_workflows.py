"""A graph of needs the integration tests drive, built on any engine.

``diamond``: process ``start`` (the step ``a``), then ``left`` (the listener
``left_wait`` on topic A) and ``right`` (the listener ``right_wait`` on topic B), both
needing ``start``, then ``join`` (the step ``d``) needing both. Steps record themselves in
``ran`` and fail when the parameter ``fail`` names them (see ``control_flow_workflows``).
"""

from __future__ import annotations

from typing import Any

from dagger.modeler.definition import DefaultTemplateBuilder, ProcessTemplateDagBuilder
from dagger.service.services import Dagger
from dagger.templates.template import (
    DefaultTaskTemplateBuilder,
    ITemplateDAG,
    KafkaListenerTaskTemplateBuilder,
    TaskTemplate,
)
from integration_tests.apps.control_flow_workflows import RefWait, Step


def _process(app: Dagger, name: str, root: TaskTemplate, needs: list[str]) -> Any:
    builder = ProcessTemplateDagBuilder(app).set_name(name).set_root_task(root)
    return builder.set_needs(needs).build()


def _wait(app: Dagger, name: str, topic: str) -> TaskTemplate:
    builder = KafkaListenerTaskTemplateBuilder(app).set_name(name).set_type(RefWait)
    return builder.set_topic(Dagger.create_topic(topic, value_serializer="json")).build()


def _step(app: Dagger, name: str) -> TaskTemplate:
    return DefaultTaskTemplateBuilder(app).set_name(name).set_type(Step).build()


def build_needs_templates(app: Dagger, topic_a: str, topic_b: str) -> dict[str, ITemplateDAG]:
    """The ``diamond`` template, its listeners on ``topic_a`` and ``topic_b``."""
    diamond = (
        DefaultTemplateBuilder(app)
        .set_name("diamond")
        .set_root(_process(app, "start", _step(app, "a"), []))
        .add_process(_process(app, "left", _wait(app, "left_wait", topic_a), ["start"]))
        .add_process(_process(app, "right", _wait(app, "right_wait", topic_b), ["start"]))
        .add_process(_process(app, "join", _step(app, "d"), ["left", "right"]))
        .build()
    )
    return {"diamond": diamond}
