"""Client-side correction for the Tansu broker's too-low end offsets.

Tansu answers ListOffsets(LATEST) with the base offset of the newest record batch plus one,
whatever the number of records in that batch, while the high watermark it puts in Fetch
responses is right. The correction asks each partition leader for that high watermark and
keeps the larger of the two offsets. See docs/embedded-broker.md.

A worker turns it on by itself when its broker is the embedded one, which it knows by the
cluster id :class:`~dagger.broker.EmbeddedBroker` starts it with (`recognise_broker`);
`DAGGER_TANSU_COMPAT` overrides that either way.

This wraps aiokafka internals (``Fetcher._proc_offset_request``, the fetcher's
``_client`` and ``_isolation_level``, the ``FetchRequest`` protocol class), checked
against aiokafka 0.14.0. They stay here rather than in
:mod:`dagger._faust_internals`, which holds every other such use, because the
broker layer is below the runtime and may not import it;
``tests/unit/test_faust_internals.py`` checks them with the rest.
"""

from __future__ import annotations

import collections
import functools
import logging
import os
import re
import threading
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import aiokafka.errors as kafka_errors
from aiokafka.consumer.fetcher import Fetcher, OffsetResetStrategy
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.structs import TopicPartition

__all__ = [
    "ENV_VAR",
    "apply_if_requested",
    "embedded_cluster_id",
    "install_offset_correction",
    "is_embedded_cluster_id",
    "offset_correction_installed",
    "recognise_broker",
    "uninstall_offset_correction",
]

ENV_VAR = "DAGGER_TANSU_COMPAT"
"""Environment variable that asks `apply_if_requested` to install the correction."""

_TRUE_VALUES = frozenset({"1", "true"})
_FALSE_VALUES = frozenset({"0", "false"})
_EMBEDDED_CLUSTER_ID = re.compile(r"dagger-[0-9a-f]{32}")
_FETCH_MAX_WAIT_MS = 50
# Kafka (and Tansu) still return the first whole batch when it exceeds the byte limit, so
# one byte keeps the probe's response as small as possible.
_FETCH_MAX_BYTES = 1

logger = logging.getLogger(__name__)

_OffsetsByPartition = dict[TopicPartition, tuple[int, Any]]

# Every path that asks a broker for offsets goes through this method: `end_offsets`,
# `beginning_offsets` and `offsets_for_times` via `_retrieve_offsets`, and `seek_to_end` and
# `auto_offset_reset` via `_update_fetch_positions`.
_original_proc_offset_request = Fetcher._proc_offset_request


class _Installation:
    """Reference count of the correction's installers in this process."""

    lock = threading.Lock()
    count = 0
    env_applied = False
    recognised_applied = False


@functools.wraps(_original_proc_offset_request)
async def _corrected_proc_offset_request(
    self: Any, node_id: int, topic_data: Mapping[str, Sequence[tuple[int, int]]]
) -> _OffsetsByPartition:
    """Run aiokafka's ListOffsets request, then raise LATEST offsets to the high watermark."""
    offsets: _OffsetsByPartition = await _original_proc_offset_request(self, node_id, topic_data)
    reported = {}
    for topic, partitions in topic_data.items():
        for partition, timestamp in partitions:
            tp = TopicPartition(topic, partition)
            if timestamp == OffsetResetStrategy.LATEST and tp in offsets and offsets[tp][0] >= 0:
                reported[tp] = offsets[tp][0]
    if not reported:
        return offsets
    highwaters = await _fetch_highwaters(self, node_id, reported)
    for tp, highwater in highwaters.items():
        offset, timestamp = offsets[tp]
        if highwater > offset:
            offsets[tp] = (highwater, timestamp)
    return offsets


