"""The intake topic: JSON records from any producer that each start a workflow instance.

A record's value is ``{"template", "id"?, "partition_key"?, "params"}`` (the schema is
``intake.schema.json`` beside this module, published as ``docs/schemas/intake.schema.json``);
an optional ``message-id`` header identifies it. The agent decodes and checks each record,
then starts the instance through an :class:`~dagger.runtime._starts.InstanceStarter` as
``template.create_instance(..., submit_task=True)`` does. Without an ``id`` the instance id
is derived from the message id (or the record's topic, partition and offset), so a record
read twice starts one instance. A record that cannot start an instance goes to the dead
letters with the reason, and the agent goes on with the next.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dagger.exceptions.exceptions import TemplateDoesNotExist
from dagger.runtime._dead_letter_writer import (
    ENGINE_ERROR,
    ID_REUSED,
    INTAKE_BAD_PARAMS,
    INTAKE_INVALID,
    INTAKE_MISSING_PARTITION_KEY,
    INTAKE_NOT_JSON,
    INTAKE_UNKNOWN_TEMPLATE,
    DeadLetterWriter,
)
from dagger.runtime._intake_schema import schema_violation
from dagger.runtime._starts import (
    InstanceStarter,
    MissingPartitionKey,
    StartRequest,
    check_partition_key,
    reuse_conflict,
    stable_id,
)
from dagger.tasks._base import ITemplateDAGInstance

__all__ = ["InstanceIntake", "IntakeRefused", "parse_intake_record"]

logger = logging.getLogger(__name__)

Headers = Mapping[str, bytes] | Sequence[tuple[str, bytes]] | None
InstanceLookup = Callable[[str], ITemplateDAGInstance[Any, Any] | None]
"""The instance with this id if this worker holds it, else None."""


class IntakeRefused(ValueError):
    """An intake record that cannot start an instance, with its dead-letter ``reason``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def parse_intake_record(raw: bytes, default_id: str) -> StartRequest:
    """Decode and check an intake record's value; ``default_id`` when it names no id.

    Raises:
        IntakeRefused: not JSON (``intake_not_json``) or not as the schema says
            (``intake_invalid``).
    """
    try:
        record = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise IntakeRefused(INTAKE_NOT_JSON, f"the record is not JSON: {exc}") from None
    violation = schema_violation(record)
    if violation is not None:
        raise IntakeRefused(
            INTAKE_INVALID, f"the record does not match the intake schema: {violation}"
        )
    return StartRequest(
        template=record["template"],
        instance_id=record.get("id") or default_id,
        params=dict(record["params"]),
        partition_key=record.get("partition_key"),
    )


class InstanceIntake:
    """Starts an instance for each intake record; dead-letters the records that cannot."""

    def __init__(
        self,
        *,
        starter: InstanceStarter,
        lookup: InstanceLookup,
        dead_letters: DeadLetterWriter,
        message_id_header: str | None,
    ) -> None:
        self._starter = starter
        self._lookup = lookup
        self._dead_letters = dead_letters
        self._message_id_header = message_id_header

    async def take(
        self, raw: bytes | None, origin: dict[str, Any], headers: Headers = None
    ) -> ITemplateDAGInstance[Any, Any] | None:
        """Start the instance the record at ``origin`` asks for; the instance, or None.

        None when the record was dead-lettered, and when its id names an instance that
        exists with the same template and params (a repeat: nothing to start).
        """
        try:
            request = parse_intake_record(raw or b"", self.default_id(origin, headers))
            return await self._start(request)
        except IntakeRefused as exc:
            await self._dead_letters.publish(exc.reason, exc, origin, raw, headers=headers)
        except Exception as exc:
            logger.exception("could not start an instance from the intake record at %s", origin)
            await self._dead_letters.publish(ENGINE_ERROR, exc, origin, raw, headers=headers)
        return None

    def default_id(self, origin: Mapping[str, Any], headers: Headers) -> str:
        """The id of an instance whose record names none: stable across redeliveries."""
        message_id = _header(headers, self._message_id_header)
        if message_id:
            return stable_id(f"{origin['topic']}#{message_id}")
        return stable_id(f"{origin['topic']}:{origin['partition']}:{origin['offset']}")

    async def _start(self, request: StartRequest) -> ITemplateDAGInstance[Any, Any] | None:
        existing = self._lookup(request.instance_id)
        if existing is not None:
            conflict = reuse_conflict(request, existing.template_name, existing.runtime_parameters)
            if conflict is not None:
                raise IntakeRefused(ID_REUSED, conflict)
            logger.info("intake: instance %s exists with these params", request.instance_id)
            return None
        try:
            check_partition_key(request)
            return await self._starter.start_instance(request)
        except TemplateDoesNotExist as exc:
            raise IntakeRefused(INTAKE_UNKNOWN_TEMPLATE, str(exc)) from exc
        except MissingPartitionKey as exc:
            raise IntakeRefused(INTAKE_MISSING_PARTITION_KEY, str(exc)) from exc
        except (TypeError, ValueError) as exc:
            raise IntakeRefused(
                INTAKE_BAD_PARAMS, f"template {request.template!r} refused the params: {exc}"
            ) from exc


def _header(headers: Headers, name: str | None) -> str | None:
    if not name or not headers:
        return None
    items = headers.items() if isinstance(headers, Mapping) else headers
    for header, value in items:
        if header == name and value:
            return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
    return None
