"""``POST /templates/{name}/instances``: start an instance over HTTP, with the id rules.

The body is an intake record without ``template`` (the path names it): ``{"id"?,
"partition_key"?, "params"}``, checked against the same JSON Schema. An id not in use
starts an instance: 201 with its document. An id in use (on any worker) with the same
template and params answers 200 with the existing instance; with another template or
other params, 409 saying so. Two requests racing with one id may both see it free; the
owner then drops the second ``created`` event, dead-lettered as ``id_reused`` when its
params differ.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Protocol

from dagger.exceptions.exceptions import TemplateDoesNotExist
from dagger.runtime._intake_schema import schema_violation
from dagger.runtime._starts import (
    InstanceStarter,
    MissingPartitionKey,
    StartRequest,
    check_partition_key,
    reuse_conflict,
)
from dagger.web._documents import instance_document
from dagger.web._errors import ApiError, Reply
from dagger.web._instances import Caller, InstancesApi

__all__ = ["StartsApi", "TemplateStarter"]


class TemplateStarter(InstanceStarter, Protocol):
    """Starts instances and knows the registered templates (``Dagger``)."""

    def get_template(self, template_name: str) -> Any:
        """The registered template ``template_name``; TemplateDoesNotExist otherwise."""
        ...


class StartsApi:
    """Answers ``POST /templates/{name}/instances`` for one worker."""

    def __init__(self, engine: TemplateStarter, instances: InstancesApi) -> None:
        self._engine = engine
        self._instances = instances

    async def start(self, template: str, body: bytes, caller: Caller) -> Reply:
        """Start an instance of ``template``: 201 created, 200 existing, 409 refused."""
        request = _request(template, body)
        try:
            self._engine.get_template(template)
        except TemplateDoesNotExist as exc:
            raise ApiError(404, str(exc)) from None
        existing = await self._existing(request.instance_id, caller)
        if existing is not None:
            conflict = reuse_conflict(
                request,
                str(existing.get("template_name") or ""),
                existing.get("runtime_parameters") or {},
            )
            if conflict is not None:
                raise ApiError(409, conflict)
            return Reply(200, existing, {"Location": _location(request.instance_id)})
        try:
            check_partition_key(request)
            instance = await self._engine.start_instance(request)
        except MissingPartitionKey as exc:
            raise ApiError(422, str(exc)) from None
        except (TypeError, ValueError) as exc:
            raise ApiError(422, f"template {template!r} refused the params: {exc}") from None
        return Reply(201, instance_document(instance), {"Location": _location(instance.id)})

    async def _existing(self, instance_id: str, caller: Caller) -> dict[str, Any] | None:
        """The document of the instance ``instance_id`` on any worker, or None."""
        try:
            shown = await self._instances.show(instance_id, caller)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        if shown.status == 404:
            return None
        if shown.status != 200 or not isinstance(shown.body, dict):
            raise ApiError(503, f"could not tell whether instance {instance_id} exists; try again")
        return shown.body


def _request(template: str, body: bytes) -> StartRequest:
    try:
        fields = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(
            400, 'the body is not JSON; send {"params": {...}, "id"?: ..., "partition_key"?: ...}'
        ) from None
    if not isinstance(fields, dict):
        raise ApiError(400, "the body must be a JSON object")
    if "template" in fields:
        raise ApiError(400, "the body has no 'template': the path names the template")
    violation = schema_violation({"template": template, **fields})
    if violation is not None:
        raise ApiError(400, f"the body does not match the intake schema: {violation}")
    return StartRequest(
        template=template,
        instance_id=fields.get("id") or str(uuid.uuid4()),
        params=dict(fields["params"]),
        partition_key=fields.get("partition_key"),
    )


def _location(instance_id: str) -> str:
    return f"/tasks/instance/{instance_id}"
