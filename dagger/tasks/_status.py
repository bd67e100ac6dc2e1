"""Task status values, task kinds and the small records the task model shares."""

from __future__ import annotations

from enum import Enum
from typing import Any, TypeVar

from faust import Record

KT = TypeVar("KT")
VT = TypeVar("VT")


class TaskStatusEnum(str, Enum):
    """The state of a task.

    A member equals its name as a string (``TaskStatusEnum.COMPLETED == "COMPLETED"``), so
    the engine compares the stored ``status.code`` with the members themselves.
    """

    NOT_STARTED = "NOT_STARTED"
    SUBMITTED = "SUBMITTED"
    EXECUTING = "EXECUTING"
    COMPLETED = "COMPLETED"
    FAILURE = "FAILURE"
    SKIPPED = "SKIPPED"
    STOPPED = "STOPPED"


TERMINAL_STATUSES: frozenset[str] = frozenset(
    {
        TaskStatusEnum.COMPLETED,
        TaskStatusEnum.FAILURE,
        TaskStatusEnum.SKIPPED,
        TaskStatusEnum.STOPPED,
    }
)


class TaskType(Enum):
    """The place of a task in the workflow tree."""

    ROOT = "ROOT"
    SUB_DAG = "SUB_DAG"
    LEAF = "LEAF"
    PARALLEL_COMPOSITE = "PARALLEL_COMPOSITE"


class TaskOperator(Enum):
    """How the branches of a parallel task are joined."""

    ATLEAST_ONE = "ATLEAST_ONE"
    JOIN_ALL = "JOIN_ALL"


class TaskStatus(Record, serializer="json"):
    """The status of a task, as a ``code``/``value`` pair of a :class:`TaskStatusEnum`."""

    code: str = TaskStatusEnum.NOT_STARTED.name
    value: str = TaskStatusEnum.NOT_STARTED.value

    @classmethod
    def of(cls, status: TaskStatusEnum) -> TaskStatus:
        """Return the status record for ``status``."""
        return _STATUS_RECORDS[status]

    def __hash__(self) -> int:
        return hash(self.code)

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, TaskStatus) and other.code == self.code


_STATUS_RECORDS = {
    status: TaskStatus(code=status.name, value=status.value) for status in TaskStatusEnum
}


TaskLookupKey = tuple[KT, VT]
"""A correlation key: ``(name of a runtime parameter, its value)``."""


class CorreletableLookUpKey(Record, serializer="json"):
    """One waiting listener in the correlation index."""

    workflow_id: str
    task_id: str
    owner_partition: int = -1


class CorreletableKeyTasks(Record, serializer="json"):
    """One chunk of the listeners waiting under a correlation key.

    A key's listeners are stored in a chain of chunks of at most
    ``max_correletable_keys_in_values`` entries; ``overflow_key`` names the next chunk.
    """

    key: str
    lookup_keys: list[CorreletableLookUpKey] = []
    overflow_key: str | None = None

    def __post_init__(self) -> None:
        """Give each chunk its own list."""
        self.lookup_keys = list(self.lookup_keys)


class CorrelatableMapValue(Record, serializer="json"):
    """The correlation key name and value a waiting sensor task is indexed under."""

    correlatable_key: str
    key_value: Any


class Trigger(Record, serializer="json"):
    """A stored due time for a timed task."""

    id: str | None = None
    workflow_id: str | None = None
    trigger_time: float = 0.0

    def get_trigger_key(self) -> tuple[str | None, str | None]:
        """Return the key the trigger is stored under."""
        return self.workflow_id, self.id
