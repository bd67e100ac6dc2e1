"""The allow-list of task classes stored instances may name.

Stored documents name each task's class by a key; decoding looks the key up here and
never imports anything, so stored bytes cannot make the engine build arbitrary objects.
Templates register the classes they use when they are built.
"""

from __future__ import annotations

from typing import Any

from dagger.exceptions.exceptions import UnknownTaskClass
from dagger.tasks._base import ITask

TaskClass = type[ITask[Any, Any]]


def class_key(cls: type) -> str:
    """Return the stable key a task class is stored under."""
    return f"{cls.__module__}:{cls.__qualname__}"


class TaskClassRegistry:
    """Maps stored class keys to the task classes registered templates use."""

    def __init__(self) -> None:
        self._classes: dict[str, TaskClass] = {}

    def register(self, cls: TaskClass) -> str:
        """Allow ``cls`` in stored instances and return its key."""
        if not (isinstance(cls, type) and issubclass(cls, ITask)):
            raise TypeError(f"{cls!r} is not an ITask subclass")
        key = class_key(cls)
        self._classes[key] = cls
        return key

    def resolve(self, key: str) -> TaskClass:
        """Return the class stored under ``key``."""
        try:
            return self._classes[key]
        except KeyError:
            raise UnknownTaskClass(
                f"stored instance names task class {key!r}, which no registered template uses"
            ) from None

    def __contains__(self, key: object) -> bool:
        return key in self._classes


task_classes = TaskClassRegistry()
"""The process-wide registry the templates fill."""
