"""The published JSON Schema: a valid schema that accepts the format and refuses misspellings."""

from __future__ import annotations

import textwrap
from typing import Any

import jsonschema
import pytest
import yaml

from dagger.declarative import SCHEMA_PATH, schema
from tests.unit.declarative.test_matrix import FAILING, GRID
from tests.unit.declarative.test_repeating_stages import BASH, FOREACH, UNTIL
from tests.unit.declarative.test_running import CASE, ETL, NEEDS, SAGA
from tests.unit.declarative.test_trigger import FLOWS


def parsed(text: str) -> Any:
    return yaml.safe_load(textwrap.dedent(text))


def test_the_schema_is_a_valid_draft_2020_12_schema_shipped_with_the_package() -> None:
    jsonschema.Draft202012Validator.check_schema(schema())
    assert SCHEMA_PATH.name == "workflow.schema.json"


@pytest.mark.parametrize(
    "text",
    [ETL, SAGA, CASE, NEEDS, BASH, UNTIL, FOREACH, GRID, FAILING.replace("FAST", "true"), FLOWS],
)
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


@pytest.mark.parametrize(
    ("text", "old", "new"),
    [
        (GRID, "max-parallel: 2", "max-parallel: 0"),
        (GRID, "exclude:", "excluded:"),
        (GRID, "part: [1, 2]", "part: []"),
        (FLOWS, "trigger: child", "trigger: {name: child}"),
        (FLOWS, "params: {table:", "with: {table:"),
    ],
)
def test_the_schema_refuses_a_bad_matrix_or_trigger(text: str, old: str, new: str) -> None:
    assert old in text
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(parsed(text.replace(old, new, 1)), schema())
