"""The body of ``POST /workflows/{name}/releases``: a manual release to make.

``{"kind": "force" | "dry-run", "time"?: "<ISO 8601>"}`` or ``{"kind": "rerun", "key":
"<release key>"}``. A time without an offset is a wall-clock time of the schedule's
timezone; left out, it is now.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from dagger.runtime._schedules import MANUAL_KINDS
from dagger.web._errors import ApiError

_FIELDS = frozenset({"kind", "time", "key"})
_SHAPE = '{"kind": "force" | "dry-run", "time"?: "<ISO 8601>"} or {"kind": "rerun", "key": "..."}'


@dataclass(frozen=True)
class ReleaseRequest:
    """A parsed manual release body."""

    kind: str
    time: str | None = None
    key: str | None = None

    def body(self) -> dict[str, Any]:
        """The JSON body again, to forward the request to the schedule's owner."""
        fields = {"kind": self.kind, "time": self.time, "key": self.key}
        return {name: value for name, value in fields.items() if value is not None}

    def logical_time(self, zone: str) -> float | None:
        """The asked time as an instant (a time without an offset is one of ``zone``)."""
        if self.time is None:
            return None
        try:
            moment = datetime.fromisoformat(self.time.replace("Z", "+00:00"))
        except ValueError:
            raise ApiError(400, f"'time' is not an ISO 8601 time: {self.time!r}") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=ZoneInfo(zone))
        return moment.timestamp()


def parse_release(body: bytes) -> ReleaseRequest:
    """Parse a manual release body; ApiError 400 saying what is wrong."""
    try:
        fields = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, f"the body is not JSON; send {_SHAPE}") from None
    if not isinstance(fields, dict):
        raise ApiError(400, f"the body must be a JSON object: {_SHAPE}")
    unknown = sorted(set(fields) - _FIELDS)
    if unknown:
        raise ApiError(400, f"unknown field(s) {unknown[:5]}; send {_SHAPE}")
    kind = fields.get("kind")
    if kind not in MANUAL_KINDS:
        raise ApiError(400, f"'kind' must be one of {', '.join(MANUAL_KINDS)}: {_SHAPE}")
    time, key = fields.get("time"), fields.get("key")
    if kind == "rerun":
        if time is not None or not isinstance(key, str) or not key or len(key) > 1000:
            raise ApiError(400, f"a rerun names the 'key' of the release to run again: {_SHAPE}")
        return ReleaseRequest(kind, key=key)
    if key is not None or (time is not None and (not isinstance(time, str) or len(time) > 100)):
        raise ApiError(400, f"a {kind} release takes an ISO 8601 'time' string, no key: {_SHAPE}")
    return ReleaseRequest(kind, time=time)
