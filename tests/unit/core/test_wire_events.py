"""Engine-topic records of the correlation events, and correlation index keys."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from dagger.core._events import (
    HeldMessagesSwept,
    IndexAdded,
    IndexRemoved,
    InstanceCreated,
    InstanceSubmitted,
    MessageDelivered,
    MessageReceived,
)
from dagger.core._keys import SEPARATOR, index_key, split_index_key
from dagger.core._wire import MalformedEvent, decode_event, encode_event

KEY = index_key("pizza_status", "order_id", "o-1")
BINARY = bytes(range(256))
ORIGIN = {"topic": "pizza_status", "partition": 3, "offset": 17}

EVENTS: list[Any] = [
    InstanceCreated("e-0", "i-1", {"v": 1}, submit=True),
    InstanceSubmitted("e-1", "i-1"),
    MessageReceived("m-1", KEY, "pizza_status", b'{"order_id": "o-1"}', ORIGIN),
    MessageReceived("m-2", KEY, "pizza_status", BINARY, {}, match_only_one=True),
    IndexAdded("a-1", KEY, "i-1", "t-1", 5),
    IndexAdded("a-2", KEY, "i-1", "t-1", 0),
    IndexRemoved("r-1", KEY, "i-1", "t-1"),
    MessageDelivered("d-1", "i-1", "t-1", "pizza_status", b'{"status": "READY"}', ORIGIN),
    MessageDelivered("d-2", "i-1", "t-1", "pizza_status", b"", {}),
    MessageDelivered("d-3", "i-1", "t-1", "pizza_status", BINARY, {"nested": {"a": [1]}}),
    HeldMessagesSwept("s-1"),
    HeldMessagesSwept("s-2", 1_700_000_000.25),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda event: f"{type(event).__name__}")
def test_every_event_kind_round_trips(event: Any) -> None:
    raw = encode_event(event)

    assert isinstance(raw, bytes)
    assert decode_event(raw) == event
    assert decode_event(raw.decode()) == event


def test_a_message_record_is_a_plain_json_envelope() -> None:
    event = MessageReceived("m-1", KEY, "pizza_status", BINARY, ORIGIN, match_only_one=True)

    body = json.loads(encode_event(event))

    assert body == {
        "type": "message",
        "id": "m-1",
        "key": KEY,
        "topic": "pizza_status",
        "payload": base64.b64encode(BINARY).decode(),
        "origin": ORIGIN,
        "match_only_one": True,
    }


def test_index_records_are_plain_json_envelopes() -> None:
    added = json.loads(encode_event(IndexAdded("a-1", KEY, "i-1", "t-1", 5)))
    removed = json.loads(encode_event(IndexRemoved("r-1", KEY, "i-1", "t-1")))

    assert added == {
        "type": "index_add",
        "id": "a-1",
        "key": KEY,
        "instance": "i-1",
        "task": "t-1",
        "owner": 5,
    }
    assert removed == {
        "type": "index_remove",
        "id": "r-1",
        "key": KEY,
        "instance": "i-1",
        "task": "t-1",
    }


def test_a_delivery_record_is_a_plain_json_envelope() -> None:
    event = MessageDelivered("d-1", "i-1", "t-1", "pizza_status", b"{}", ORIGIN)

    assert json.loads(encode_event(event)) == {
        "type": "deliver",
        "id": "d-1",
        "instance": "i-1",
        "task": "t-1",
        "topic": "pizza_status",
        "payload": base64.b64encode(b"{}").decode(),
        "origin": ORIGIN,
    }


def test_a_sweep_record_is_a_plain_json_envelope() -> None:
    assert json.loads(encode_event(HeldMessagesSwept("s-1"))) == {"type": "sweep", "id": "s-1"}


def test_optional_fields_have_defaults() -> None:
    message = {"type": "message", "id": "m", "key": KEY, "topic": "t", "payload": ""}
    deliver = {"type": "deliver", "id": "d", "instance": "i", "task": "t", "topic": "x"}

    assert decode_event(json.dumps(message)) == MessageReceived("m", KEY, "t", b"", {}, False)
    assert decode_event(json.dumps({**deliver, "payload": "", "origin": None})) == (
        MessageDelivered("d", "i", "t", "x", b"", {})
    )


def _record(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


GOOD: dict[str, dict[str, Any]] = {
    "message": {"key": KEY, "topic": "t", "payload": "e30=", "origin": {}},
    "index_add": {"key": KEY, "instance": "i", "task": "t", "owner": 1},
    "index_remove": {"key": KEY, "instance": "i", "task": "t"},
    "deliver": {"instance": "i", "task": "t", "topic": "x", "payload": "e30=", "origin": {}},
}
GOOD_EVENTS: dict[str, Any] = {
    "message": MessageReceived("e", KEY, "t", b"{}", {}),
    "index_add": IndexAdded("e", KEY, "i", "t", 1),
    "index_remove": IndexRemoved("e", KEY, "i", "t"),
    "deliver": MessageDelivered("e", "i", "t", "x", b"{}", {}),
}


@pytest.mark.parametrize("kind", sorted(GOOD))
def test_the_good_records_decode(kind: str) -> None:
    assert decode_event(_record(type=kind, id="e", **GOOD[kind])) == GOOD_EVENTS[kind]


def _without(kind: str, field: str) -> bytes:
    fields = {name: value for name, value in GOOD[kind].items() if name != field}
    return _record(type=kind, id="e", **fields)


def _with(kind: str, **changes: Any) -> bytes:
    return _record(type=kind, id="e", **{**GOOD[kind], **changes})


MALFORMED = [
    *(_without("message", field) for field in ("key", "topic", "payload")),
    *(_without("index_add", field) for field in ("key", "instance", "task", "owner")),
    *(_without("index_remove", field) for field in ("key", "instance", "task")),
    *(_without("deliver", field) for field in ("instance", "task", "topic", "payload")),
    _with("message", key=""),
    _with("message", key=7),
    # Forged by no listener: the key of a held message must be topic, name and value.
    _with("message", key="no-separator"),
    _with("message", key="only\x1fone"),
    _with("index_add", key="no-separator"),
    _with("index_remove", key="no-separator"),
    _with("message", topic=None),
    _with("message", payload="not base64!"),
    _with("message", payload=12),
    _with("message", origin=[1, 2]),
    _with("message", origin="topic"),
    _with("index_add", owner="first"),
    _with("index_add", owner=None),
    _with("index_add", owner=[1]),
    _with("index_add", instance=""),
    _with("index_remove", task=["t"]),
    _with("deliver", instance=None),
    _with("deliver", origin=5),
    _record(type="message", **GOOD["message"]),
    _record(type="index_add", id="", **GOOD["index_add"]),
    _record(type="index_remove", id=3, **GOOD["index_remove"]),
    _record(type="index_update", id="e", **GOOD["index_add"]),
    _record(type="sweep"),
    _record(type="sweep", id=""),
    _record(type="sweep", id=None),
]


@pytest.mark.parametrize("raw", MALFORMED)
def test_malformed_correlation_records_raise_malformed_event(raw: bytes) -> None:
    with pytest.raises(MalformedEvent):
        decode_event(raw)


@pytest.mark.parametrize("kind", ["message", "deliver"])
@pytest.mark.parametrize("payload", ["***", "e30=!!"])
def test_a_payload_that_is_not_base64_raises_malformed_event(kind: str, payload: str) -> None:
    with pytest.raises(MalformedEvent):
        decode_event(_with(kind, payload=payload))


# -- index keys --------------------------------------------------------------------------


def test_an_index_key_joins_topic_name_and_value() -> None:
    assert index_key("pizza_status", "order_id", "o-1") == (
        f"pizza_status{SEPARATOR}order_id{SEPARATOR}o-1"
    )
    assert index_key("t", "n", 42) == index_key("t", "n", "42")


@pytest.mark.parametrize(
    ("topic", "name", "value"),
    [
        ("pizza_status", "order_id", "o-1"),
        ("t", "n", ""),
        ("t.with.dots", "name:with:colons", "value with spaces"),
        ("t", "n", f"a{SEPARATOR}b{SEPARATOR}c"),
        ("t", "n", "é✓"),
    ],
)
def test_an_index_key_splits_back(topic: str, name: str, value: str) -> None:
    assert split_index_key(index_key(topic, name, value)) == (topic, name, value)


def test_keys_of_different_topics_names_or_values_differ() -> None:
    keys = {
        index_key("a", "order_id", "1"),
        index_key("b", "order_id", "1"),
        index_key("a", "customer_id", "1"),
        index_key("a", "order_id", "2"),
    }

    assert len(keys) == 4
