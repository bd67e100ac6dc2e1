"""The published JSON Schema of workflow files, for editors and CI checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCHEMA_PATH = Path(__file__).with_name("workflow.schema.json")
"""Where the schema file is (it ships with the package)."""


def schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a workflow file."""
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return loaded
