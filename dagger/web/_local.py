"""What this worker can answer alone: the instances of the partitions it owns.

A worker's instance table may also hold standby copies of other workers' partitions;
only the partitions it owns (actively) are answered for, so that every instance is
answered for by exactly one worker.

A page is read from the owner's listing index (:mod:`dagger.web._indexed_listing`) once
it covers every owned partition, and by a scan of the whole table until then (the index
is built by the first page that finds the worker ready, and a worker settling a
rebalance scans): both give the same page.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from dagger.core import _codec as codec
from dagger.core import _undecodable as undecodable
from dagger.exceptions.exceptions import DaggerError, UndecodableInstanceError
from dagger.runtime._listing_index import ListingIndex, partition_key_of
from dagger.runtime._owner import TOMBSTONE
from dagger.tasks._base import ITemplateDAGInstance
from dagger.web._documents import instance_document, undecodable_document
from dagger.web._indexed_listing import Page, indexed_page
from dagger.web._query import Ident, ListQuery, sort_key

logger = logging.getLogger(__name__)

SCAN_CHUNK = 500
"""Instances read between two yields to the event loop: a long scan must not stall agents."""

_SUMMARY = ("status", "template_name", "owner_partition", "lastupdated", "time_created")
_KEYED = (*_SUMMARY, "partition_key_lookup", "runtime_parameters")
"""The fields read to filter by partition-key value too."""


class WorkerView(Protocol):
    """This worker's instance store and what it owns."""

    def store(self) -> Mapping[bytes, bytes]:
        """The instance store (id -> stored bytes); it may hold standby copies."""
        ...

    def owned_partitions(self) -> frozenset[int]:
        """The engine-topic partitions this worker owns now."""
        ...

    def is_ready(self) -> bool:
        """True once the worker has its partitions and has recovered their state."""
        ...

    def listing_index(self) -> ListingIndex | None:
        """The owner's index of the store for listing it; None to scan the store."""
        ...

    def ownership_generation(self) -> int:
        """A number that changes whenever the partitions this worker owns may change hands
        (its rebalance count): the listing index then drops what it has."""
        ...


@dataclass
class Window:
    """The first instances of a listing on one worker, and how many match in all.

    ``counts`` is how many match each status when the status filter is left out (the
    counts beside a listing), read in the same scan.
    """

    documents: list[dict[str, Any]]
    total: int
    counts: dict[str, int] = field(default_factory=dict)


class LocalInstances:
    """Lists and finds the instances this worker owns."""

    def __init__(self, view: WorkerView) -> None:
        self.view = view

    def load(self, instance_id: str) -> ITemplateDAGInstance[Any, Any] | None:
        """The instance ``instance_id`` if a partition this worker owns holds it.

        Raises UndecodableInstanceError when it does but the instance cannot be built.
        """
        raw = self.view.store().get(instance_id.encode())
        if raw is None or raw == TOMBSTONE:
            return None
        try:
            instance = undecodable.decode_stored(raw)
        except UndecodableInstanceError:
            if self._owned_partition_of(raw) is None:
                return None
            raise
        if instance.owner_partition not in self.view.owned_partitions():
            return None
        return instance

    def _owned_partition_of(self, raw: bytes) -> int | None:
        """The owner partition stored in ``raw``, if this worker owns it."""
        try:
            partition = undecodable.readable_fields(raw)["owner_partition"]
        except undecodable.DECODE_ERRORS:
            return None
        return partition if partition in self.view.owned_partitions() else None

    async def window(self, query: ListQuery) -> Window:
        """The first ``query.window`` matching instances (after the cursor), in order."""
        page = await self._indexed(query)
        if page is None:
            page = await self._scanned(query)
        store = self.view.store()
        documents = []
        for instance_id in page.ids:
            raw = store.get(instance_id.encode())
            if raw is not None and raw != TOMBSTONE:
                documents.append(_document_of(raw))
        return Window(documents, page.total, page.counts)

    async def _indexed(self, query: ListQuery) -> Page | None:
        """The page read from the listing index; None when it cannot answer (scan)."""
        index = self.view.listing_index()
        if index is None:
            return None
        owned = self.view.owned_partitions()
        index.follow(owned, self.view.ownership_generation())
        if not index.covers(owned):
            if not self.view.is_ready():
                return None  # the table is still being recovered: an index would miss it
            try:
                await index.build(owned, self.view.store())
            except Exception:
                logger.exception("could not build the listing index; scanning the table")
                return None
            owned = self.view.owned_partitions()
            index.follow(owned, self.view.ownership_generation())
            if not index.covers(owned):
                return None
        return indexed_page(index, query, owned)

    async def _scanned(self, query: ListQuery) -> Page:
        """The page read by a scan of the whole store."""
        store = self.view.store()
        owned = self.view.owned_partitions()
        # A snapshot of the keys: the agents change the store between our chunks.
        keys = list(store.keys())
        matches: list[Ident] = []
        total = 0
        counts: dict[str, int] = {}
        names = _SUMMARY if query.partition_key is None else _KEYED
        for position, key in enumerate(keys):
            if position % SCAN_CHUNK == SCAN_CHUNK - 1:
                await asyncio.sleep(0)
            raw = store.get(key)
            if raw is None or raw == TOMBSTONE:
                continue
            try:
                fields = codec.root_fields(raw, names)
            except (ValueError, KeyError, TypeError, DaggerError) as exc:
                logger.warning("stored instance %r cannot be read, not listed: %s", key, exc)
                continue
            partition = fields["owner_partition"]
            if partition not in owned:
                continue
            if query.template is not None and fields["template_name"] != query.template:
                continue
            if not query.in_time_range(fields["time_created"], fields["lastupdated"]):
                continue
            instance_id = key.decode()
            if query.partition_key is not None and (
                partition_key_of(
                    instance_id, fields["partition_key_lookup"], fields["runtime_parameters"]
                )
                != query.partition_key
            ):
                continue
            status = str(fields["status"])
            counts[status] = counts.get(status, 0) + 1
            if query.statuses is not None and status not in query.statuses:
                continue
            total += 1
            ident = sort_key(query.order, int(partition), instance_id, fields["lastupdated"])
            if query.after is None or ident > query.after:
                matches.append(ident)
        return Page([ident[-1] for ident in heapq.nsmallest(query.window, matches)], total, counts)


def _document_of(raw: bytes) -> dict[str, Any]:
    """The API document of a stored instance; one saying why, if it cannot be decoded."""
    try:
        return instance_document(undecodable.decode_stored(raw))
    except UndecodableInstanceError as exc:
        logger.warning("%s; listed as undecodable", exc)
        return undecodable_document(undecodable.readable_fields(raw), exc)
