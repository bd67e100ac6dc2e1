"""Correlation index keys: one per (listener topic, key name, key value)."""

from __future__ import annotations

from typing import Any

SEPARATOR = "\x1f"


def index_key(topic: str, name: str, value: Any) -> str:
    """Return the index key listeners on ``topic`` waiting for ``name == value`` share."""
    return f"{topic}{SEPARATOR}{name}{SEPARATOR}{value}"


def split_index_key(key: str) -> tuple[str, str, str]:
    """Return the (topic, name, value) an index key was made from."""
    topic, name, value = key.split(SEPARATOR, 2)
    return topic, name, value
