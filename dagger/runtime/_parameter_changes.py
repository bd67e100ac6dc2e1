"""What a task's hook changed in the runtime parameters, recorded with the task.

Around a task's ``execute`` (and a listener's ``on_message``) the owner takes a JSON copy
of the runtime parameters; when the hook returns or raises, each key whose value differs
is recorded in the task's ``parameter_changes`` as ``{"before": seen, "after": left}``
(``before`` absent for a key the hook added, ``after`` absent for one it removed). Keys
the hook did not change are not recorded, so an instance grows by what its tasks change,
not by a copy of its parameters per task. A task whose hooks run more than once (a
listener taking several messages, an interval task) keeps the value its first change saw
and the value its last one left; a key set back to what it saw is dropped. A rerun or a
retry of the task forgets the record with the rest of its earlier run.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from dagger.core import _codec as codec
from dagger.tasks._base import ITask

_ABSENT = object()


@contextmanager
def recorded(parameters: dict[str, Any], task: ITask[Any, Any]) -> Iterator[None]:
    """Record in ``task`` what the block changes in ``parameters``."""
    try:
        seen = _copy(parameters)
    except (TypeError, ValueError):
        seen = None  # JSON cannot hold them: the step fails the instance for it
    try:
        yield
    finally:
        if seen is not None:
            record(task, seen, parameters)


def record(task: ITask[Any, Any], seen: Mapping[str, Any], left: Mapping[str, Any]) -> None:
    """Merge into ``task.parameter_changes`` how ``left`` differs from ``seen``."""
    changes = task.parameter_changes
    for key in sorted(set(seen) | set(left), key=str):
        before = seen.get(key, _ABSENT)
        after = left.get(key, _ABSENT)
        if before == after:
            continue
        if after is not _ABSENT:
            try:
                after = _copy(after)  # JSON-normal (a datetime as text), and not shared
            except (TypeError, ValueError):
                after = repr(after)
            if before == after:
                continue
        entry = changes.get(key)
        if entry is None:
            entry = {} if before is _ABSENT else {"before": before}
        entry = {name: value for name, value in entry.items() if name == "before"}
        if after is not _ABSENT:
            entry["after"] = after
        if entry.get("before", _ABSENT) == entry.get("after", _ABSENT):
            changes.pop(key, None)  # back to what it first saw
        else:
            changes[key] = entry


def _copy(value: Any) -> Any:
    """A JSON copy of ``value``: TypeError or ValueError when JSON cannot hold it."""
    return codec.loads(codec.dumps(value))