async def _fetch_highwaters(
    fetcher: Any, node_id: int, positions: Mapping[TopicPartition, int]
) -> dict[TopicPartition, int]:
    """Return each partition's high watermark from one Fetch request to its leader."""
    by_topic: dict[str, list[tuple[int, int, int]]] = collections.defaultdict(list)
    for tp, offset in positions.items():
        by_topic[tp.topic].append((tp.partition, offset, _FETCH_MAX_BYTES))
    request = FetchRequest(
        _FETCH_MAX_WAIT_MS,
        1,
        _FETCH_MAX_BYTES,
        fetcher._isolation_level,
        list(by_topic.items()),
    )
    response = await fetcher._client.send(node_id, request)
    highwaters: dict[TopicPartition, int] = {}
    for topic, partitions in response.topics:
        for partition, error_code, highwater, *_ in partitions:
            tp = TopicPartition(topic, partition)
            error_type = kafka_errors.for_code(error_code)
            if error_type is not kafka_errors.NoError:
                # Raising keeps aiokafka's own retry handling; keeping the reported offset
                # would silently bring the bug back.
                raise error_type(tp)
            highwaters[tp] = highwater
    return highwaters


def install_offset_correction() -> None:
    """Install the end-offset correction in this process (refcounted)."""
    with _Installation.lock:
        _install_locked()


def uninstall_offset_correction() -> None:
    """Release one installation; the last release restores aiokafka's behaviour."""
    with _Installation.lock:
        if _Installation.count == 0:
            return
        _Installation.count -= 1
        if _Installation.count == 0:
            Fetcher._proc_offset_request = _original_proc_offset_request
            _Installation.env_applied = False
            _Installation.recognised_applied = False


def offset_correction_installed() -> bool:
    """Return whether the end-offset correction is active in this process."""
    return Fetcher._proc_offset_request is _corrected_proc_offset_request


def apply_if_requested() -> bool:
    """Install the correction once if `DAGGER_TANSU_COMPAT` is `1` or `true`.

    Returns:
        Whether the environment asked for the correction.
    """
    if os.environ.get(ENV_VAR, "").strip().lower() not in _TRUE_VALUES:
        return False
    with _Installation.lock:
        if not _Installation.env_applied:
            _Installation.env_applied = True
            _install_locked()
    return True


def embedded_cluster_id() -> str:
    """Return a new cluster id for an embedded broker: `dagger-` and 32 hex digits.

    A unique id tells our broker apart from any other one on the port, and its form tells
    a worker that its broker is the embedded one (`is_embedded_cluster_id`).
    """
    return f"dagger-{uuid.uuid4().hex}"


def is_embedded_cluster_id(cluster_id: str | None) -> bool:
    """Return whether `cluster_id` is one `embedded_cluster_id` makes."""
    return cluster_id is not None and _EMBEDDED_CLUSTER_ID.fullmatch(cluster_id) is not None


def recognise_broker(cluster_id: str | None) -> bool:
    """Install the correction once when `cluster_id` is the embedded broker's, and say so.

    `DAGGER_TANSU_COMPAT=0` (or `false`) keeps it off; `1` (or `true`) turns it on for any
    broker, through `apply_if_requested`.

    Returns:
        Whether this call found the embedded broker and the correction is on.
    """
    setting = os.environ.get(ENV_VAR, "").strip().lower()
    if not is_embedded_cluster_id(cluster_id):
        return False
    if setting in _TRUE_VALUES:
        return apply_if_requested()
    if setting in _FALSE_VALUES:
        logger.info(
            "The broker is the embedded Tansu broker (cluster id %s), but its end-offset "
            "correction stays off: %s=%s",
            cluster_id,
            ENV_VAR,
            setting,
        )
        return False
    with _Installation.lock:
        newly = not _Installation.recognised_applied
        if newly:
            _Installation.recognised_applied = True
            _install_locked(announce=False)
    if newly:
        logger.info(
            "The broker is the embedded Tansu broker (cluster id %s): its end-offset "
            "correction is on (%s=0 turns it off)",
            cluster_id,
            ENV_VAR,
        )
    return True


def _install_locked(*, announce: bool = True) -> None:
    _Installation.count += 1
    if _Installation.count == 1:
        Fetcher._proc_offset_request = _corrected_proc_offset_request
        if not announce:
            return
        logger.info(
            "Tansu end-offset correction installed: ListOffsets(LATEST) answers are "
            "checked against the Fetch high watermark"
        )
