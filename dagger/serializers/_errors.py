"""Errors of the Avro serializer and the schema-registry client."""

from __future__ import annotations

from dagger.exceptions.exceptions import DaggerError


class AvroError(DaggerError):
    """Base class of the Avro serialization errors."""


class MalformedAvroMessage(AvroError, ValueError):
    """Bytes that are not a Confluent-framed Avro message of a known schema."""


class InvalidAvroRecord(AvroError, ValueError):
    """A record that does not match the Avro schema it is encoded with."""

    def __init__(self, message: str, *, subject: str | None = None) -> None:
        super().__init__(message)
        self.subject = subject


class SchemaRegistryError(AvroError):
    """The schema registry refused a request, answered nonsense, or could not be reached."""

    def __init__(
        self, message: str, *, status: int | None = None, error_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code


class SchemaNotFound(SchemaRegistryError):
    """The registry holds no schema with the requested id."""
