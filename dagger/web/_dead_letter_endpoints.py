"""The dead-letter endpoints: list (paged), show, reinject and purge, over a pluggable admin.

The dead-letter topic is a Kafka topic every worker can read, so these endpoints need
no peers: any worker answers them with the :class:`DeadLetterAdmin` it is given.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from dagger.web._errors import ApiError, Reply
from dagger.web._query import DEFAULT_LIMIT, MAX_LIMIT, check_id, integer_param

NOT_CONFIGURED = (
    "the dead-letter tools are not configured on this worker, so the dead-letter "
    "endpoints cannot answer"
)


class DeadLetterAdmin(Protocol):
    """Reads and handles the records of the dead-letter topic.

    Missing records are reported as None (or KeyError); a request the admin cannot carry
    out as asked raises ValueError with a message for the caller.
    """

    async def list(
        self, limit: int, offset: int = 0, cursor: str | None = None
    ) -> Mapping[str, Any]:
        """A page of dead letters, from ``offset`` or after ``cursor``."""
        ...

    async def show(self, id: str) -> Mapping[str, Any] | None:
        """One dead letter."""
        ...

    async def reinject(self, id: str, value: bytes | None = None) -> Any:
        """Send the dead letter again to its original topic, marked as reinjected.

        ``value``, when given, replaces the letter's value (the dashboard's edit).
        """
        ...

    async def purge(self, id: str) -> Any:
        """Forget the dead letter."""
        ...


class DeadLettersApi:
    """Answers the dead-letter endpoints with ``admin`` (None: not configured, 501)."""

    def __init__(self, admin: DeadLetterAdmin | None) -> None:
        self.admin = admin

    async def page(self, params: Mapping[str, str]) -> Reply:
        """A page of dead letters, as the admin returns it."""
        unknown = sorted(set(params) - {"limit", "offset", "cursor"})
        if unknown:
            raise ApiError(
                400, f"unknown query parameter(s) {', '.join(unknown)}; use limit, offset or cursor"
            )
        limit = integer_param(params, "limit", DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
        offset = integer_param(params, "offset", 0, low=0, high=10**9)
        cursor = params.get("cursor")
        if cursor is not None and "offset" in params:
            raise ApiError(400, "give either offset or cursor, not both")
        admin = self._admin()
        try:
            if cursor is not None:
                page = await admin.list(limit=limit, cursor=cursor)
            else:
                page = await admin.list(limit=limit, offset=offset)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from exc
        return Reply(200, dict(page))

    async def show(self, letter_id: str) -> Reply:
        """One dead letter, or 404."""
        check_id(letter_id, "dead-letter id")
        found = await _call(self._admin().show(letter_id), letter_id)
        return Reply(200, dict(found))

    async def reinject(self, letter_id: str, value: bytes | None = None) -> Reply:
        """Reinject one dead letter (with ``value`` in place of its own) into its topic."""
        check_id(letter_id, "dead-letter id")
        admin = self._admin()
        pending = admin.reinject(letter_id) if value is None else admin.reinject(letter_id, value)
        result = await _call(pending, letter_id)
        body = dict(result) if isinstance(result, Mapping) else {}
        return Reply(200, {"id": letter_id, "reinjected": True, **body})

    async def purge(self, letter_id: str) -> Reply:
        """Purge one dead letter."""
        check_id(letter_id, "dead-letter id")
        result = await _call(self._admin().purge(letter_id), letter_id)
        if result is False:
            raise _missing(letter_id)
        body = dict(result) if isinstance(result, Mapping) else {}
        return Reply(200, {"id": letter_id, "purged": True, **body})

    def _admin(self) -> DeadLetterAdmin:
        if self.admin is None:
            raise ApiError(501, NOT_CONFIGURED)
        return self.admin


async def _call(pending: Any, letter_id: str) -> Any:
    try:
        result = await pending
    except KeyError:
        raise _missing(letter_id) from None
    except ValueError as exc:
        raise ApiError(400, str(exc)) from exc
    if result is None:
        raise _missing(letter_id)
    return result


def _missing(letter_id: str) -> ApiError:
    return ApiError(404, f"no dead letter with id {letter_id}")
