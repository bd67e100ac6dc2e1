"""Dead-letter records as JSON-able entries: a summary for listings, everything for show."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from dagger.ops._marks import Marks
from dagger.ops._records import StoredRecord

__all__ = ["NOT_A_DEAD_LETTER", "DeadLetter", "decode_letter"]

NOT_A_DEAD_LETTER = "not_a_dead_letter"
"""The reason given to a record of the dead-letter topic that is not a dead-letter document."""


class DeadLetter:
    """One record of the dead-letter topic and the document it holds."""

    def __init__(self, record: StoredRecord, document: dict[str, Any] | None) -> None:
        self.record = record
        self.document = document or {}
        self.readable = document is not None

    @property
    def id(self) -> str:
        """``partition:offset`` in the dead-letter topic."""
        return str(self.record.position)

    @property
    def origin(self) -> dict[str, Any] | None:
        """Where the input came from: ``{"topic", "partition", "offset"}``, when known."""
        origin = self.document.get("origin")
        return origin if isinstance(origin, dict) else None

    def original_key(self) -> bytes | None:
        """The key of the input that was dead-lettered, or None."""
        return _unbase64(self.document.get("key"))

    def original_value(self) -> bytes | None:
        """The value of the input that was dead-lettered, or None."""
        return _unbase64(self.document.get("value"))

    def original_headers(self) -> list[tuple[str, bytes]]:
        """The headers of the input that was dead-lettered (none in older letters)."""
        headers: list[tuple[str, bytes]] = []
        for item in self.document.get("headers") or []:
            if isinstance(item, list) and len(item) == 2 and isinstance(item[0], str):
                value = _unbase64(item[1])
                if value is not None:
                    headers.append((item[0], value))
        return headers

    def truncated(self) -> dict[str, Any] | None:
        """Size, digest and first bytes of a value too large to keep whole, if it was."""
        if not self.document.get("value_truncated"):
            return None
        return {
            "size": self.document.get("value_size"),
            "sha256": self.document.get("value_sha256"),
            "head": self.document.get("value_head"),
        }

    def summary(self, marks: Marks) -> dict[str, Any]:
        """Return the entry of a listing, with what names the instance it was for.

        ``instance_id`` is recorded by the worker that could not handle a message for a
        known instance; ``key_text`` (the original key as UTF-8 text) may be an instance id
        or a partition-key value. The dashboard links a letter to its instance with them,
        without reading each letter whole.
        """
        document = self.document
        error_type = document.get("error_type")
        error_message = document.get("error_message")
        if self.readable:
            error = f"{error_type}: {error_message}" if error_type else error_message
        else:
            error = "the record is not a dead-letter JSON document"
        time = document.get("time")
        if not isinstance(time, (int, float)) and self.record.timestamp_ms is not None:
            time = self.record.timestamp_ms / 1000
        return {
            "id": self.id,
            "partition": self.record.partition,
            "offset": self.record.offset,
            "reason": document.get("reason") if self.readable else NOT_A_DEAD_LETTER,
            "error": error,
            "error_type": error_type,
            "error_message": error_message,
            "origin": self.origin,
            "time": time,
            "reinjected": marks.reinjected.get(self.record.position),
            "key_text": _text(self.original_key()) if self.readable else None,
            "instance_id": document.get("instance_id") if self.readable else None,
        }

    def detail(self, marks: Marks) -> dict[str, Any]:
        """Return the entry of ``show``: the summary, the original key and value, and marks."""
        value = self.original_value() if self.readable else self.record.value
        key = self.original_key() if self.readable else self.record.key
        return {
            **self.summary(marks),
            "key": _base64(key),
            "value": _base64(value),
            "value_text": _text(value),
            "value_truncated": self.truncated() if self.readable else None,
            "headers": [[name, _base64(raw)] for name, raw in self.original_headers()],
            "purged": marks.purged.get(self.record.position),
        }


def decode_letter(record: StoredRecord) -> DeadLetter:
    """Parse a record of the dead-letter topic; anything else is kept as unreadable."""
    try:
        document = json.loads(record.value) if record.value is not None else None
    except (ValueError, UnicodeDecodeError):
        document = None
    return DeadLetter(record, document if isinstance(document, dict) else None)


def _unbase64(text: Any) -> bytes | None:
    if not isinstance(text, str):
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _base64(raw: bytes | None) -> str | None:
    return None if raw is None else base64.b64encode(raw).decode()


def _text(raw: bytes | None) -> str | None:
    """The value as text when it is UTF-8, for people reading ``show``."""
    if raw is None:
        return None
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return None
