"""Reading the API's request parameters: instance ids, paging, order and filters.

Instances are listed in one order on every worker, ``(owner partition, id)`` by default,
or ``(newest update first, owner partition, id)`` with ``order=updated``, so pages from
several workers merge into one page, and a cursor (the sort key of the last instance
returned) says where the next page starts whatever worker answers it.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from dagger.tasks._status import TaskStatusEnum
from dagger.web._errors import ApiError

DEFAULT_LIMIT = 100
"""Instances in a page when ``limit`` is not given."""
MAX_LIMIT = 1000
"""The largest ``limit`` a client may ask for."""
MAX_WINDOW = 10_000
"""The largest ``offset + limit``: deeper pages are read with a cursor."""

ID_PATTERN = r"^[A-Za-z0-9._:@+=~-]{1,256}$"
"""What an id in a path is (instances and dead letters), as the OpenAPI document says."""
_ID = re.compile(ID_PATTERN)
ID_RULE = "1 to 256 letters, digits or any of . _ : @ + = ~ -"

BY_PARTITION = "partition"
"""The default order: (owner partition, id); exact while instances are created."""
BY_UPDATE = "updated"
"""Newest update first: (-lastupdated, owner partition, id)."""
ORDERS = (BY_PARTITION, BY_UPDATE)

Ident = tuple[Any, ...]
"""Where an instance sits in the listing order: its sort key, ``(owner partition, id)`` or
``(-lastupdated, owner partition, id)``."""

TIME_RANGE = ("created_after", "created_before", "updated_after", "updated_before")
"""Time-range filters, in epoch seconds: after is inclusive, before exclusive."""
_PARAMS = (
    "limit",
    "offset",
    "cursor",
    "status",
    "template",
    "order",
    "partition_key",
    *TIME_RANGE,
)


def check_id(value: str, what: str = "instance id") -> str:
    """Return ``value`` if it is a well-formed id; ApiError 400 otherwise."""
    if not _ID.match(value):
        raise ApiError(400, f"malformed {what} {value[:80]!r}: an id is {ID_RULE}")
    return value


@dataclass(frozen=True)
class ListQuery:
    """A validated ``GET /tasks/instances`` query."""

    limit: int = DEFAULT_LIMIT
    offset: int = 0
    after: Ident | None = None
    statuses: frozenset[str] | None = None
    template: str | None = None
    order: str = BY_PARTITION
    partition_key: str | None = None
    created: tuple[float | None, float | None] = (None, None)
    """Created in ``[after, before)``; None leaves that end open."""
    updated: tuple[float | None, float | None] = (None, None)
    """Last updated in ``[after, before)``; None leaves that end open."""

    def in_time_range(self, time_created: Any, lastupdated: Any) -> bool:
        """True when the instance's creation and update times are in the query's ranges."""
        return _within(self.created, time_created) and _within(self.updated, lastupdated)

    def key_of(self, document: Mapping[str, Any]) -> Ident:
        """Where an instance document sits in this query's order."""
        return sort_key(
            self.order,
            int(document["owner_partition"]),
            str(document["id"]),
            document.get("lastupdated"),
        )

    @property
    def window(self) -> int:
        """How many instances, from the start (or the cursor), this page needs to see."""
        return self.offset + self.limit

    def widened(self) -> ListQuery:
        """The query a peer answers: the whole window plus one, from the start.

        Merging every worker's first ``window + 1`` instances gives the page and tells
        whether another page follows.
        """
        return replace(self, offset=0, limit=self.window + 1)

    def params(self) -> dict[str, str]:
        """The query as URL parameters."""
        params = {"limit": str(self.limit)}
        if self.after is not None:
            params["cursor"] = encode_cursor(self.after)
        else:
            params["offset"] = str(self.offset)
        if self.statuses is not None:
            params["status"] = ",".join(sorted(self.statuses))
        if self.template is not None:
            params["template"] = self.template
        if self.order != BY_PARTITION:
            params["order"] = self.order
        if self.partition_key is not None:
            params["partition_key"] = self.partition_key
        for name, bound in zip(TIME_RANGE, (*self.created, *self.updated), strict=True):
            if bound is not None:
                params[name] = repr(bound)
        return params


def _within(bounds: tuple[float | None, float | None], value: Any) -> bool:
    after, before = bounds
    if after is None and before is None:
        return True
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return False  # an unset time (never updated) is in no range
    return (after is None or value >= after) and (before is None or value < before)


