"""The declarative integration tests' YAML files and the function their ``call`` stages run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagger.declarative

FLOWS = Path(__file__).with_name("declarative_flows.yaml")
TRIGGER_FLOWS = Path(__file__).with_name("declarative_trigger_flows.yaml")


@dagger.declarative.task("it-echo")
def echo(value: Any) -> Any:
    """Returns ``value``: the stage's outputs are ``{"result": value}``."""
    return value
