"""The owner loop: applies engine-topic events to the instances of one worker's partitions.

Each partition's events are applied one at a time, in log order: decode the instance,
:func:`~dagger.core._step.step` it with the event, run the effects (user hooks, index
changes; what a hook returns and the intents it records are stepped in turn), then stage
the new state. Events come in batches: :meth:`InstanceOwner.end_batch` publishes one
update per instance a batch changed. The instances stay decoded from one event to the
next, and across batches (the latest :data:`DECODED_INSTANCES_KEPT`), until the worker's
partitions change.

The store is any mutable mapping. The worker gives a
:class:`~dagger.runtime._staging.StagedStore` over a faust table: its writes reach the
table only after the producer has flushed what the batch sent, so a stored state never
runs ahead of its effects. Tests and :class:`dagger.testing.LocalEngine` give a dict, with
one event per batch. A crash anywhere replays the batch; applied event ids make the replay
of an event whose state was stored a no-op, and an event whose state was not stored runs
its effects again, so they are at-least-once.
"""

from __future__ import annotations

import inspect
import logging
import time
import traceback
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from dagger.core import _codec as codec
from dagger.core import _undecodable as undecodable
from dagger.core._effects import (
    CancelTimer,
    Effect,
    InstanceFinished,
    Register,
    RunContainerHook,
    RunDecision,
    RunInterval,
    RunMessageHook,
    RunStopHook,
    RunTask,
    SetTimer,
    Unregister,
)
from dagger.core._events import (
    HookOutcome,
    IndexAdded,
    IndexRemoved,
    InstanceCreated,
    InstanceEvent,
    IntervalChecked,
    MessageDelivered,
    MessageHandled,
    ParametersUnserializable,
    TaskDecided,
    TaskFailed,
    TaskSucceeded,
    TimerFired,
)
from dagger.core._kinds.listener import registered_index_keys, released_index_keys
from dagger.core._step import Verdict, step
from dagger.exceptions.exceptions import UndecodableInstanceError
from dagger.runtime import _parameter_changes as parameter_changes
from dagger.runtime._dead_letter_writer import (
    ID_REUSED,
    ON_MESSAGE_RAISED,
    UNDECODABLE,
    DeadLetterWriter,
)
from dagger.runtime._keys_owner import KeysOwner, Sender
from dagger.runtime._lifecycle_log import log_instance_change
from dagger.runtime._log_limit import LogLimit
from dagger.runtime._partitioning import partition_for_index_key
from dagger.runtime._starts import created_conflict
from dagger.runtime._telemetry import (
    NO_TELEMETRY,
    Telemetry,
    report_dropped,
    report_transitions,
)
from dagger.runtime._timers import Clock, TimerIndex
from dagger.runtime._turns import Turns
from dagger.runtime._updates import UpdatePublisher
from dagger.tasks._base import IntervalTask, ITemplateDAGInstance
from dagger.tasks._hook_context import running_hook
from dagger.tasks._intents import Intent
from dagger.tasks._status import TERMINAL_STATUSES, CorreletableLookUpKey, TaskStatusEnum

if TYPE_CHECKING:
    from dagger.runtime._listing_index import ListingIndex

logger = logging.getLogger(__name__)

FinishedHook = Callable[[ITemplateDAGInstance[Any, Any]], Awaitable[None]]
"""Called when an event finishes an instance, before it is stored (``on.release``)."""

PayloadDecoder = Callable[[str, bytes], Any]
"""Decode a listener topic's message value: (topic, raw value) -> payload."""

_HOOK_EFFECTS = (RunTask, RunContainerHook, RunMessageHook, RunDecision, RunInterval, RunStopHook)
"""The effects that run a user hook; what it recorded and returned is stepped after it."""

MAX_TRACEBACK_CHARS = 8_192
"""The most of a failed hook's traceback stored on its task (the end is kept)."""

TOMBSTONE = b"{}"
"""Stored in place of an instance deleted on completion, so a replayed create stays dropped."""

DECODED_INSTANCES_KEPT = 10_000
"""How many decoded instances the owner keeps between batches, the latest used last.

An instance's events mostly come in different batches (each waits for a round trip
through the engine topic or a reply); kept decoded, the next one neither reads nor
decodes it. A 3-task instance costs about 10 KB decoded, so this bounds the cache near
100 MB. The cache is dropped when the worker's partitions change (the next owner may
change what it holds) and when a batch is abandoned. A worker with
``task_update_callbacks`` keeps none: a callback is given the instance itself and may keep
it, so a later batch must not change it. Nor are finished instances kept, nor those that
wait only for a timer due later than :data:`SOON_SECONDS`.
"""

