"""``on.release``: a workflow started when an instance of another one completes.

The owner of the upstream instance starts the downstream one in the batch that completes
it: its ``created`` event is sent, and flushed, before the completed state is stored, so a
crash before the commit applies the completing event again and sends it again. The
downstream id is derived from the upstream instance and the downstream workflow
(:func:`triggered_id`), and an owner takes a repeated ``created`` of the same id,
template and params as a no-op: one upstream instance starts each downstream once.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from dagger.runtime._starts import InstanceStarter, StartRequest
from dagger.tasks._base import ITemplateDAGInstance
from dagger.tasks._status import TaskStatusEnum

logger = logging.getLogger(__name__)

__all__ = ["ReleaseTriggers", "triggered_id"]

_NAMESPACE = uuid.UUID("7a4e2c90-1b3d-4f58-a6e2-93d0c5b1f847")


def triggered_id(workflow: str, upstream_id: str) -> str:
    """The id of the instance of ``workflow`` that upstream instance ``upstream_id`` starts."""
    return str(uuid.uuid5(_NAMESPACE, f"{workflow}<-{upstream_id}"))


class ReleaseTriggers:
    """Starts the workflows released by the completion of another's instances."""

    def __init__(self, after: Mapping[str, Sequence[str]], starter: InstanceStarter | None) -> None:
        self._after = after
        self._starter = starter

    async def finished(self, instance: ITemplateDAGInstance[Any, Any]) -> None:
        """Start what ``instance`` releases, if it completed (a failure releases nothing)."""
        if instance.status.code != TaskStatusEnum.COMPLETED or self._starter is None:
            return
        for downstream in self._after.get(instance.template_name, ()):
            request = StartRequest(downstream, triggered_id(downstream, instance.id))
            try:
                await self._starter.start_instance(request)
            except Exception:
                logger.exception(
                    "could not start %s released by instance %s of %s",
                    downstream,
                    instance.id,
                    instance.template_name,
                )
