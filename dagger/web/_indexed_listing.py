"""A page of the instance listing read from the listing index, as the table's scan reads it.

:class:`dagger.runtime._listing_index.ListingIndex` keeps each owned partition's
instances in runs per (status, template), each sorted in both listing orders. A page
without a time range or a partition key selects the runs its status and template filters
name, bisects each to the cursor and merges them until the window is full; the counts are
the runs' lengths. A partition-key search reads the few instances with that key; a time
range walks the part of each run (sorted by that time) inside the range, since its total
and counts need every match. Every candidate passes the scan's own checks, so a page is
the scan's page: the same instances, order, total and counts.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

from sortedcontainers import SortedList

from dagger.runtime._listing_index import ListingIndex, PartitionIndex, Run, Summary
from dagger.web._query import BY_UPDATE, Ident, ListQuery, sort_key

Candidate = tuple[int, str, Summary]
"""An instance a page may list: its partition, id and summary."""


@dataclass
class Page:
    """The ids of a page's instances, in order, and how many match (in all, per status)."""

    ids: list[str]
    total: int
    counts: dict[str, int]


def indexed_page(index: ListingIndex, query: ListQuery, owned: frozenset[int]) -> Page:
    """The page ``query`` asks of the partitions in ``owned`` (all ready in ``index``)."""
    partitions = [(partition, index.partitions[partition]) for partition in sorted(owned)]
    if query.partition_key is not None:
        return _tallied(_with_key(partitions, query.partition_key), query)
    if query.created != (None, None) or query.updated != (None, None):
        return _tallied(_in_time_range(partitions, query), query)
    counts: dict[str, int] = {}
    for _partition, part in partitions:
        for (status, _template), run in _runs(part, query, by_status=False):
            counts[status] = counts.get(status, 0) + len(run)
    total = sum(
        count
        for status, count in counts.items()
        if query.statuses is None or status in query.statuses
    )
    return Page(
        [ident[-1] for ident in islice(_ordered(partitions, query), query.window)], total, counts
    )


def _runs(
    part: PartitionIndex, query: ListQuery, *, by_status: bool
) -> Iterator[tuple[tuple[str, str | None], Run]]:
    """The runs of ``part`` of the query's template (and statuses, ``by_status``)."""
    for name, run in part.runs.items():
        status, template = name
        if query.template is not None and template != query.template:
            continue
        if by_status and query.statuses is not None and status not in query.statuses:
            continue
        yield name, run


def _ordered(partitions: list[tuple[int, PartitionIndex]], query: ListQuery) -> Iterator[Ident]:
    """The sort keys of the matching instances after the cursor, in the query's order."""
    after = query.after
    if after is not None and any(isinstance(part, float) and math.isnan(part) for part in after):
        return  # no key is after NaN (every comparison with it is false)
    if query.order == BY_UPDATE:
        runs = []
        for partition, part in partitions:
            for _name, run in _runs(part, query, by_status=True):
                runs.append(_tagged(partition, _from_cursor(run.by_updated, partition, after)))
        yield from heapq.merge(*runs)
        return
    for partition, part in partitions:
        if after is not None and partition < after[0]:
            continue
        ids = [
            run.by_id.irange(minimum=after[1], inclusive=(False, True))
            if after is not None and partition == after[0]
            else iter(run.by_id)
            for _name, run in _runs(part, query, by_status=True)
        ]
        for instance_id in heapq.merge(*ids):
            yield (partition, instance_id)


def _from_cursor(by_updated: SortedList, partition: int, after: Ident | None) -> Iterator[Any]:
    """The ``(-lastupdated, id)`` entries of one run whose full key is after ``after``."""
    if after is None:
        return iter(by_updated)
    updated, cursor_partition, cursor_id = after
    entries: Iterator[Any]
    if partition > cursor_partition:
        entries = by_updated.irange(minimum=(updated,))  # no earlier update time
    elif partition == cursor_partition:
        entries = by_updated.irange(minimum=(updated, cursor_id), inclusive=(False, True))
    else:
        entries = by_updated.irange(minimum=(_next_up(updated),))  # a later update only
    return entries


def _tagged(partition: int, entries: Iterator[Any]) -> Iterator[Ident]:
    for updated, instance_id in entries:
        yield (updated, partition, instance_id)


def _next_up(value: float) -> float:
    return math.nextafter(value, math.inf)


def _with_key(partitions: list[tuple[int, PartitionIndex]], value: str) -> Iterator[Candidate]:
    for partition, part in partitions:
        for instance_id in part.with_key(value):
            summary = part.summaries[instance_id]
            if summary.partition_key == value:
                yield partition, instance_id, summary


def _in_time_range(
    partitions: list[tuple[int, PartitionIndex]], query: ListQuery
) -> Iterator[Candidate]:
    """The instances of the query's template sorted inside its time range (a superset of
    those in it: :func:`_tallied` checks each)."""
    for partition, part in partitions:
        for _name, run in _runs(part, query, by_status=False):
            if query.updated != (None, None):
                after, before = query.updated  # -lastupdated in (-before, -after]
                entries = run.by_updated.irange(
                    minimum=None if before is None else (_next_up(-before),),
                    maximum=(0.0,) if after is None else (_next_up(-after),),
                )
            else:
                after, before = query.created  # time_created in [after, before)
                entries = run.by_created.irange(
                    minimum=None if after is None else (after,),
                    maximum=None if before is None else (before,),
                )
            for _time, instance_id in entries:
                yield partition, instance_id, part.summaries[instance_id]


def _tallied(candidates: Iterable[Candidate], query: ListQuery) -> Page:
    """The page of ``candidates`` that pass the query's filters: the scan's own checks."""
    matches: list[Ident] = []
    total = 0
    counts: dict[str, int] = {}
    for partition, instance_id, summary in candidates:
        if query.template is not None and summary.template != query.template:
            continue
        if not query.in_time_range(summary.time_created, summary.lastupdated):
            continue
        status = summary.status
        counts[status] = counts.get(status, 0) + 1
        if query.statuses is not None and status not in query.statuses:
            continue
        total += 1
        ident = sort_key(query.order, partition, instance_id, summary.lastupdated)
        if query.after is None or ident > query.after:
            matches.append(ident)
    return Page([ident[-1] for ident in heapq.nsmallest(query.window, matches)], total, counts)
