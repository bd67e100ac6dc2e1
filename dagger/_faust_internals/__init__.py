"""Every use the engine makes of faust's, aiokafka's and mode's private or undocumented parts.

faust (and the aiokafka consumer under it) offers no public way to know which partitions a
worker owns, whether its tables have recovered, or to correct its consumer; the engine
needs all three. Each such use is here, with the reason it is needed, so that an upgrade
is checked in one package; ``tests/unit/test_faust_internals.py`` fails when an
installed version no longer has what this module relies on.

Every function and class below was checked against faust-streaming 0.15.3 / aiokafka
0.14.0 / mode-streaming 0.7.1 (:data:`CHECKED_AGAINST`, the pins in ``pyproject.toml``).

It sits outside the layers (the package ``dagger/_faust_internals/``, importing no other
dagger module, which the import contract checks), so the core's instance codec, the serializers
and the runtime all reach faust's private parts through it.

The engine's faust app, :class:`EngineFaustApp`, is here too, because its corrections
to faust's Kafka consumer, recovery and producer are made of faust internals:

1. faust hard-codes aiokafka's ``fetch_max_wait_ms`` to 1,500 ms. A broker answers a
   long-poll fetch when data arrives or the wait ends, and a workflow step crosses several
   hops, so the engine sets the wait from its settings instead.
2. While partitions are being assigned, faust drops records it already fetched and counts
   on "seek to committed offsets" to read them again; aiokafka skips that seek for a
   partition with no committed offset (or offset 0), so a group that never committed (a
   worker killed before its first commit) lost those records for good. With
   ``consumer_auto_offset_reset="earliest"`` such partitions are rewound to the beginning.
3. After a table recovery faust resumes the stream partitions, seeks them to their
   committed offsets, then clears the agents' queues (``flow_control.resume()``) and
   resumes the flow. The flow is already running then (faust resumed it to read the
   changelogs), so while the seek waits, the consumer hands out records it fetched before
   the seek and sets its read offsets past them. The records still queued are cleared, and
   when the partition is read again from the committed offset faust skips them as already
   read: they were lost (the recovery benchmark lost a few dozen engine events per
   restart). The engine's consumer stops the flow before it seeks and hands out nothing
   fetched before the seek; faust resumes the flow right after clearing the queues.

The engine's app also recovers its tables with two corrections of faust's recovery:

4. At the end of a recovery faust resumes the standby changelog partitions and then, in
   ``on_recovery_completed``, seeks the stream partitions and clears the queues: the
   standby records fetched in between were dropped (by the stopped flow, or with the
   changelog queue faust clears on resume) while the consumer's position moved past them,
   and faust seeks a standby partition only at the next rebalance, from its persisted
   offset. Standby reading went on after the gap and persisted the offsets beyond it, so
   when that partition later became active here, recovery started at the persisted offset
   (the highwater) and read nothing: the records in the gap were lost for good (in a
   two-worker takeover, instances written before the second worker joined). The
   engine's recovery pauses the standby partitions for the end of the recovery, skips
   what the consumer still hands out for them, then seeks them back to the last record it
   took and resumes them.
5. The recovery checks itself: a changelog partition whose records it took jump over
   offsets across a stop of the consumer's flow (when fetched records are dropped) may
   have lost the records in between. Its persisted offset is then held at the last
   record before the jump, so the next recovery (a rebalance, a takeover, a restart)
   reads again from there instead of trusting an offset that covers records never
   applied. A jump without a stop in between (a compacted changelog) is left alone.

And one correction of faust's producer:

6. faust's table writes put their changelog records in the producer's buffer, and faust
   flushes the producer before it commits the consumed offsets. faust's buffer flush
   returns when no record left the buffer for 0.1 s (a loaded machine), and does not
   count the record its sending task has taken but not yet handed to aiokafka: an offset
   could be committed before the changelog record its event wrote was sent, and a
   SIGKILL then lost the write for good (the chaos suite's kill loop found an instance
   completed in the update topic and not in the changelog). The engine's producer
   flushes a buffer that waits until every record is handed over. (The engine's own
   tables no longer put theirs there: it writes their stores and hands their changelog
   records to the producer itself, before it acks a batch, through the table class's
   ``write_store`` and ``changelog_sent``.)

One more cuts a worker's start, which the chaos suite's kill loop measures
(``bench/chaos.py``): faust's rocksdb store runs a full ``gc.collect()`` for each table
at each assignment, even when it closed no database (a few tenths of a second each in a
worker's heap). :func:`collect_only_after_closing` makes the store collect only when it
closed one (what the collection is for: releasing the closed databases' locks). (faust's
table manager also sleeps 1 s at start so that tables defined late register; the engine
keeps that sleep: without it, two SIGKILL tests lost instances on a fresh clone, the chaos
kill loop and the retry-wait test, and both pass with it.)

Not here: the Tansu end-offset correction, a patch of aiokafka's ``Fetcher`` that is all
its module :mod:`dagger.broker._tansu_compat` does (a development and test aid for the
embedded broker's bug); the test of this module checks what it relies on too.
"""

from __future__ import annotations

from faust.streams import current_event

from dagger._faust_internals._app import EngineFaustApp
from dagger._faust_internals._records import (
    bare_record,
    codec_registered,
    plain_record_fields,
    record_defaults,
    record_fields,
    record_optional_fields,
    record_validates,
)
from dagger._faust_internals._recovery import EngineTableManager, collect_only_after_closing
from dagger._faust_internals._worker_state import (
    PRODUCER_BUFFER_LOGGER,
    as_current_event,
    broker_cluster_id,
    fetched_queue,
    group_member_urls,
    owned_partitions,
    partitions_settling,
    producer_buffer_full_size,
    rebalance_generation,
    recovery_completed,
    without_spinner,
)

__all__ = [
    "CHECKED_AGAINST",
    "PRODUCER_BUFFER_LOGGER",
    "EngineFaustApp",
    "EngineTableManager",
    "as_current_event",
    "bare_record",
    "broker_cluster_id",
    "codec_registered",
    "collect_only_after_closing",
    "current_event",
    "fetched_queue",
    "group_member_urls",
    "owned_partitions",
    "partitions_settling",
    "plain_record_fields",
    "producer_buffer_full_size",
    "rebalance_generation",
    "record_defaults",
    "record_fields",
    "record_optional_fields",
    "record_validates",
    "recovery_completed",
    "without_spinner",
]

CHECKED_AGAINST = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0", "mode-streaming": "0.7.1"}
"""The versions every use here was checked against (and pinned in ``pyproject.toml``)."""
