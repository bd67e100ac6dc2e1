"""Workflow files written to a temporary folder and loaded onto an offline engine."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import dagger.declarative
from dagger.service.services import Dagger

OFFLINE = "kafka://127.0.0.1:9"


@dagger.declarative.task("test-load")
def load_table(table: str, limit: int = 10) -> dict[str, Any]:
    """Returns how many rows it loaded from ``table``."""
    return {"rows": limit, "table": table}


@dagger.declarative.task("test-echo")
async def echo(value: Any) -> Any:
    """Returns ``value`` (an async function; a non-mapping result is ``{"result": ...}``)."""
    return value


TRIES: dict[str, int] = {}
"""How often ``test-ready`` was asked, by key."""


@dagger.declarative.task("test-ready")
def ready(key: str, after: int) -> dict[str, int] | None:
    """Ready (``{"tries": n}``) from the ``after``-th call with ``key`` on; None before."""
    TRIES[key] = TRIES.get(key, 0) + 1
    return {"tries": TRIES[key]} if TRIES[key] >= after else None


def write(folder: Path, text: str, name: str = "flows.yaml") -> Path:
    """Write the YAML ``text`` (dedented) to ``folder/name``."""
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def engine_with(folder: Path, text: str) -> Dagger:
    """An offline engine with the workflows of ``text`` loaded."""
    path = write(folder, text)
    return Dagger(broker=OFFLINE, store="memory://", workflows=[str(path)])


def as_editors_read(data: dict[str, Any]) -> dict[str, Any]:
    """A parsed file as a YAML 1.2 editor reads it: PyYAML (YAML 1.1) reads a bare ``on``
    key as True, a schema-aware editor as the text ``on``."""
    return {
        name: {"on" if key is True else key: value for key, value in body.items()}
        if isinstance(body, dict)
        else body
        for name, body in data.items()
    }
