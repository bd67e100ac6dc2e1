"""The intake record's published JSON Schema, and checking a record against it."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

__all__ = ["SCHEMA_RESOURCE", "intake_schema", "schema_violation"]

SCHEMA_RESOURCE = "intake.schema.json"
"""The schema's file in this package; ``docs/schemas/intake.schema.json`` is a copy of it."""


@cache
def intake_schema() -> dict[str, Any]:
    """The JSON Schema of an intake record."""
    text = resources.files("dagger.runtime").joinpath(SCHEMA_RESOURCE).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator() -> Any:
    schema = intake_schema()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def schema_violation(record: Any) -> str | None:
    """What is wrong with ``record`` by the intake schema (the first error); None if valid."""
    errors = sorted(_validator().iter_errors(record), key=lambda error: list(error.path))
    if not errors:
        return None
    error = errors[0]
    where = "/".join(str(part) for part in error.path) or "the record"
    return f"{where}: {error.message}"
