"""Creating, submitting, stopping, retrying and rerunning instances: half of ``Dagger``.

Each of these is an event sent to the engine topic's partition that owns the instance;
the owner applies it. While a :class:`dagger.testing.LocalEngine` runs, the events go to
it instead of Kafka.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import faust

from dagger.core import _rerun as rerun
from dagger.core import _retry as retry
from dagger.core._codec import to_document
from dagger.core._events import (
    InstanceCreated,
    InstanceSubmitted,
    LogEvent,
    RerunRequested,
    RetryRequested,
    StopRequested,
)
from dagger.exceptions.exceptions import DaggerError, TaskInvalidState
from dagger.runtime._engine import EngineRuntime
from dagger.runtime._keys_owner import KeysOwner
from dagger.runtime._owner import InstanceOwner
from dagger.runtime._partitioning import partition_for_key
from dagger.runtime._settings import EngineSettings
from dagger.tasks._base import ITask, ITemplateDAGInstance
from dagger.tasks._status import TaskStatus, TaskStatusEnum

__all__ = ["InstanceLifecycle", "LocalSink"]

logger = logging.getLogger(__name__)

LocalSink = Callable[[LogEvent, int], Awaitable[None]]
"""Where events go instead of Kafka while a :class:`dagger.testing.LocalEngine` runs."""


class InstanceLifecycle:
    """The instance lifecycle API of the engine (a part of ``Dagger``)."""

    settings: EngineSettings
    faust_app: Any
    tasks_topic: Any
    _runtime: EngineRuntime
    _declared: bool
    _local_sink: LocalSink | None

    def _owners(self) -> tuple[InstanceOwner, KeysOwner]:
        """The owners this process reads; ``Dagger`` defines it."""
        raise NotImplementedError

    # -- instances --------------------------------------------------------------------
    async def get_instance(self, id: Any, log: bool = True) -> ITask[Any, Any] | None:
        """Return the instance ``id`` if this worker holds it, else None."""
        instance = self._owners()[0].load(str(id))
        if instance is None and log:
            logger.debug("instance %s is not held by this worker", id)
        return instance

    async def submit(self, task: ITask[Any, Any], *, repartition: bool = True) -> None:
        """Start ``task``, a workflow instance, on the worker that owns it.

        The submission is an event on the instance's owner partition, chosen when the
        instance was created (by key with ``repartition=True``, on this worker otherwise),
        so ``repartition`` only matters for instances this engine did not create.
        """
        if not isinstance(task, ITemplateDAGInstance):
            raise TypeError(f"submit() takes a workflow instance, got {type(task).__name__}")
        partition = self._owner_partition(task, repartition)
        event = InstanceSubmitted(event_id=str(uuid.uuid4()), instance_id=task.id)
        await self._send(event, task.partition_key, partition)
        if task.status.code == TaskStatusEnum.NOT_STARTED.name:
            task.status = TaskStatus.of(TaskStatusEnum.SUBMITTED)

    async def stop_instance(self, instance: Any, *, task_id: str | None = None) -> None:
        """Stop a workflow instance (or only ``task_id`` in it), given it or its id.

        Every unfinished task becomes STOPPED, the ``stop`` hooks of executing tasks run,
        and their timers and correlation entries are removed. The stop is an event applied
        by the worker that owns the instance: given the instance, it goes to that worker's
        partition; given only an id, it goes to every partition and the owner applies it.
        Stopping a finished instance changes nothing.
        """
        instance_id, key, partitions = self._event_targets(instance, "stop_instance")
        for partition in partitions:
            await self._send(StopRequested(str(uuid.uuid4()), instance_id, task_id), key, partition)

    async def retry_instance(self, instance: Any) -> None:
        """Run a FAILURE workflow instance again from its failed task(s), given it or its id.

        What had completed does not run again (see :mod:`dagger.core._retry`). Like a stop,
        the retry is an event applied by the owner, which ignores it, with a warning, for
        an instance that is not FAILURE. Given an instance that cannot be retried, raises
        TaskInvalidState saying why.
        """
        if isinstance(instance, ITemplateDAGInstance):
            refused = retry.refusal(instance)
            if refused is not None:
                raise TaskInvalidState(refused, task_id=instance.id)
        instance_id, key, partitions = self._event_targets(instance, "retry_instance")
        for partition in partitions:
            await self._send(RetryRequested(str(uuid.uuid4()), instance_id), key, partition)

    async def rerun_instance(
        self, instance: Any, node: str, parameters: dict[str, Any] | None = None
    ) -> None:
        """Run a finished instance again from ``node``, given it or its id.

        ``node`` is a task's (or process's) id or unique name; it and what depends on it
        run again, with ``parameters`` merged into the runtime parameters first, while
        the rest keeps its results (see :mod:`dagger.core._rerun`). The rerun is an event
        applied by the owner, which ignores it, with a warning, when it cannot be done.
        Given an instance that cannot be rerun so, raises TaskInvalidState saying why.
        """
        if not isinstance(node, str) or not node:
            raise ValueError("rerun_instance() needs the id or name of the node to rerun from")
        parameters = dict(parameters or {})
        if isinstance(instance, ITemplateDAGInstance):
            refused = rerun.refusal(instance, node, parameters)
            if refused is not None:
                raise TaskInvalidState(refused, task_id=instance.id)
        instance_id, key, partitions = self._event_targets(instance, "rerun_instance")
        for partition in partitions:
            event = RerunRequested(str(uuid.uuid4()), instance_id, node, parameters)
            await self._send(event, key, partition)

    def _event_targets(self, instance: Any, method: str) -> tuple[str, str, list[int]]:
        """The id, record key and partitions of an event for ``instance`` (or an id)."""
        if isinstance(instance, ITemplateDAGInstance):
            partition = self._owner_partition(instance, repartition=True)
            return instance.id, instance.partition_key, [partition]
        if instance is None or str(instance) == "":
            raise ValueError(f"{method}() needs a workflow instance or its id")
        return str(instance), str(instance), list(range(self.settings.kafka_partitions))

    def _owner_partition(self, instance: ITemplateDAGInstance[Any, Any], repartition: bool) -> int:
        """The partition that owns ``instance``, chosen (and kept) when it has none yet."""
        if instance.owner_partition < 0:
            instance.owner_partition = self._choose_partition(instance.partition_key, repartition)
        return instance.owner_partition

    async def _send_new_instance(
        self, instance: ITemplateDAGInstance[Any, Any], *, repartition: bool, submit: bool
    ) -> None:
        """Send a new instance to its owner; with ``submit`` it starts once stored."""
        key = instance.partition_key
        instance.owner_partition = self._choose_partition(key, repartition)
        self.settings.telemetry.instance_created(instance)
        event = InstanceCreated(
            event_id=str(uuid.uuid4()),
            instance_id=instance.id,
            document=to_document(instance),
            submit=submit,
        )
        await self._send(event, key, instance.owner_partition)
        if submit:
            instance.status = TaskStatus.of(TaskStatusEnum.SUBMITTED)

    async def _send(self, event: LogEvent, key: str, partition: int) -> None:
        if self._local_sink is not None:
            await self._local_sink(event, partition)
            return
        if not self._declared:
            self.settings.require_broker(f"sending {type(event).__name__} to the engine topic")
            await self.faust_app.maybe_start_producer()
            await self.tasks_topic.maybe_declare()
            self._declared = True
        # Inside an agent the event is buffered: faust flushes it before it commits the
        # record being handled. Elsewhere (a web handler, a script) nothing would.
        await self._runtime.send(
            event, key=key, partition=partition, wait=faust.current_event() is None
        )

    def _choose_partition(self, key: str, repartition: bool) -> int:
        """The owner partition of a new instance keyed ``key``.

        With ``repartition=False`` inside an agent, it is the partition of the record being
        handled (modulo the engine's partitions): a record read again after a crash or a
        rebalance picks the same partition, whose owner then finds the instance it already
        created, whatever this worker owns by then. Elsewhere it is the key's partition.
        """
        partitions = self.settings.kafka_partitions
        if repartition or self._local_sink is not None:
            return partition_for_key(key, partitions)
        event = faust.current_event()
        if event is not None:
            partition: int = event.message.partition
            return partition % partitions
        if not self._runtime.owned_partitions():
            raise DaggerError(
                "repartition=False creates the instance on a partition this worker owns, "
                "and this process owns none (is it running as a worker?); use repartition=True"
            )
        return partition_for_key(key, partitions)
