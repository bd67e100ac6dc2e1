"""Starting an instance from a request (the intake topic, the HTTP API): a part of ``Dagger``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dagger.runtime._starts import StartRequest, check_partition_key
from dagger.tasks._base import ITemplateDAGInstance

if TYPE_CHECKING:
    from dagger.templates._workflow_templates import ITemplateDAG

__all__ = ["InstanceStarts"]


class InstanceStarts:
    """Creates and submits the instance a :class:`StartRequest` describes (``Dagger``'s)."""

    def get_template(self, template_name: str) -> ITemplateDAG:
        """The registered template ``template_name``; ``Dagger`` defines it."""
        raise NotImplementedError

    async def start_instance(self, request: StartRequest) -> ITemplateDAGInstance[Any, Any]:
        """Create and submit an instance, as ``create_instance(..., submit_task=True)`` does.

        Raises:
            TemplateDoesNotExist: no template of that name is registered.
            MissingPartitionKey: ``request.partition_key`` names no parameter.
        """
        template = self.get_template(request.template)
        check_partition_key(request)
        return await template.create_instance(
            request.instance_id, request.partition_key, submit_task=True, **request.params
        )
