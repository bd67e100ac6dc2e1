"""The allow-list of task classes stored instances may name.

Stored documents name each task's class by a key; decoding looks the key up here and
never imports anything, so stored bytes cannot make the engine build arbitrary objects.
Templates register the classes they use when they are built. A key no class is stored
under may be the old path of a renamed class (:func:`dagger.tasks.task.register_alias`):
it then means that class, if a registered template uses it.
"""

from __future__ import annotations

from typing import Any

from dagger.exceptions.exceptions import UnknownTaskClass
from dagger.tasks._aliases import TaskClassAliases, dotted, task_class_aliases
from dagger.tasks._base import ITask

TaskClass = type[ITask[Any, Any]]


def class_key(cls: type) -> str:
    """Return the stable key a task class is stored under."""
    return f"{cls.__module__}:{cls.__qualname__}"


class TaskClassRegistry:
    """Maps stored class keys to the task classes registered templates use."""

    def __init__(self, aliases: TaskClassAliases = task_class_aliases) -> None:
        self._classes: dict[str, TaskClass] = {}
        self._aliases = aliases

    def register(self, cls: TaskClass) -> str:
        """Allow ``cls`` in stored instances and return its key."""
        if not (isinstance(cls, type) and issubclass(cls, ITask)):
            raise TypeError(f"{cls!r} is not an ITask subclass")
        key = class_key(cls)
        self._classes[key] = cls
        return key

    def resolve(self, key: str) -> TaskClass:
        """Return the class stored under ``key``, or the one it is an alias of."""
        found = self._classes.get(key)
        if found is not None:
            return found
        aliased = self._aliases.get(key)
        if aliased is not None:
            found = self._classes.get(class_key(aliased))
            if found is not None:
                return found
            raise UnknownTaskClass(
                f"stored instance names task class {key!r}, an alias of {class_key(aliased)}, "
                "which no registered template uses",
                class_path=key,
            )
        raise UnknownTaskClass(
            f"stored instance names task class {key!r}, which no registered template uses: "
            f"if it was renamed or moved, put @register_alias({dotted(key)!r}) on the new "
            "class; if it was removed, bring it back until its instances have finished",
            class_path=key,
        )

    def __contains__(self, key: object) -> bool:
        return key in self._classes


task_classes = TaskClassRegistry()
"""The process-wide registry the templates fill."""
