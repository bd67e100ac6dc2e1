"""``${{ ... }}`` expressions, evaluated by Jinja2's sandbox when a stage runs (never ``eval``).

A string that is one expression (``"${{ params.limit }}"``) gives the expression's value
as it is (a number stays a number); a string with expressions in text gives text. The
sandbox refuses what a template must not reach: attributes whose names start with an
underscore (``__class__``, ``__globals__``), and unsafe methods; an undefined name is an
error, not an empty string. ``a.b-c`` means the key ``b-c`` (parameter and job names may
have dashes), as in ddeutil-workflow.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateError, Undefined
from jinja2.sandbox import SandboxedEnvironment

_EXPRESSION = re.compile(r"\$\{\{\s*(.+?)\s*\}\}", re.DOTALL)
_DASHED = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)+)")


class ExpressionError(ValueError):
    """An expression that cannot be evaluated: the expression and why."""


def _fmt(value: Any, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """Format a datetime or date (or its ISO text) with ``strftime``."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if not isinstance(value, dt.date):
        raise TypeError(f"fmt takes a datetime or a date, got {value!r}")
    return value.strftime(fmt)


def _environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    env.filters["fmt"] = _fmt
    return env


_ENV = _environment()


def has_expression(value: Any) -> bool:
    """True when ``value`` is a string with a ``${{ ... }}`` in it."""
    return isinstance(value, str) and _EXPRESSION.search(value) is not None


def expressions(value: Any) -> list[str]:
    """Every expression in ``value`` (strings inside lists and mappings too)."""
    if isinstance(value, str):
        return [match.group(1) for match in _EXPRESSION.finditer(value)]
    if isinstance(value, Mapping):
        return [found for item in value.values() for found in expressions(item)]
    if isinstance(value, list):
        return [found for item in value for found in expressions(item)]
    return []


def check(expression: str) -> str | None:
    """Why ``expression`` does not parse, or None."""
    try:
        _ENV.compile_expression(_DASHED.sub(r"['\1']", expression), undefined_to_none=False)
    except TemplateError as exc:
        return str(exc)
    return None


def evaluate(expression: str, context: Mapping[str, Any]) -> Any:
    """The value of one expression in ``context``."""
    try:
        compiled = _ENV.compile_expression(
            _DASHED.sub(r"['\1']", expression), undefined_to_none=False
        )
        value = compiled(**context)
        if isinstance(value, Undefined):
            value._fail_with_undefined_error()
    except (TemplateError, TypeError, ValueError, LookupError, ArithmeticError) as exc:
        raise ExpressionError(f"${{{{ {expression} }}}}: {exc}") from exc
    return value


def render(value: Any, context: Mapping[str, Any]) -> Any:
    """``value`` with every expression in it evaluated (lists and mappings too)."""
    if isinstance(value, str):
        found = list(_EXPRESSION.finditer(value.strip()))
        if len(found) == 1 and found[0].group(0) == value.strip():
            return evaluate(found[0].group(1), context)
        return _EXPRESSION.sub(lambda match: str(evaluate(match.group(1), context)), value)
    if isinstance(value, Mapping):
        return {key: render(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, context) for item in value]
    return value