SOON_SECONDS = 1.0
"""An instance waiting only for a timer due later than this is not kept decoded."""


class InstanceOwner:
    """Applies instance events to the instances in ``store``."""

    def __init__(
        self,
        store: MutableMapping[bytes, bytes],
        *,
        publisher: UpdatePublisher,
        delete_on_complete: bool,
        send: Sender,
        partitions: int,
        decode_payload: PayloadDecoder,
        dead_letters: DeadLetterWriter,
        timers: TimerIndex,
        keys: KeysOwner | None = None,
        clock: Clock = time.time,
        telemetry: Telemetry = NO_TELEMETRY,
        on_finished: FinishedHook | None = None,
        listing: ListingIndex | None = None,
        turns: Turns | None = None,
        decoded_kept: int = DECODED_INSTANCES_KEPT,
    ) -> None:
        self.instances = store
        self.listing = listing
        """The listing's index of ``store``, told of each write (None: not kept)."""
        self.turns = Turns() if turns is None else turns
        self._on_finished = on_finished
        self._keys = keys
        # Messages held for a listener an event registered, by instance: delivered right
        # after that event (other instances' events may apply while its hooks await).
        self._local: dict[str, deque[MessageDelivered]] = {}
        self._publisher = publisher
        self._delete_on_complete = delete_on_complete
        self._send = send
        self._partitions = partitions
        self._decode_payload = decode_payload
        self._dead_letters = dead_letters
        self._timers = timers
        self._clock = clock
        # The decoded instances of this batch and the latest of earlier ones, least
        # recently stored first; each is exactly what the store holds for its key.
        self._working: dict[bytes, ITemplateDAGInstance[Any, Any]] = {}
        self._decoded_kept = decoded_kept
        self._changed: dict[str, ITemplateDAGInstance[Any, Any]] = {}
        self._sent: set[str] = set()  # the changed ones whose update went to the producer
        self._telemetry = telemetry
        self._log = LogLimit(logger)

    def load(self, instance_id: str) -> ITemplateDAGInstance[Any, Any] | None:
        """Return the stored instance, or None if this worker does not hold it."""
        raw = self.instances.get(instance_id.encode())
        if raw is None or raw == TOMBSTONE:
            return None
        return undecodable.decode_stored(raw)

    async def send_updates(self) -> None:
        """Hand the update document of each instance the batch changed to the producer.

        The worker does this before the batch's sends are flushed and its writes stored:
        once an instance's new state is stored, its update is on the broker too. Sent
        after the store, a crash in between lost the update for good when the replayed
        events no longer reached the instance (a message whose listener had completed
        and left the index is held, not delivered, so nothing publishes it again).
        """
        for instance_id, instance in self._changed.items():
            if instance_id not in self._sent:
                await self._publisher.send(instance)
                self._sent.add(instance_id)

    async def end_batch(self) -> None:
        """Send (if not sent yet) and tell the callbacks of each changed instance once;
        keep the latest :data:`DECODED_INSTANCES_KEPT` decoded ones for the next batches
        (none when callbacks are given them)."""
        await self.send_updates()
        working = self._working
        if self._publisher.hands_out_instances:
            working.clear()  # a callback may keep the instance it is given: never change it
        else:
            now = self._clock()
            for instance_id, instance in self._changed.items():
                if not _next_event_may_come_soon(instance, now):
                    working.pop(instance_id.encode(), None)
        for _ in range(len(working) - self._decoded_kept):
            del working[next(iter(working))]
        changed, self._changed = self._changed, {}
        self._sent.clear()
        for instance in changed.values():
            await self._publisher.notify(instance)

    def forget_decoded(self) -> None:
        """Drop the decoded instances kept: the worker's partitions changed."""
        self._working.clear()

    def abandon_batch(self) -> None:
        """Forget the batch's decoded and changed instances: the batch will run again.

        Called once the store has dropped the batch's staged writes: the listing's index
        reads the changed instances' stored state again.
        """
        if self.listing is not None:
            for instance_id in self._changed:
                self.listing.reload(instance_id, self.instances.get(instance_id.encode()))
        self._working.clear()
        self._changed.clear()
        self._sent.clear()

    async def handle(self, event: InstanceEvent, partition: int) -> None:
        """Apply one instance event owned by ``partition``.

        Messages held for a listener this event registered on the instance's own partition
        are delivered right after it, before the partition's next record.
        """
        instance_id = event.instance_id
        async with self.turns.instance(instance_id):
            try:
                await self._apply(event, partition)
                local = self._local.get(instance_id)
                while local:
                    await self._apply(local.popleft(), partition)
            finally:
                self._local.pop(instance_id, None)  # left over only when an event raised

    async def _apply(self, event: InstanceEvent, partition: int) -> None:
        key = event.instance_id.encode()
        # Taken out while the event is applied: an event that raises half-way leaves the
        # stored state, not a half-changed copy, for the next one.
        instance = self._working.pop(key, None)
        stored = None if instance is not None else self.instances.get(key)
        if stored == TOMBSTONE:
            self._forget_timer(event)  # a deleted instance's timer left by a crash
            return
        if stored is not None:
            try:
                instance = undecodable.decode_stored(stored)
            except UndecodableInstanceError:
                if _owner_partition(stored) not in (partition, None):
                    return  # as step ignores an event read on a partition that does not own it
                # The worker dead-letters the event; the stored instance stays as it is,
                # for a reinjection once its class is back or aliased.
                raise
        before = None if instance is None else instance.status.code
        stepped = step(instance, event, self._clock(), partition=partition)
        if stepped.reason:
            self._log.log(stepped.drop, stepped.level, "%s", stepped.reason)
        if stepped.verdict is not Verdict.APPLIED or stepped.instance is None:
            self._forget_timer(event)
            dead_lettered = False
            if isinstance(event, InstanceCreated) and stepped.verdict is Verdict.IGNORED:
                dead_lettered = await self._refuse_reused_id(instance, event)
            if stepped.drop and not dead_lettered:
                report_dropped(self._telemetry, stepped.drop)
            if stepped.verdict is Verdict.REPLAYED and stepped.instance is not None:
                # A replay after a crash: the state is stored, but its changelog record and
                # its update may not have left the worker, so write and publish it again,
                # and make what is derived from it agree with it.
                await self._repair_derived_state(stepped.instance)
                self._store(key, stepped.instance, finished=False)
            return
        instance = stepped.instance
        if isinstance(event, TimerFired):
            self._telemetry.timer_fired(instance, event, self._clock())
        finished = await self._run_effects(instance, stepped.effects)
        if finished is None:
            return  # the message's hook failed: the event changes nothing
        raw: bytes | None = None
        if not (finished and self._delete_on_complete):  # a deleted one is not encoded
            encoded = _encoded(instance)
            if isinstance(encoded, Exception):
                finished = await self._fail_unencodable(instance, encoded) or finished
                encoded = codec.encode(instance)
            raw = encoded
        if finished and self._on_finished is not None:
            await self._on_finished(instance)  # what it sends is flushed before the store
        self._store(key, instance, finished, raw)
        log_instance_change(before, instance, event)
        report_transitions(self._telemetry, instance)

    async def _refuse_reused_id(
        self, existing: ITemplateDAGInstance[Any, Any] | None, event: InstanceCreated
    ) -> bool:
        """A ``created`` event for an id in use: dead-letter it unless it is a repeat.

        Returns whether it was dead-lettered.
        """
        if existing is None:
            return False
        conflict = created_conflict(existing, event.document)
        if conflict is None:
            return False
        origin = {"instance_id": existing.id, "event_id": event.event_id}
        value = codec.dumps(event.document)
        await self._dead_letters.publish(ID_REUSED, ValueError(conflict), origin, value)
        return True

    async def _fail_unencodable(
        self, instance: ITemplateDAGInstance[Any, Any], error: Exception
    ) -> bool:
        """A hook left a runtime parameter JSON cannot hold: fail the instance.

        It ends like any failed workflow (what runs in it is stopped, and those stop
        hooks run); the values are kept as printable copies. Returns whether it finished.
        """
        failed = step(instance, ParametersUnserializable(str(error)), self._clock())
        finished = bool(await self._run_effects(instance, failed.effects))
        if isinstance(_encoded(instance), Exception):  # a stop hook left one too
            step(instance, ParametersUnserializable(str(error)), self._clock())
        return finished

    def _forget_timer(self, event: InstanceEvent) -> None:
        """Drop the stored record of a timer event that changes nothing (stale or replayed)."""
        if isinstance(event, TimerFired):
            self._timers.cancel_if_due_at(event.instance_id, event.task_id, event.due)

    async def _on_message(
        self, instance: ITemplateDAGInstance[Any, Any], event: MessageDelivered
    ) -> MessageHandled | None:
        """Run the listener's ``on_message``; None when the message went to the dead letters."""
        try:
            payload = self._decode_payload(event.topic, event.payload)
        except Exception as exc:
            await self._dead_letters.publish(
                UNDECODABLE, exc, event.origin, event.payload, instance_id=instance.id
            )
            return None
        task = instance.get_task(event.task_id)
        try:
            with (
                running_hook(instance),
                self._telemetry.message_handled(instance, task, event),
                parameter_changes.recorded(instance.runtime_parameters, task),
            ):
                completed = await self.turns.hook(
                    task.on_message(instance.runtime_parameters, payload)
                )
        except Exception as exc:
            await self._dead_letters.publish(
                ON_MESSAGE_RAISED, exc, event.origin, event.payload, instance_id=instance.id
            )
            return None
        return MessageHandled(event.task_id, bool(completed))

    async def _run_effects(
        self, instance: ITemplateDAGInstance[Any, Any], effects: list[Effect]
    ) -> bool | None:
        """Carry out ``effects`` and those they lead to; whether the instance finished.

        None when a listener's hook failed: the event is dropped, nothing is stored.
        """
        queue = deque(effects)
        finished = False
        while queue:
            effect = queue.popleft()
            if isinstance(effect, InstanceFinished):
                finished = True
            elif isinstance(effect, _HOOK_EFFECTS):
                ran, outcome = await self._run_hook(instance, effect)
                if not ran:
                    continue
                if isinstance(effect, RunMessageHook) and outcome is None:
                    return None
                queue.extend(self._after_hook(instance, outcome))
            elif isinstance(effect, SetTimer):
                self._timers.schedule(
                    instance.owner_partition, instance.id, effect.task_id, effect.due
                )
            elif isinstance(effect, CancelTimer):
                self._timers.cancel(instance.id, effect.task_id)
            elif isinstance(effect, Register):
                await self._register(instance, effect)
            elif isinstance(effect, Unregister):
                await self._unregister(instance, effect)
        return finished

    async def _run_hook(
        self, instance: ITemplateDAGInstance[Any, Any], effect: Effect
    ) -> tuple[bool, HookOutcome | None]:
        """Run the user hook ``effect`` asks for: whether it ran, and what it returned."""
        if isinstance(effect, RunTask | RunContainerHook):
            if instance.get_task(effect.task_id).status.code != TaskStatusEnum.EXECUTING:
                return False, None  # stopped or failed by an effect before it
            executed = await self._execute(instance, effect.task_id)
            if isinstance(effect, RunTask) or isinstance(executed, TaskFailed):
                return True, executed
            return True, None  # a container's hook that returned: it runs on
        if isinstance(effect, RunMessageHook):
            return True, await self._on_message(instance, effect.message)
        if isinstance(effect, RunDecision):
            return True, await self._evaluate(instance, effect.task_id)
        if isinstance(effect, RunInterval):
            done = await self._interval_execute(instance, effect.task_id)
            return True, IntervalChecked(effect.task_id, done)
        assert isinstance(effect, RunStopHook)
        await self._stop_hook(instance, effect.task_id)
        return True, None

    def _after_hook(
        self, instance: ITemplateDAGInstance[Any, Any], outcome: HookOutcome | None
    ) -> list[Effect]:
        """Step the intents a hook recorded, in order, then its ``outcome``."""
        inputs: list[Intent | HookOutcome] = list(instance.take_intents())
        if outcome is not None:
            inputs.append(outcome)
        effects: list[Effect] = []
        for given in inputs:
            effects.extend(step(instance, given, self._clock()).effects)
        return effects

    def _held_for(self, instance: ITemplateDAGInstance[Any, Any]) -> deque[MessageDelivered]:
        """The held messages to deliver to ``instance`` after the event being applied."""
        return self._local.setdefault(instance.id, deque())

    def _own_keys(
        self, instance: ITemplateDAGInstance[Any, Any], index_key: str
    ) -> KeysOwner | None:
        """The keys owner, if ``index_key`` belongs to the instance's own partition."""
        if self._keys is None:
            return None
        if partition_for_index_key(index_key, self._partitions) != instance.owner_partition:
            return None
        return self._keys

    async def _register(self, instance: ITemplateDAGInstance[Any, Any], effect: Register) -> None:
        lookup = _lookup(instance, effect.task_id)
        keys = self._own_keys(instance, effect.index_key)
        if keys is not None:
            # Written beside the instance, in the same batch: no index event to send.
            self._held_for(instance).extend(keys.register(effect.index_key, lookup))
            return
        await self._send(
            IndexAdded(
                str(uuid.uuid4()),
                effect.index_key,
                instance.id,
                effect.task_id,
                instance.owner_partition,
            ),
            effect.index_key,
            partition_for_index_key(effect.index_key, self._partitions),
        )

    async def _unregister(
        self, instance: ITemplateDAGInstance[Any, Any], effect: Unregister
    ) -> None:
        keys = self._own_keys(instance, effect.index_key)
        if keys is not None:
            keys.remove(effect.index_key, instance.id, effect.task_id)
            return
        await self._send(
            IndexRemoved(str(uuid.uuid4()), effect.index_key, instance.id, effect.task_id),
            effect.index_key,
            partition_for_index_key(effect.index_key, self._partitions),
        )

    async def _repair_derived_state(self, instance: ITemplateDAGInstance[Any, Any]) -> None:
        """Make the index entries and timers of ``instance`` agree with it again.

        A batch writes the index and the timers before the instance, and the held
        messages after it (``COMMIT_RANKS``); and each table has its own changelog, whose
        record can be lost where the instance's reached the broker. So a replayed event,
        which finds the instance stored, writes again the index entries of its waiting
        listeners (taking what is held for them) and its pending timers, removes what
        waits no more, and sends the ``index_add``/``index_remove`` events of the keys of
        other partitions again. Each of these changes nothing when it is done already.
        """
        for task_id, key in registered_index_keys(instance):
            keys = self._own_keys(instance, key)
            if keys is not None:
                self._held_for(instance).extend(keys.register(key, _lookup(instance, task_id)))
            else:
                await self._register(instance, Register(task_id, key))
        for task_id, key in released_index_keys(instance):
            keys = self._own_keys(instance, key)
            if keys is not None:
                keys.remove(key, instance.id, task_id)
            else:
                await self._unregister(instance, Unregister(task_id, key))
        for task in instance.tasks.values():
            if task.timer_due is not None:
                self._timers.schedule(
                    instance.owner_partition, instance.id, task.id, task.timer_due
                )
            else:
                self._timers.cancel(instance.id, task.id)

    async def _interval_execute(
        self, instance: ITemplateDAGInstance[Any, Any], task_id: str
    ) -> bool:
        task = instance.get_task(task_id)
        if not isinstance(task, IntervalTask):
            return True
        try:
            with (
                running_hook(instance),
                self._telemetry.task_execution(instance, task, "interval_execute"),
            ):
                done = await self.turns.hook(task.interval_execute(instance.runtime_parameters))
        except Exception as exc:
            logger.warning(
                "interval_execute of %s (%s) of instance %s raised %s: %s; trying again later",
                task.task_name,
                task.id,
                instance.id,
                type(exc).__name__,
                exc,
            )
            return False
        return bool(done)

    async def _evaluate(
        self, instance: ITemplateDAGInstance[Any, Any], task_id: str
    ) -> TaskDecided | TaskFailed:
        task = instance.get_task(task_id)
        try:
            with (
                running_hook(instance),
                self._telemetry.task_execution(instance, task, "evaluate"),
            ):
                chosen = await self.turns.hook(task.evaluate(**instance.runtime_parameters))
        except Exception as exc:
            return _hook_failed("evaluate", instance, task_id, exc)
        return TaskDecided(task.id, None if chosen is None else str(chosen))

    async def _stop_hook(self, instance: ITemplateDAGInstance[Any, Any], task_id: str) -> None:
        """Run a stopped task's ``stop`` hook; what it raises is logged, the stop stands."""
        task = instance.get_task(task_id)
        try:
            with running_hook(instance):
                stop: Callable[..., Awaitable[None]] = task.stop
                if takes_no_arguments(stop):
                    await self.turns.hook(stop())  # the original's docs: `async def stop(self)`
                else:
                    await self.turns.hook(stop(instance.runtime_parameters, instance))
        except Exception as exc:
            _log_hook_error("stop", instance, task_id, exc)

    async def _execute(
        self, instance: ITemplateDAGInstance[Any, Any], task_id: str
    ) -> TaskSucceeded | TaskFailed:
        task = instance.get_task(task_id)
        try:
            with (
                running_hook(instance),
                self._telemetry.task_execution(instance, task, "execute"),
                parameter_changes.recorded(instance.runtime_parameters, task),
            ):
                await self.turns.hook(
                    task.execute(
                        runtime_parameters=instance.runtime_parameters,
                        workflow_instance=instance,
                    )
                )
        except Exception as exc:
            return _hook_failed("execute", instance, task_id, exc)
        return TaskSucceeded(task.id)

    def _store(
        self,
        key: bytes,
        instance: ITemplateDAGInstance[Any, Any],
        finished: bool,
        raw: bytes | None = None,
    ) -> None:
        """Stage ``instance`` (its encoding ``raw``, when made already) for the batch."""
        self._changed[instance.id] = instance
        if finished and self._delete_on_complete:
            self.instances[key] = TOMBSTONE
            if self.listing is not None:
                self.listing.deleted(instance)
            return
        self._working[key] = instance
        if raw is None:
            raw = codec.encode(instance)
        self.instances[key] = raw
        if self.listing is not None:
            self.listing.stored(instance, raw)


