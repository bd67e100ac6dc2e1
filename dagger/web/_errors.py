"""The API's answers: a status, a JSON body and headers; errors carry a clear message."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dagger.exceptions.exceptions import DaggerError


class ApiError(DaggerError):
    """A request the API answers with ``status`` and ``{"error": message, "status": status}``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})

    def reply(self) -> Reply:
        """The JSON reply for this error."""
        return Reply(self.status, error_body(self.status, self.message), self.headers)


@dataclass
class Reply:
    """An API answer before it is put on the wire."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def error_body(status: int, message: str) -> dict[str, Any]:
    """The JSON body of every error."""
    return {"error": message, "status": status}
