"""The pizza workflow of the original README, registered on the example engine.

The engine is the one of :mod:`examples.orders.workflow`, so one worker runs both demos:
``dagger worker -A examples.pizza.workflow``. The tasks and the template are in
:mod:`examples.pizza.templates`.
"""

from __future__ import annotations

from dagger.service.services import Dagger
from dagger.templates.template import ITemplateDAG
from examples.orders.workflow import engine
from examples.pizza.templates import build_pizza_template

__all__ = ["engine"]


@Dagger.register_template("pizza")
def pizza_template(template_name: str) -> ITemplateDAG:
    return build_pizza_template(engine, template_name)