def _next_event_may_come_soon(instance: ITemplateDAGInstance[Any, Any], now: float) -> bool:
    """Whether ``instance`` is worth keeping decoded for its next event.

    Not a finished one, nor one that waits only for a timer due later than
    :data:`SOON_SECONDS` (a trigger due in a minute): kept, they would only add to the
    heap. A listener waiting, or no timer at all (a command's reply, a submission to
    come), may bring its event any moment.
    """
    if instance.status.code in TERMINAL_STATUSES:
        return False
    due = min(
        (task.timer_due for task in instance.tasks.values() if task.timer_due is not None),
        default=None,
    )
    if due is None or due - now <= SOON_SECONDS:
        return True
    return bool(registered_index_keys(instance))


def _encoded(instance: ITemplateDAGInstance[Any, Any]) -> bytes | TypeError | ValueError:
    """The stored form of ``instance``, or why JSON cannot hold its runtime parameters."""
    try:
        return codec.encode(instance)
    except (TypeError, ValueError) as exc:
        return exc


def _owner_partition(stored: bytes) -> int | None:
    """The owner partition a stored instance that cannot be decoded names, if it reads."""
    try:
        partition = undecodable.readable_fields(stored)["owner_partition"]
    except undecodable.DECODE_ERRORS:
        return None
    return partition if isinstance(partition, int) else None


