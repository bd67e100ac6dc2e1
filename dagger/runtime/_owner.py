"""The owner loop: applies engine-topic events to the instances of one worker's partitions.

Each partition's events are applied one at a time, in log order: decode the instance,
apply the event with the pure core, run the effects (user hooks), store the new state,
then publish the update. The store is any mutable mapping: the worker gives a faust table
(whose changelog faust flushes before it commits the offset), tests and
:class:`dagger.testing.LocalEngine` give a dict. A crash anywhere replays the event;
applied event ids make the replay a no-op, and effects run before the store, so they are
at-least-once.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import MutableMapping
from typing import Any

from dagger.core import _codec as codec
from dagger.core import _machine as machine
from dagger.core._effects import Effect, InstanceFinished, RunTask
from dagger.core._events import InstanceCreated, TaskFailed, TaskSucceeded
from dagger.core._wire import decode_event
from dagger.runtime._updates import UpdatePublisher
from dagger.tasks._base import ITemplateDAGInstance
from dagger.tasks._status import TaskStatus, TaskStatusEnum

logger = logging.getLogger(__name__)

_NOT_YET_STARTED = frozenset({TaskStatusEnum.NOT_STARTED.name, TaskStatusEnum.SUBMITTED.name})

TOMBSTONE = b"{}"
"""Stored in place of an instance deleted on completion, so a replayed create stays dropped."""


class InstanceOwner:
    """Applies engine-topic records to the instances in ``store``."""

    def __init__(
        self,
        store: MutableMapping[bytes, bytes],
        *,
        publisher: UpdatePublisher,
        delete_on_complete: bool,
    ) -> None:
        self.instances = store
        self._publisher = publisher
        self._delete_on_complete = delete_on_complete

    # -- reading -----------------------------------------------------------------------
    def load(self, instance_id: str) -> ITemplateDAGInstance[Any, Any] | None:
        """Return the stored instance, or None if this worker does not hold it."""
        raw = self.instances.get(instance_id.encode())
        if raw is None or raw == TOMBSTONE:
            return None
        return codec.decode(raw)

    async def handle(self, raw: bytes, partition: int) -> None:
        """Apply one engine-topic record owned by ``partition``."""
        log_event = decode_event(raw)
        key = log_event.instance_id.encode()
        stored = self.instances.get(key)
        if stored == TOMBSTONE:
            return
        if stored is not None:
            instance = codec.decode(stored)
            if log_event.event_id in instance.applied_events:
                # A replay after a crash: the change is stored, but its update may not
                # have been published before the crash, so publish it again.
                await self._publisher.publish(instance)
                return
        if isinstance(log_event, InstanceCreated):
            if stored is not None:
                logger.warning(
                    "instance %s already exists; create event dropped", log_event.instance_id
                )
                return
            instance = codec.from_document(log_event.document)
            instance.owner_partition = partition
            machine.remember_event(instance, log_event.event_id)
            effects = machine.submit(instance) if log_event.submit else []
        else:
            if stored is None:
                logger.warning("submit for unknown instance %s dropped", log_event.instance_id)
                return
            if instance.status.code not in _NOT_YET_STARTED:
                logger.info(
                    "instance %s is already %s; submit ignored", instance.id, instance.status.code
                )
                return
            effects = machine.apply(instance, log_event)
        finished = await self._run_effects(instance, effects)
        self._store(key, instance, finished)
        await self._publisher.publish(instance)

    async def _run_effects(
        self, instance: ITemplateDAGInstance[Any, Any], effects: list[Effect]
    ) -> bool:
        queue = deque(effects)
        finished = False
        while queue:
            effect = queue.popleft()
            if isinstance(effect, InstanceFinished):
                finished = True
                continue
            if isinstance(effect, RunTask):
                outcome = await self._execute(instance, effect.task_id)
                queue.extend(instance.take_deferred_effects())
                queue.extend(machine.apply(instance, outcome))
        return finished

    async def _execute(
        self, instance: ITemplateDAGInstance[Any, Any], task_id: str
    ) -> TaskSucceeded | TaskFailed:
        task = instance.get_task(task_id)
        try:
            await task.execute(
                runtime_parameters=instance.runtime_parameters, workflow_instance=instance
            )
        except Exception as exc:
            logger.warning(
                "task %s (%s) of instance %s failed: %s: %s",
                task.task_name,
                task.id,
                instance.id,
                type(exc).__name__,
                exc,
            )
            return TaskFailed(task.id, type(exc).__name__, str(exc))
        return TaskSucceeded(task.id)

    def _store(self, key: bytes, instance: ITemplateDAGInstance[Any, Any], finished: bool) -> None:
        if finished and self._delete_on_complete:
            self.instances[key] = TOMBSTONE
            return
        try:
            raw = codec.encode(instance)
        except (TypeError, ValueError) as exc:
            instance.status = TaskStatus.of(TaskStatusEnum.FAILURE)
            instance.error_type = "UnserializableRuntimeParameters"
            instance.error_message = f"runtime parameters are not JSON: {exc}"
            instance.runtime_parameters = {
                name: value if _is_plain(value) else repr(value)
                for name, value in instance.runtime_parameters.items()
            }
            raw = codec.encode(instance)
        self.instances[key] = raw


def _is_plain(value: Any) -> bool:
    try:
        codec.dumps(value)
    except (TypeError, ValueError):
        return False
    return True
