"""Engine-topic records: JSON envelopes around the two log events."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dagger.core._events import InstanceCreated, InstanceSubmitted
from dagger.core._wire import MalformedEvent, decode_event, encode_event

DOCUMENT = {"v": 1, "c": 0, "f": {"id": "i-1", "runtime_parameters": {"k": "é"}}, "t": []}


@pytest.mark.parametrize(
    "event",
    [
        InstanceCreated("e-1", "i-1", DOCUMENT, submit=True),
        InstanceCreated("e-2", "i-2", DOCUMENT, submit=False),
        InstanceSubmitted("e-3", "i-3"),
    ],
)
def test_events_round_trip(event: Any) -> None:
    raw = encode_event(event)

    assert isinstance(raw, bytes)
    assert decode_event(raw) == event
    assert decode_event(raw.decode()) == event


def test_a_created_record_is_a_plain_json_envelope() -> None:
    raw = encode_event(InstanceCreated("e-1", "i-1", DOCUMENT, submit=True))

    assert json.loads(raw) == {
        "type": "created",
        "id": "e-1",
        "instance": "i-1",
        "document": DOCUMENT,
        "submit": True,
    }


def test_a_submitted_record_is_a_plain_json_envelope() -> None:
    raw = encode_event(InstanceSubmitted("e-3", "i-3"))

    assert json.loads(raw) == {"type": "submitted", "id": "e-3", "instance": "i-3"}


def test_a_created_record_without_submit_does_not_submit() -> None:
    raw = json.dumps({"type": "created", "id": "e", "instance": "i", "document": {}})

    assert decode_event(raw) == InstanceCreated("e", "i", {}, submit=False)


@pytest.mark.parametrize(
    "raw",
    [
        None,
        b"",
        b"\xff\xfe\x00",
        b"{not json",
        b"null",
        b"42",
        b'"submitted"',
        b"[]",
        b'{"id": "e", "instance": "i"}',
        b'{"type": "submitted", "instance": "i"}',
        b'{"type": "submitted", "id": "e"}',
        b'{"type": "deleted", "id": "e", "instance": "i"}',
        b'{"type": "created", "id": "e", "instance": "i"}',
        b'{"type": "created", "id": "e", "instance": "i", "document": [1]}',
        b'{"type": "created", "id": "e", "instance": "i", "document": "{}"}',
    ],
)
def test_malformed_records_raise_malformed_event(raw: bytes | None) -> None:
    with pytest.raises(MalformedEvent):
        decode_event(raw)


def test_malformed_event_is_a_value_error() -> None:
    assert issubclass(MalformedEvent, ValueError)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"type": "submitted", "id": null, "instance": "i"}',
        b'{"type": "submitted", "id": "e", "instance": null}',
    ],
)
def test_null_ids_are_malformed(raw: bytes) -> None:
    with pytest.raises(MalformedEvent):
        decode_event(raw)
