"""What a worker owns and whether it is settled; streams, events, the broker, the worker.

Part of :mod:`dagger._faust_internals`; see its docstring for why each use is needed.
"""

from __future__ import annotations

import asyncio
import logging
import re
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiokafka.protocol.metadata import MetadataRequest
from faust.streams import _current_event

logger = logging.getLogger("dagger._faust_internals")

# How long the worker waits for the broker to say its cluster id, once, at connect time.
_CLUSTER_ID_TIMEOUT = 5.0


# -- what this worker owns, and whether it is settled ----------------------------------


def owned_partitions(app: Any, topic: str) -> frozenset[int]:
    """The partitions of ``topic`` assigned (actively, not as standby) to this worker.

    Why: faust has no public "what do I own"; its assignor's ``assigned_actives()`` is
    what its own agents and tables use. Checked against faust-streaming 0.15.3 /
    aiokafka 0.14.0 / mode-streaming 0.7.1.
    """
    return frozenset(tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic)


def group_member_urls(app: Any) -> list[str]:
    """The ``canonical_url`` of every member of the app's consumer group (this one too).

    Why: the assignor's ``tables_metadata()`` is where faust keeps the members' URLs it
    exchanged in the group assignment; there is no public accessor. Checked against
    faust-streaming 0.15.3 / aiokafka 0.14.0 / mode-streaming 0.7.1.
    """
    return [str(url) for url in app.assignor.tables_metadata()]


def partitions_settling(app: Any) -> bool:
    """True while the app's partitions are being rebalanced or its tables recovered.

    Why: ``App.rebalancing`` and ``App.in_recovery`` are plain attributes faust sets, not
    a documented API. Checked against faust-streaming 0.15.3 / aiokafka 0.14.0 /
    mode-streaming 0.7.1.
    """
    return bool(app.rebalancing or app.in_recovery)


def rebalance_generation(app: Any) -> int:
    """A number that changes at each rebalance of the app's group.

    Why: faust counts rebalances in the undocumented ``App.rebalancing_count``, for its
    sensors; the timer index reloads when it changes. Checked against faust-streaming
    0.15.3 / aiokafka 0.14.0 / mode-streaming 0.7.1.
    """
    return int(app.rebalancing_count)


def recovery_completed(app: Any) -> bool:
    """True once the app's tables have recovered from their changelogs the first time.

    Why: only the private ``app.tables.recovery.completed`` event says so. Checked
    against faust-streaming 0.15.3 / aiokafka 0.14.0 / mode-streaming 0.7.1.
    """
    return bool(app.tables.recovery.completed.is_set())


# -- streams and events ----------------------------------------------------------------
def fetched_queue(stream: Any) -> Any:
    """The queue of records fetched for ``stream``'s agent and not yet handed to it.

    Why: a batch ends when nothing more is fetched, and only the stream's channel queue
    (``stream.channel.queue``, undocumented) tells. Checked against faust-streaming
    0.15.3 / aiokafka 0.14.0 / mode-streaming 0.7.1.
    """
    return stream.channel.queue


@contextmanager
def as_current_event(event: Any) -> Iterator[None]:
    """Make ``event`` faust's current event: a table write goes to its partition.

    Why: faust sets its private ``_current_event`` context variable only while an agent
    iterates a stream; the engine applies records (and commits a batch's writes) outside
    that iteration. Checked against faust-streaming 0.15.3 / aiokafka 0.14.0 /
    mode-streaming 0.7.1.
    """
    token = _current_event.set(None if event is None else weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


# -- the broker ------------------------------------------------------------------------
async def broker_cluster_id(consumer: Any) -> str | None:
    """The cluster id of the broker ``consumer`` (a started ``AIOKafkaConsumer``) talks to.

    None when the broker does not say (a Metadata version before 2) or does not answer.

    Why: the embedded broker is recognised by its cluster id, and aiokafka reads it in
    every Metadata response but keeps none of it: ``ClusterMetadata`` drops it. One more
    Metadata request (no topics) through the consumer's private ``_client``, to a node
    from ``get_random_node()``, asks for it with the consumer's own connection settings.
    Checked against faust-streaming 0.15.3 / aiokafka 0.14.0 / mode-streaming 0.7.1.
    """
    client = consumer._client
    try:
        node_id = client.get_random_node()
        if node_id is None:
            return None
        response = await asyncio.wait_for(
            client.send(node_id, MetadataRequest([])), _CLUSTER_ID_TIMEOUT
        )
    except Exception as exc:
        logger.debug("The broker's cluster id could not be read: %r", exc)
        return None
    cluster_id = getattr(response, "cluster_id", None)
    return cluster_id if isinstance(cluster_id, str) else None


PRODUCER_BUFFER_LOGGER = "faust.transport.producer"
"""The logger faust's ``ProducerBuffer`` says it is full on."""

_BUFFER_FULL = re.compile(r"producer buffer full size (\d+)")


def producer_buffer_full_size(record: logging.LogRecord) -> int | None:
    """The size in faust's "producer buffer full" warning ``record``, or None for another.

    Why: faust says its producer buffer is full only in a terse warning,
    ``f"producer buffer full size {size}"`` from ``ProducerBuffer.wait_until_ebb``, on the
    ``faust.transport.producer`` logger; the worker rewrites it into a line that says what
    it means. Checked against faust-streaming 0.15.3 / aiokafka 0.14.0 /
    mode-streaming 0.7.1.
    """
    if record.name != PRODUCER_BUFFER_LOGGER or record.levelno < logging.WARNING:
        return None
    matched = _BUFFER_FULL.fullmatch(str(record.msg))
    return int(matched.group(1)) if matched else None


# -- the worker ------------------------------------------------------------------------
def without_spinner(worker: Any) -> None:
    """Keep ``worker`` (a ``faust.Worker``) from starting its start-up spinner.

    Why: faust's spinner lowers the root logger to DEBUG so that every record can turn
    it; each debug call of faust, aiokafka and the engine then builds a record that no
    handler wants, which cost about a tenth of a busy worker's CPU. Only the worker's
    ``spinner`` attribute turns it off. Checked against faust-streaming 0.15.3 /
    aiokafka 0.14.0 / mode-streaming 0.7.1.
    """
    worker.spinner = None
