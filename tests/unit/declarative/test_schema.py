"""The published JSON Schema: a valid schema that accepts the format and refuses misspellings."""

from __future__ import annotations

import textwrap
from typing import Any

import jsonschema
import pytest
import yaml

from dagger.declarative import SCHEMA_PATH, schema
from tests.unit.declarative.test_repeating_stages import BASH, FOREACH, UNTIL
from tests.unit.declarative.test_running import CASE, ETL, NEEDS, SAGA


def parsed(text: str) -> Any:
    return yaml.safe_load(textwrap.dedent(text))


def test_the_schema_is_a_valid_draft_2020_12_schema_shipped_with_the_package() -> None:
    jsonschema.Draft202012Validator.check_schema(schema())
    assert SCHEMA_PATH.name == "workflow.schema.json"


@pytest.mark.parametrize("text", [ETL, SAGA, CASE, NEEDS, BASH, UNTIL, FOREACH])
def test_the_schema_accepts_workflows_the_engine_runs(text: str) -> None:
    jsonschema.validate(parsed(text), schema())


@pytest.mark.parametrize(
    "change",
    [
        ("trigger-rule: none_failed", "trigger-rule: none_failes"),
        ("needs: [a]", "need: [a]"),
        ("call: test-echo", "run: test-echo"),
        ("type: Workflow", "type: Pipeline"),
    ],
)
def test_the_schema_refuses_what_the_loader_refuses(change: tuple[str, str]) -> None:
    old, new = change
    assert old in NEEDS
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(parsed(NEEDS.replace(old, new, 1)), schema())
