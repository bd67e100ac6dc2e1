"""The declarative integration test's YAML file and the function its ``call`` stage runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagger.declarative

FLOWS = Path(__file__).with_name("declarative_flows.yaml")


@dagger.declarative.task("it-echo")
def echo(value: Any) -> Any:
    """Returns ``value``: the stage's outputs are ``{"result": value}``."""
    return value
