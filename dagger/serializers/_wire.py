"""The Confluent wire format: magic byte 0, a 4-byte big-endian schema id, then the body.

Pure framing, no Avro: used by the serializer and by anyone inspecting raw topic bytes.
"""

from __future__ import annotations

import struct

from dagger.serializers._errors import MalformedAvroMessage

MAGIC_BYTE = 0
HEADER_SIZE = 5
_HEADER = struct.Struct(">bI")


def frame(schema_id: int, body: bytes) -> bytes:
    """Return ``body`` prefixed with the magic byte and ``schema_id``."""
    if not 0 <= schema_id <= 0xFFFFFFFF:
        raise ValueError(f"a schema id is an unsigned 32-bit integer, got {schema_id}")
    return _HEADER.pack(MAGIC_BYTE, schema_id) + body


def unframe(message: bytes) -> tuple[int, bytes]:
    """Return ``(schema_id, body)`` of a framed message; MalformedAvroMessage if it is not one."""
    if not isinstance(message, (bytes, bytearray, memoryview)):
        raise MalformedAvroMessage(f"an Avro message is bytes, got {type(message).__name__}")
    if len(message) < HEADER_SIZE:
        raise MalformedAvroMessage(
            f"an Avro message has a {HEADER_SIZE}-byte header, got {len(message)} byte(s)"
        )
    magic, schema_id = _HEADER.unpack_from(message)
    if magic != MAGIC_BYTE:
        raise MalformedAvroMessage(
            f"not a Confluent Avro message: first byte is 0x{message[0]:02x}, "
            f"expected the magic byte 0x{MAGIC_BYTE:02x}"
        )
    return int(schema_id), bytes(message[HEADER_SIZE:])
