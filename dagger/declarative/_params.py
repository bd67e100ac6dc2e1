"""Typed workflow parameters: declared in ``params``, checked when an instance is created.

Stored values are plain JSON (a ``datetime`` or ``date`` as ISO text); expressions see
them typed again (``params.run-date`` is a ``datetime``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

TYPES = ("str", "int", "float", "bool", "datetime", "date", "choice", "map", "array")

_MISSING: Any = object()

RESERVED = frozenset({"jobs"})
"""Runtime parameters the engine keeps for itself (the stages' outputs)."""


@dataclass(frozen=True)
class Param:
    """One declared parameter."""

    name: str
    type: str
    required: bool
    default: Any = _MISSING
    description: str = ""
    choices: tuple[Any, ...] = field(default_factory=tuple)

    @property
    def has_default(self) -> bool:
        """True when the parameter has a default value."""
        return self.default is not _MISSING


def missing() -> Any:
    """The marker of a parameter without a default."""
    return _MISSING


def coerce(param: Param, value: Any) -> Any:
    """``value`` as the JSON form of ``param``'s type; ValueError saying what was expected."""
    kind = param.type
    if kind == "str":
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
    elif kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
    elif kind == "float":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
    elif kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in {"true", "false", "1", "0"}:
            return value.strip().lower() in {"true", "1"}
    elif kind == "datetime":
        if isinstance(value, dt.datetime):
            return value.isoformat()
        if isinstance(value, dt.date):
            return dt.datetime.combine(value, dt.time()).isoformat()
        if isinstance(value, str):
            try:
                return dt.datetime.fromisoformat(value.strip()).isoformat()
            except ValueError:
                pass
    elif kind == "date":
        if isinstance(value, dt.datetime):
            return value.date().isoformat()
        if isinstance(value, dt.date):
            return value.isoformat()
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value.strip()).isoformat()
            except ValueError:
                pass
    elif kind == "choice":
        if value in param.choices:
            return value
        raise ValueError(f"must be one of {list(param.choices)}, got {value!r}")
    elif kind == "map":
        if isinstance(value, Mapping):
            return dict(value)
    elif kind == "array" and isinstance(value, list | tuple):
        return list(value)
    raise ValueError(f"must be {_expected(kind)}, got {value!r}")


def _expected(kind: str) -> str:
    return {
        "str": "a string",
        "int": "an integer",
        "float": "a number",
        "bool": "true or false",
        "datetime": "an ISO date and time (2024-01-31T08:00:00)",
        "date": "an ISO date (2024-01-31)",
        "map": "a mapping",
        "array": "a list",
    }[kind]


def validate(
    params: Mapping[str, Param], given: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The runtime parameters for ``given``, with defaults; and a message per bad field."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in given:
        if name not in params:
            known = ", ".join(params) or "none"
            errors[name] = f"is not a parameter of this workflow (its params: {known})"
    for name, param in params.items():
        if name in given and given[name] is not None:
            try:
                values[name] = coerce(param, given[name])
            except ValueError as exc:
                errors[name] = str(exc)
        elif param.has_default:
            values[name] = param.default
        elif param.required:
            errors[name] = f"is required ({param.type})"
    return values, errors


def typed(params: Mapping[str, Param], values: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters as expressions see them: datetimes and dates typed again."""
    shown = {name: value for name, value in values.items() if name not in RESERVED}
    for name, param in params.items():
        value = shown.get(name)
        if isinstance(value, str) and param.type == "datetime":
            shown[name] = dt.datetime.fromisoformat(value)
        elif isinstance(value, str) and param.type == "date":
            shown[name] = dt.date.fromisoformat(value)
    return shown
