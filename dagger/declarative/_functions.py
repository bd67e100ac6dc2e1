"""The Python functions ``call`` stages may run, registered by name with ``@task("name")``.

YAML never names code to import: a ``call`` stage names a function registered here, and
its ``with:`` arguments are checked against the function's signature when the file loads.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from dagger.declarative._templating import has_expression

F = TypeVar("F", bound=Callable[..., Any])

_FUNCTIONS: dict[str, Callable[..., Any]] = {}

_PLAIN_TYPES: dict[Any, tuple[type, ...]] = {
    str: (str,),
    int: (int,),
    float: (int, float),
    bool: (bool,),
    dict: (dict,),
    list: (list,),
}


def task(name: str) -> Callable[[F], F]:
    """Register the decorated function (plain or ``async``) for ``call: name`` stages.

    Its keyword arguments come from the stage's ``with:``; its return value becomes the
    stage's outputs (a mapping as it is, anything else as ``{"result": value}``).

    Examples:
        >>> @task("load-table")  # doctest: +SKIP
        ... async def load_table(table: str, limit: int = 100) -> dict[str, int]:
        ...     return {"rows": limit}
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"a task name must be a non-empty string, got {name!r}")

    def register(function: F) -> F:
        if not callable(function):
            raise TypeError(f"@task({name!r}) decorates a function, got {function!r}")
        existing = _FUNCTIONS.get(name)
        if (
            existing is not None
            and existing is not function
            and _qualified(existing) != _qualified(function)
        ):
            raise ValueError(
                f"task name {name!r} is already registered for {_qualified(existing)}; "
                "choose another name"
            )
        _FUNCTIONS[name] = function
        return function

    return register


def _qualified(function: Callable[..., Any]) -> str:
    return f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', function)}"


def function(name: str) -> Callable[..., Any]:
    """The function registered as ``name``; KeyError naming the registered ones."""
    try:
        return _FUNCTIONS[name]
    except KeyError:
        raise KeyError(
            f"no function is registered as {name!r}; registered: {sorted(_FUNCTIONS)}"
        ) from None


def registered() -> list[str]:
    """The names registered so far."""
    return sorted(_FUNCTIONS)


def check_arguments(name: str, arguments: Mapping[str, Any]) -> list[tuple[str | None, str]]:
    """What is wrong with calling ``name`` with ``arguments``: (argument or None, message).

    Unknown and missing arguments are errors; a literal (not templated) value whose
    parameter is annotated ``str``, ``int``, ``float``, ``bool``, ``dict`` or ``list`` must
    be of that type.
    """
    target = function(name)
    signature = inspect.signature(target)
    shown = f"{name}{signature}"
    try:
        signature.bind(**arguments)
    except TypeError as exc:
        return [(None, f"{shown}: {exc}")]
    try:
        hints = typing.get_type_hints(target)
    except Exception:  # annotations that cannot be resolved are not checked
        hints = {}
    problems: list[tuple[str | None, str]] = []
    for argument, value in arguments.items():
        wanted = _PLAIN_TYPES.get(hints.get(argument))
        if wanted is None or has_expression(value):
            continue
        if not isinstance(value, wanted) or (bool not in wanted and isinstance(value, bool)):
            problems.append(
                (argument, f"{shown}: {argument} takes {wanted[-1].__name__}, got {value!r}")
            )
    return problems
