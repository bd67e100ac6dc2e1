"""Encode workflow instances to compact JSON documents and decode them back.

A document holds the root's fields and one entry per task: the index of its class in the
document's class table and the fields that differ from the class defaults. Decoding builds
classes from the :class:`~dagger.core._registry.TaskClassRegistry` only.
"""

from __future__ import annotations

from typing import Any

from faust.utils import json as faust_json

from dagger import _faust_internals as faust_internals
from dagger.core._registry import TaskClassRegistry, class_key, task_classes
from dagger.exceptions.exceptions import UnknownTaskClass
from dagger.tasks._base import ITask, ITemplateDAGInstance
from dagger.tasks._status import TaskStatus, TaskStatusEnum

FORMAT_VERSION = 1
_ROOT_ONLY_FIELDS = frozenset({"tasks", "runtime_parameters", "applied_events"})
_DEFAULTS_CACHE: dict[type, dict[str, Any]] = {}


def dumps(data: Any) -> bytes:
    """Serialise plain data to JSON bytes (UUID, datetime and Decimal become strings)."""
    result: bytes | str = faust_json.dumps(data)
    return result if isinstance(result, bytes) else result.encode()


def loads(raw: bytes | str) -> Any:
    """Parse JSON bytes (or text)."""
    return faust_json.loads(raw)  # type: ignore[arg-type]  # orjson and json take bytes


def to_document(instance: ITemplateDAGInstance[Any, Any]) -> dict[str, Any]:
    """Return the plain-data document of ``instance``."""
    classes: list[str] = []
    class_index: dict[type, int] = {}

    def index_of(cls: type) -> int:
        if cls not in class_index:
            class_index[cls] = len(classes)
            classes.append(class_key(cls))
        return class_index[cls]

    root_fields = _changed_fields(instance)
    root_fields["runtime_parameters"] = instance.runtime_parameters
    root_fields["applied_events"] = instance.applied_events
    return {
        "v": FORMAT_VERSION,
        "c": index_of(type(instance)),
        "f": root_fields,
        "t": [[index_of(type(task)), _changed_fields(task)] for task in instance.tasks.values()],
        "classes": classes,
    }


def from_document(
    document: dict[str, Any], registry: TaskClassRegistry = task_classes
) -> ITemplateDAGInstance[Any, Any]:
    """Build the instance a document describes."""
    version = document.get("v")
    if version != FORMAT_VERSION:
        raise ValueError(f"unsupported instance document version {version!r}")
    classes = [registry.resolve(key) for key in document["classes"]]
    root = _build(classes[document["c"]], document["f"])
    if not isinstance(root, ITemplateDAGInstance):
        raise TypeError(f"document root is a {type(root).__name__}, not a workflow instance")
    for cls_index, fields in document["t"]:
        task = _build(classes[cls_index], fields)
        root.tasks[task.id] = task
    return root


def encode(instance: ITemplateDAGInstance[Any, Any]) -> bytes:
    """Return the JSON bytes stored for ``instance``."""
    return dumps(to_document(instance))


def decode(
    raw: bytes | str, registry: TaskClassRegistry = task_classes
) -> ITemplateDAGInstance[Any, Any]:
    """Build an instance from stored JSON bytes."""
    return from_document(loads(raw), registry)


def root_fields(
    raw: bytes | str, names: tuple[str, ...], registry: TaskClassRegistry = task_classes
) -> dict[str, Any]:
    """Read the root's fields ``names`` from stored bytes without building the instance.

    Listing and filtering many instances needs a few root fields of each; building every
    task of every instance would cost far more. ``status`` is given as its code. A root
    class that is not registered reads with the defaults of ``ITemplateDAGInstance``.
    """
    document = loads(raw)
    if document.get("v") != FORMAT_VERSION:
        raise ValueError(f"unsupported instance document version {document.get('v')!r}")
    stored = document["f"]
    try:
        defaults = _defaults_of(registry.resolve(document["classes"][document["c"]]))
    except UnknownTaskClass:
        # The root's class is gone: its fields still read, with the base class's defaults,
        # so that the instance can be listed as undecodable.
        defaults = _defaults_of(ITemplateDAGInstance)
    return {name: stored[name] if name in stored else defaults.get(name) for name in names}


def _changed_fields(task: ITask[Any, Any]) -> dict[str, Any]:
    defaults = _defaults_of(type(task))
    values = task.__dict__  # what the field descriptors store; read without them
    fields: dict[str, Any] = {}
    for name in faust_internals.record_fields(type(task)):
        if name in _ROOT_ONLY_FIELDS:
            continue
        value = values[name] if name in values else getattr(task, name)
        if name == "status":
            value = value.code
        if name in defaults and defaults[name] == value:
            continue
        fields[name] = value
    return fields


def _defaults_of(cls: type[ITask[Any, Any]]) -> dict[str, Any]:
    cached = _DEFAULTS_CACHE.get(cls)
    if cached is None:
        cached = {}
        for name, default in faust_internals.record_defaults(cls).items():
            cached[name] = default.code if isinstance(default, TaskStatus) else default
        _DEFAULTS_CACHE[cls] = cached
    return cached


def _build(cls: type[ITask[Any, Any]], fields: dict[str, Any]) -> ITask[Any, Any]:
    known = faust_internals.record_fields(cls)
    kwargs = {name: value for name, value in fields.items() if name in known}
    status = kwargs.get("status")
    if status is not None:
        kwargs["status"] = TaskStatus.of(TaskStatusEnum[status])
    direct = _direct_build_of(cls)
    if direct is None or not direct.plain.issuperset(kwargs):
        return cls(**kwargs)
    # The fields are plain (their descriptors store values as given), so set them the
    # way faust's generated __init__ would, without a descriptor call per field: decoding
    # is on the path of every engine event.
    task, values = faust_internals.bare_record(cls)
    values.update(direct.defaults)
    values.update(kwargs)
    for name in direct.optional.intersection(kwargs):
        if kwargs[name] is None:  # as faust's __init__: an optional None is its default
            values[name] = direct.defaults[name]
    missing = direct.required.difference(kwargs)
    if missing:
        raise TypeError(f"stored {cls.__name__} lacks the fields {sorted(missing)}")
    task.__post_init__()
    return task


class _DirectBuild:
    """What building ``cls`` without its ``__init__`` needs: defaults and plain fields."""

    def __init__(self, cls: type[ITask[Any, Any]]) -> None:
        self.defaults = dict(faust_internals.record_defaults(cls))
        self.required = frozenset(faust_internals.record_fields(cls)).difference(self.defaults)
        self.optional = faust_internals.record_optional_fields(cls)
        # Lazy coercion happens on first read, the same either way.
        self.plain = faust_internals.plain_record_fields(cls)


_DIRECT_BUILDS: dict[type, _DirectBuild | None] = {}


def _direct_build_of(cls: type[ITask[Any, Any]]) -> _DirectBuild | None:
    """How to build ``cls`` directly, or None when its records validate on init."""
    if cls not in _DIRECT_BUILDS:
        validates = faust_internals.record_validates(cls)
        _DIRECT_BUILDS[cls] = None if validates else _DirectBuild(cls)
    return _DIRECT_BUILDS[cls]
