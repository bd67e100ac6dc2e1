"""The body of ``POST /tasks/instance/{id}/rerun``: the node to rerun from, edited params.

``{"from": "<task id or name>", "parameters": {...}}``; ``parameters`` may be left out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from dagger.web._errors import ApiError

_FIELDS = frozenset({"from", "parameters"})
_SHAPE = '{"from": "<task id or name>", "parameters"?: {...}}'


@dataclass(frozen=True)
class RerunRequest:
    """A parsed rerun body."""

    node: str
    parameters: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        """The JSON body again, to forward the request to the instance's owner."""
        return {"from": self.node, "parameters": self.parameters}


def parse_rerun(body: bytes) -> RerunRequest:
    """Parse a rerun body; ApiError 400 saying what is wrong."""
    try:
        fields = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, f"the body is not JSON; send {_SHAPE}") from None
    if not isinstance(fields, dict):
        raise ApiError(400, f"the body must be a JSON object: {_SHAPE}")
    unknown = sorted(set(fields) - _FIELDS)
    if unknown:
        raise ApiError(400, f"unknown field(s) {unknown[:5]}; send {_SHAPE}")
    node = fields.get("from")
    if not isinstance(node, str) or not node.strip() or len(node) > 1000:
        raise ApiError(400, f"'from' must name the task to rerun from (its id or name): {_SHAPE}")
    parameters = fields.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise ApiError(400, "'parameters' must be a JSON object of the runtime parameters to set")
    return RerunRequest(node, parameters)
