"""Old names of renamed task classes, so stored instances naming them still decode.

A stored instance names each task's class by its path (``module:QualName``). Renaming or
moving a class while instances of it are in flight would leave those instances naming a
class that no longer exists; :func:`register_alias` on the new class says which old
paths mean it. An alias names code the user wrote, never stored bytes, and the class it
leads to must still be one a registered template uses: the allow-list stays closed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from dagger.tasks._base import ITask

__all__ = ["TaskClassAliases", "dotted", "register_alias", "task_class_aliases"]

_C = TypeVar("_C", bound=type[ITask[Any, Any]])
_PATH = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*([.:][A-Za-z_]\w*(\.[A-Za-z_]\w*)*)?$")


def dotted(path: str) -> str:
    """``module:QualName`` or ``module.QualName`` as one dotted path, the alias table's key."""
    return path.replace(":", ".")


class TaskClassAliases:
    """Maps the old paths of renamed task classes to the classes they now mean."""

    def __init__(self) -> None:
        self._classes: dict[str, type[ITask[Any, Any]]] = {}

    def add(self, old_path: str, cls: type[ITask[Any, Any]]) -> None:
        """Make ``old_path`` (``"old.module.OldTask"`` or ``"old.module:OldTask"``) mean ``cls``."""
        if not (isinstance(cls, type) and issubclass(cls, ITask)):
            raise TypeError(
                f"register_alias decorates task classes (ITask subclasses), not {cls!r}"
            )
        if not isinstance(old_path, str) or not _PATH.match(old_path):
            raise ValueError(
                f"a task class alias is the class's old path, 'package.module.ClassName' "
                f"(or 'package.module:ClassName'), got {old_path!r}"
            )
        key = dotted(old_path)
        current = self._classes.get(key)
        if current is not None and _path_of(current) != _path_of(cls):
            raise ValueError(
                f"{old_path!r} is already an alias of {_path_of(current)}; an old path can "
                f"mean one class only, so remove one of the two register_alias decorators"
            )
        if key == dotted(_path_of(cls)):
            raise ValueError(f"{old_path!r} is the path of {cls.__qualname__} itself, not an alias")
        self._classes[key] = cls

    def get(self, path: str) -> type[ITask[Any, Any]] | None:
        """The class ``path`` is an alias of, or None."""
        return self._classes.get(dotted(path))

    def of(self, cls: type) -> list[str]:
        """The old paths that mean ``cls``."""
        return sorted(path for path, aliased in self._classes.items() if aliased is cls)

    def remove(self, old_path: str) -> None:
        """Forget the alias ``old_path`` (tests use it to undo theirs)."""
        self._classes.pop(dotted(old_path), None)


task_class_aliases = TaskClassAliases()
"""The process-wide alias table :func:`register_alias` fills."""


def register_alias(*old_paths: str) -> Callable[[_C], _C]:
    """Class decorator: stored instances naming any of ``old_paths`` decode to this class.

    Use it when renaming or moving a task class while instances of it are in flight; keep
    it until no stored instance names the old path (each instance is stored under the new
    name the next time it changes).

    Example:
        >>> from dagger.tasks.task import ExecutorTask, register_alias
        >>> @register_alias("orders.tasks.ChargeCard")
        ... class ChargePayment(ExecutorTask):
        ...     async def execute(self, runtime_parameters, workflow_instance=None):
        ...         ...
    """
    if not old_paths:
        raise TypeError('register_alias needs the old path, e.g. @register_alias("pkg.mod.Old")')

    def decorate(cls: _C) -> _C:
        for old_path in old_paths:
            task_class_aliases.add(old_path, cls)
        return cls

    return decorate


def _path_of(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"
