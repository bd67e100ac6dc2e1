"""Putting the owners of a worker's partitions together over a set of stores.

The worker gives faust tables and an engine-topic sender; ``dagger.testing.LocalEngine``
gives dicts and an in-memory queue. Both run the same owners.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dagger.core import _undecodable as undecodable
from dagger.runtime._dead_letter_writer import DeadLetterWriter
from dagger.runtime._dispatch import EventDispatcher
from dagger.runtime._held import HeldLimits
from dagger.runtime._keys_owner import KeysOwner, Sender
from dagger.runtime._listeners import DEFAULT_MAX_RECORD_BYTES, ListenerIntake
from dagger.runtime._listing_index import ListingIndex
from dagger.runtime._owner import TOMBSTONE, InstanceOwner
from dagger.runtime._release_triggers import ReleaseTriggers
from dagger.runtime._schedules import Schedule, ScheduleOwner
from dagger.runtime._timers import Clock, TimerIndex
from dagger.runtime._turns import Turns
from dagger.runtime._updates import UpdatePublisher

if TYPE_CHECKING:
    from dagger.runtime._settings import EngineSettings
    from dagger.runtime._starts import InstanceStarter

Store = MutableMapping[bytes, bytes]

COMMIT_RANKS = {
    "index": 0,
    "timers": 0,
    "instances": 1,
    "schedules": 1,
    "releases": 1,
    "held": 2,
}
"""The order in which a batch's writes reach the tables (a crash can stop it anywhere).

The index and the timers go first: they are derived from the instances, so a crash that
stops the commit before an instance is written leaves the instance as it was, and its
event, applied again, writes them again (an entry or a timer written twice changes
nothing). A schedule's state and its audit are written with the instances: the releases
they record were sent (and flushed) before any write. The held messages go last: a
message held or handed to a listener is stored
only once the instance that took it is, so a replayed event never finds messages held
after it (nor misses messages taken before the crash).
"""


@dataclass
class Owners:
    """What applies the engine topic's events, and what takes in listener messages."""

    instance_owner: InstanceOwner
    keys: KeysOwner
    listeners: ListenerIntake
    dispatcher: EventDispatcher
    timers: TimerIndex
    schedules: ScheduleOwner


def assemble_owners(
    *,
    settings: EngineSettings,
    instances: Store,
    index: Store,
    held: Store,
    timers: Store,
    send: Sender,
    publisher: UpdatePublisher,
    dead_letters: DeadLetterWriter,
    serializers: Any,
    clock: Clock,
    schedule_state: Store | None = None,
    releases: Store | None = None,
    schedules: Mapping[str, Schedule] | None = None,
    starter: InstanceStarter | None = None,
    released_after: Mapping[str, Sequence[str]] | None = None,
) -> Owners:
    """Build the owners over the given stores."""
    partitions = settings.kafka_partitions
    dead_letters.observe(settings.telemetry)
    listeners = ListenerIntake(
        serializers=serializers,
        send=send,
        partitions=partitions,
        dead_letters=dead_letters,
        message_id_header=settings.message_id_header,
        telemetry=settings.telemetry,
        max_record_bytes=int(
            settings.faust_settings.get("producer_max_request_size", DEFAULT_MAX_RECORD_BYTES)
        ),
    )
    keys = KeysOwner(
        index,
        held,
        send=send,
        chunk_size=settings.max_correletable_keys_in_values,
        early_message_window=settings.early_message_window,
        clock=clock,
        partitions=partitions,
        held_limits=HeldLimits(
            messages_per_partition=settings.max_held_messages,
            bytes_per_partition=settings.max_held_bytes,
        ),
        dead_letters=dead_letters,
        telemetry=settings.telemetry,
    )
    timer_index = TimerIndex(timers)
    owner = InstanceOwner(
        instances,
        publisher=publisher,
        delete_on_complete=settings.delete_workflow_on_complete,
        send=send,
        partitions=partitions,
        decode_payload=listeners.decode,
        dead_letters=dead_letters,
        timers=timer_index,
        keys=keys,
        clock=clock,
        telemetry=settings.telemetry,
        on_finished=ReleaseTriggers(released_after or {}, starter).finished,
        listing=ListingIndex(),
        turns=Turns(settings.max_concurrent_hooks),
    )
    schedule_owner = ScheduleOwner(
        {} if schedules is None else schedules,
        {} if schedule_state is None else schedule_state,
        {} if releases is None else releases,
        starter=starter,
        partitions=partitions,
        status_of=functools.partial(stored_status, instances),
        clock=clock,
    )
    dispatcher = EventDispatcher(owner, keys, partitions, schedule_owner, owner.turns)
    return Owners(owner, keys, listeners, dispatcher, timer_index, schedule_owner)


def stored_status(instances: Store, instance_id: str) -> str | None:
    """The status code of a stored instance (``DELETED`` once deleted); None if not stored."""
    raw = instances.get(instance_id.encode())
    if raw is None:
        return None
    if raw == TOMBSTONE:
        return "DELETED"
    try:
        status = undecodable.readable_fields(raw).get("status")
    except undecodable.DECODE_ERRORS:
        return None  # unreadable: counted as running, as one not stored yet
    return None if status is None else str(status)
