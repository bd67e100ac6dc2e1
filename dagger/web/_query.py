"""Reading the API's request parameters: instance ids, paging and filters.

Instances are listed in one order on every worker, ``(owner partition, id)``, so pages
from several workers merge into one page, and a cursor (the last ``(partition, id)``
returned) says where the next page starts whatever worker answers it.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from dagger.tasks._status import TaskStatusEnum
from dagger.web._errors import ApiError

DEFAULT_LIMIT = 100
"""Instances in a page when ``limit`` is not given."""
MAX_LIMIT = 1000
"""The largest ``limit`` a client may ask for."""
MAX_WINDOW = 10_000
"""The largest ``offset + limit``: deeper pages are read with a cursor."""

_ID = re.compile(r"^[A-Za-z0-9._:@+=~-]{1,256}$")
ID_RULE = "1 to 256 letters, digits or any of . _ : @ + = ~ -"

Ident = tuple[int, str]
"""Where an instance sits in the listing order: (owner partition, id)."""


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
        return params


def parse_list_query(params: Mapping[str, str], *, max_limit: int = MAX_LIMIT) -> ListQuery:
    """Validate the list parameters; ApiError 400 with what is wrong and how to fix it."""
    unknown = sorted(set(params) - {"limit", "offset", "cursor", "status", "template"})
    if unknown:
        raise ApiError(
            400,
            f"unknown query parameter(s) {', '.join(unknown)}; "
            "use limit, offset or cursor, status, template",
        )
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
    return ListQuery(limit, offset, after, statuses, template)


def encode_cursor(ident: Ident) -> str:
    """The opaque cursor for the page that follows ``ident``."""
    return base64.urlsafe_b64encode(json.dumps(list(ident)).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Ident:
    """The ``(partition, id)`` a cursor stands for; ApiError 400 if it is not one."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        partition, instance_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if isinstance(partition, bool) or not isinstance(partition, int):
            raise ValueError("partition is not an int")
        if not isinstance(instance_id, str):
            raise ValueError("id is not a string")
    except (ValueError, TypeError) as exc:
        raise ApiError(
            400, f"malformed cursor {cursor[:80]!r}: pass X-Next-Cursor of a page as it is"
        ) from exc
    return partition, instance_id


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
