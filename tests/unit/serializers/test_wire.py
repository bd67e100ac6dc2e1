"""The Confluent framing: magic byte 0, 4-byte big-endian schema id, body."""

from __future__ import annotations

import pytest

from dagger.serializers.avro import MAGIC_BYTE, MalformedAvroMessage, frame, unframe


def test_a_frame_is_the_magic_byte_the_big_endian_id_and_the_body() -> None:
    assert MAGIC_BYTE == 0
    assert frame(258, b"body") == b"\x00\x00\x00\x01\x02body"
    assert frame(0xFFFFFFFF, b"") == b"\x00\xff\xff\xff\xff"


def test_unframe_reverses_frame() -> None:
    assert unframe(frame(70000, b"\x02ab")) == (70000, b"\x02ab")
    assert unframe(bytearray(frame(1, b""))) == (1, b"")


@pytest.mark.parametrize("schema_id", [-1, 2**32])
def test_a_schema_id_is_an_unsigned_32_bit_integer(schema_id: int) -> None:
    with pytest.raises(ValueError, match="unsigned 32-bit"):
        frame(schema_id, b"")


@pytest.mark.parametrize("message", [b"", b"\x00", b"\x00\x00\x00\x01"])
def test_a_message_shorter_than_the_header_is_malformed(message: bytes) -> None:
    with pytest.raises(MalformedAvroMessage, match="5-byte header"):
        unframe(message)


def test_a_message_without_the_magic_byte_is_malformed() -> None:
    with pytest.raises(MalformedAvroMessage, match="first byte is 0x7b"):
        unframe(b'{"order_id": "o-1"}')


def test_a_message_that_is_not_bytes_is_malformed() -> None:
    with pytest.raises(MalformedAvroMessage, match="got str"):
        unframe("\x00\x00\x00\x00\x01")  # type: ignore[arg-type]
