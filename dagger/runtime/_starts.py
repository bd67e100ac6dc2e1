"""Starting an instance from outside Python: the request, the starter seam, the id rules.

The intake topic's agent (:mod:`dagger.runtime._intake`) and ``POST
/templates/{name}/instances`` (:mod:`dagger.web._starts`) both start instances through an
:class:`InstanceStarter`, which ``Dagger`` is (the runtime may not import the service
layer). Both apply the same id rule: an id already in use with the same template and
params names the existing instance; with another template or other params it is refused
(:func:`reuse_conflict`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from dagger.exceptions.exceptions import DaggerError
from dagger.tasks._base import ITemplateDAGInstance

__all__ = [
    "RESERVED_PARAMS",
    "InstanceStarter",
    "MissingPartitionKey",
    "StartRequest",
    "reuse_conflict",
    "stable_id",
]

RESERVED_PARAMS = frozenset({"id", "partition_key_lookup", "repartition", "seed", "submit_task"})
"""Names ``create_instance`` takes itself, so no runtime parameter may have them."""

_ID_NAMESPACE = uuid.UUID("5b0f6c1e-3a52-4a0e-9d55-6a1d2f4c8e01")
"""The namespace of the ids derived from intake records (UUID 5)."""


@dataclass(frozen=True)
class StartRequest:
    """Start an instance of ``template`` with ``params``, keyed by ``partition_key``."""

    template: str
    instance_id: str
    params: dict[str, Any] = field(default_factory=dict)
    partition_key: str | None = None
    """The name of the parameter whose value picks the owner partition (None: the id)."""


class MissingPartitionKey(DaggerError, ValueError):
    """``partition_key`` names no parameter of the request."""

    def __init__(self, partition_key: str, params: Mapping[str, Any]) -> None:
        super().__init__(
            f"partition_key {partition_key!r} names no parameter; params has "
            f"{sorted(params) or 'none'}: add {partition_key!r} to params"
        )
        self.partition_key = partition_key


class InstanceStarter(Protocol):
    """What creates and submits an instance (``Dagger``; a test may give anything that does)."""

    async def start_instance(self, request: StartRequest) -> ITemplateDAGInstance[Any, Any]:
        """Create the instance ``request`` describes and submit it, as
        ``template.create_instance(id, partition_key, submit_task=True, **params)`` does.

        Raises ``TemplateDoesNotExist`` for an unknown template, :class:`MissingPartitionKey`,
        or what the template raises for params it refuses.
        """
        ...


def check_partition_key(request: StartRequest) -> None:
    """Raise :class:`MissingPartitionKey` when the request's key parameter is missing."""
    if request.partition_key and request.params.get(request.partition_key) is None:
        raise MissingPartitionKey(request.partition_key, request.params)


def stable_id(source: str) -> str:
    """The instance id derived from ``source`` (a message id, or topic:partition:offset)."""
    return str(uuid.uuid5(_ID_NAMESPACE, source))


def reuse_conflict(
    request: StartRequest, template: str, parameters: Mapping[str, Any]
) -> str | None:
    """Why ``request`` may not reuse the id of an instance of ``template``; None if it may.

    The params are compared with the instance's runtime parameters as they are now: each
    param of the request must be there with the same (JSON) value. Parameters its tasks
    added do not matter; a task that changed a start parameter makes a repeat a conflict.
    """
    if template != request.template:
        return (
            f"instance {request.instance_id} exists as an instance of template {template!r}, "
            f"not {request.template!r}; use another id"
        )
    differing = sorted(
        name
        for name, value in request.params.items()
        if name not in parameters or _canonical(parameters[name]) != _canonical(value)
    )
    if differing:
        return (
            f"instance {request.instance_id} exists with other params (differing: "
            f"{', '.join(differing)}); an id is started once: use another id, or repeat "
            "the same params to get the existing instance"
        )
    return None


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def created_conflict(
    existing: ITemplateDAGInstance[Any, Any], document: Mapping[str, Any]
) -> str | None:
    """Why a ``created`` event's instance ``document`` may not reuse ``existing``'s id."""
    fields = document.get("f") or {}
    request = StartRequest(
        template=str(fields.get("template_name") or ""),
        instance_id=existing.id,
        params=dict(fields.get("runtime_parameters") or {}),
    )
    return reuse_conflict(request, existing.template_name, existing.runtime_parameters)