def sort_key(order: str, partition: int, instance_id: str, lastupdated: Any) -> Ident:
    """The sort key of an instance in ``order``; an unset update time sorts last."""
    if order == BY_UPDATE:
        updated = float(lastupdated) if isinstance(lastupdated, int | float) else 0.0
        return (-updated, partition, instance_id)
    return (partition, instance_id)


def parse_list_query(params: Mapping[str, str], *, max_limit: int = MAX_LIMIT) -> ListQuery:
    """Validate the list parameters; ApiError 400 with what is wrong and how to fix it."""
    unknown = sorted(set(params) - set(_PARAMS))
    if unknown:
        raise ApiError(
            400,
            f"unknown query parameter(s) {', '.join(unknown)}; "
            "use limit, offset or cursor, status, template, order, partition_key, "
            f"{', '.join(TIME_RANGE)}",
        )
    order = params.get("order", BY_PARTITION)
    if order not in ORDERS:
        raise ApiError(400, f"unknown order {order[:40]!r}; use one of {', '.join(ORDERS)}")
    limit = integer_param(params, "limit", DEFAULT_LIMIT, low=1, high=max_limit)
    offset = integer_param(params, "offset", 0, low=0, high=MAX_WINDOW)
    if limit + offset > max(MAX_WINDOW, max_limit):
        raise ApiError(
            400,
            f"offset + limit may be at most {MAX_WINDOW}; page further with the cursor "
            "of the previous page (X-Next-Cursor)",
        )
    after = None
    if "cursor" in params:
        if "offset" in params:
            raise ApiError(400, "give either offset or cursor, not both")
        after = decode_cursor(params["cursor"])
        if len(after) != len(sort_key(order, 0, "", None)):
            raise ApiError(
                400,
                f"this cursor pages another order than order={order}: pass the order of the "
                "page that gave it",
            )
    statuses = None
    if "status" in params:
        names = {name.strip().upper() for name in params["status"].split(",") if name.strip()}
        valid = {status.name for status in TaskStatusEnum}
        wrong = sorted(names - valid)
        if wrong or not names:
            raise ApiError(
                400,
                f"unknown status {', '.join(wrong) or repr(params['status'])}; "
                f"use one or more (comma-separated) of {', '.join(sorted(valid))}",
            )
        statuses = frozenset(names)
    template = params.get("template")
    if template is not None and not template:
        raise ApiError(400, "template must be a template name, not empty")
    partition_key = params.get("partition_key")
    if partition_key is not None and not partition_key:
        raise ApiError(400, "partition_key must be a partition-key value, not empty")
    created_after, created_before, updated_after, updated_before = (
        _time_param(params, name) for name in TIME_RANGE
    )
    return ListQuery(
        limit,
        offset,
        after,
        statuses,
        template,
        order,
        partition_key,
        (created_after, created_before),
        (updated_after, updated_before),
    )


def _time_param(params: Mapping[str, str], name: str) -> float | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(
            400, f"{name} must be a time in epoch seconds (e.g. 1735689600), got {raw[:40]!r}"
        ) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ApiError(400, f"{name} must be a finite number of epoch seconds, got {raw[:40]!r}")
    return value


def encode_cursor(ident: Ident) -> str:
    """The opaque cursor for the page that follows ``ident`` (a sort key)."""
    return base64.urlsafe_b64encode(json.dumps(list(ident)).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Ident:
    """The sort key a cursor stands for; ApiError 400 if it is not one.

    A cursor of the default order is ``(partition, id)``; of ``order=updated``
    ``(-lastupdated, partition, id)``.
    """
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        *updated, partition, instance_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if len(updated) > 1:
            raise ValueError("too many parts")
        if any(isinstance(value, bool) or not isinstance(value, int | float) for value in updated):
            raise ValueError("the update time is not a number")
        if isinstance(partition, bool) or not isinstance(partition, int):
            raise ValueError("partition is not an int")
        if not isinstance(instance_id, str):
            raise ValueError("id is not a string")
    except (ValueError, TypeError) as exc:
        raise ApiError(
            400, f"malformed cursor {cursor[:80]!r}: pass X-Next-Cursor of a page as it is"
        ) from exc
    return (*(float(value) for value in updated), partition, instance_id)


def integer_param(
    params: Mapping[str, str], name: str, default: int, *, low: int, high: int
) -> int:
    """The integer parameter ``name`` (``default`` when absent); ApiError 400 if out of range."""
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be an integer, got {raw[:40]!r}") from None
    if not low <= value <= high:
        raise ApiError(400, f"{name} must be between {low} and {high}, got {value}")
    return value