def _lookup(instance: ITemplateDAGInstance[Any, Any], task_id: str) -> CorreletableLookUpKey:
    """The index entry of the listener ``task_id`` of ``instance``."""
    return CorreletableLookUpKey(
        workflow_id=instance.id, task_id=task_id, owner_partition=instance.owner_partition
    )


def _log_hook_error(
    hook: str, instance: ITemplateDAGInstance[Any, Any], task_id: str, exc: Exception
) -> None:
    """Log what a hook raised at ERROR, with its traceback."""
    task = instance.get_task(task_id)
    logger.error(
        "%s of task %s (%s) of instance %s raised %s: %s",
        hook,
        task.task_name,
        task.id,
        instance.id,
        type(exc).__name__,
        exc,
        exc_info=exc,
    )


def _hook_failed(
    hook: str, instance: ITemplateDAGInstance[Any, Any], task_id: str, exc: Exception
) -> TaskFailed:
    """What a hook that raised ``exc`` means: logged, with its bounded traceback."""
    _log_hook_error(hook, instance, task_id, exc)
    formatted = "".join(traceback.format_exception(exc))
    if len(formatted) > MAX_TRACEBACK_CHARS:  # the end says where it was raised
        formatted = "...\n" + formatted[-MAX_TRACEBACK_CHARS:]
    lineage = tuple(cls.__name__ for cls in type(exc).__mro__ if cls is not object)
    return TaskFailed(task_id, type(exc).__name__, str(exc), formatted, lineage)


def takes_no_arguments(method: Callable[..., Any]) -> bool:
    """True when the bound ``method`` has no positional parameter to take arguments."""
    try:
        parameters = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.VAR_POSITIONAL,
    )
    return not any(parameter.kind in positional for parameter in parameters)
