"""Listener-topic messages: routing them by key, and applying them to their instance.

ListenerIntake decodes a message, finds its keys, names it and sends it to the keys'
owners (or to the dead letters); InstanceOwner runs the listener's ``on_message``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import random
from collections.abc import Mapping, MutableMapping
from types import SimpleNamespace
from typing import Any

import faust
import pytest
from faust.serializers.registry import Registry

from dagger.core import _codec as codec
from dagger.core._events import (
    HeldMessagesSwept,
    IndexAdded,
    IndexRemoved,
    InstanceCreated,
    MessageDelivered,
    MessageReceived,
    StopRequested,
)
from dagger.core._keys import index_key
from dagger.core._wire import encode_event
from dagger.runtime._dead_letter_writer import DeadLetterWriter, dead_letter
from dagger.runtime._dispatch import EventDispatcher
from dagger.runtime._keys_owner import KeysOwner
from dagger.runtime._listeners import ListenerIntake, ListenerTopic
from dagger.runtime._owner import TOMBSTONE, InstanceOwner
from dagger.runtime._partitioning import partition_for_index_key
from dagger.runtime._staging import StagedStore
from dagger.runtime._timers import TimerIndex
from dagger.runtime._updates import UpdatePublisher
from dagger.service.services import Dagger
from dagger.tasks.task import (
    ITemplateDAGInstance,
    KafkaListenerTask,
    SensorTask,
    TaskLookupKey,
)
from tests.unit._listener_workflows import FINISH, LISTENER, index_entries, order_template
from tests.unit._workflows import task_named

TOPIC = "status"
ORIGIN = {"topic": TOPIC, "partition": 2, "offset": 40}


# -- listener types ----------------------------------------------------------------------


class _Listener(KafkaListenerTask[str, Any]):
    async def on_message(
        self, runtime_parameters: dict[str, Any], *args: Any, **kwargs: Any
    ) -> bool:
        return True


class ByOrder(_Listener):
    async def get_correlatable_keys_from_payload(
        self, payload: Any
    ) -> list[TaskLookupKey[str, Any]]:
        return [("order_id", payload["order_id"])]


class ByCustomer(_Listener):
    match_only_one = True

    async def get_correlatable_keys_from_payload(
        self, payload: Any
    ) -> list[TaskLookupKey[str, Any]]:
        return [("customer_id", payload["customer_id"])] if "customer_id" in payload else []


class ByEveryOrder(_Listener):
    async def get_correlatable_keys_from_payload(
        self, payload: Any
    ) -> list[TaskLookupKey[str, Any]]:
        return [("order_id", order_id) for order_id in payload["order_ids"]]


class AsyncSingular(_Listener):
    """Implements only the older async singular hook."""

    async def get_correlatable_key_from_payload(self, payload: Any) -> TaskLookupKey[str, Any]:
        return ("order_id", payload["ref"])


class SyncSingular(SensorTask[str, Any]):
    """Implements only the oldest, synchronous hook."""

    def get_correlatable_key(self, payload: Any) -> TaskLookupKey[str, Any]:
        return ("order_id", payload["id"])

    async def on_message(
        self, runtime_parameters: dict[str, Any], *args: Any, **kwargs: Any
    ) -> bool:
        return True


class PayloadIsTheKey(_Listener):
    """No key hook: a KafkaListenerTask takes the payload itself as the key."""


class NoKeyHook(SensorTask[str, Any]):
    """A sensor with no key hook at all."""

    async def on_message(
        self, runtime_parameters: dict[str, Any], *args: Any, **kwargs: Any
    ) -> bool:
        return True


class KeyWithoutValue(_Listener):
    async def get_correlatable_keys_from_payload(
        self, payload: Any
    ) -> list[TaskLookupKey[str, Any]]:
        return [("order_id", payload.get("order_id"))]


class KeyWithoutName(_Listener):
    async def get_correlatable_keys_from_payload(self, payload: Any) -> list[Any]:
        return [("order_id",)]


class NoKeys(_Listener):
    async def get_correlatable_keys_from_payload(self, payload: Any) -> Any:
        return None


class StatusRecord(faust.Record, serializer="json"):
    order_id: str
    status: str


class ByRecord(_Listener):
    async def get_correlatable_keys_from_payload(
        self, payload: Any
    ) -> list[TaskLookupKey[str, Any]]:
        assert isinstance(payload, StatusRecord)
        return [("order_id", payload.order_id)]


# -- the router under test ---------------------------------------------------------------


def _plain_topic(value_type: Any = None, value_serializer: Any = None) -> Any:
    return SimpleNamespace(value_type=value_type, value_serializer=value_serializer)


class Routing:
    """A ListenerIntake with what it sends and its dead letters recorded."""

    def __init__(self, *, partitions: int = 4, header: str | None = "message-id") -> None:
        self.sent: list[tuple[MessageReceived, str, int]] = []
        self.letters: list[dict[str, Any]] = []

        async def send(event: Any, key: str, partition: int) -> None:
            self.sent.append((event, key, partition))

        async def send_letter(key: bytes, value: bytes) -> None:
            self.letters.append(json.loads(value))

        self.router = ListenerIntake(
            serializers=Registry(),
            send=send,
            partitions=partitions,
            dead_letters=DeadLetterWriter(send_letter),
            message_id_header=header,
        )

    def listen(self, *task_types: type[SensorTask[Any, Any]], topic: Any = None) -> None:
        for task_type in task_types:
            self.router.register(TOPIC, topic or _plain_topic(value_serializer="json"), task_type)

    async def route(
        self, value: Any, headers: Mapping[str, bytes] | list[tuple[str, bytes]] | None = None
    ) -> int:
        raw = value if isinstance(value, bytes) else json.dumps(value).encode()
        return await self.router.route(TOPIC, raw, dict(ORIGIN), headers)

    def keys(self) -> list[str]:
        return [event.index_key for event, _key, _partition in self.sent]


def _key(name: str, value: str) -> str:
    return index_key(TOPIC, name, value)


# -- registering and decoding ------------------------------------------------------------


def test_register_tells_whether_the_topic_is_new() -> None:
    routing = Routing()

    assert routing.router.register(TOPIC, _plain_topic(), ByOrder)
    assert not routing.router.register(TOPIC, _plain_topic(), ByCustomer)
    assert not routing.router.register(TOPIC, _plain_topic(), ByOrder)

    listener_topic = routing.router.topics[TOPIC]
    assert listener_topic.task_types == [ByOrder, ByCustomer]
    assert [type(prototype) for prototype in listener_topic.prototypes] == [ByOrder, ByCustomer]
    assert listener_topic.prototypes[0].id == "ByOrder-prototype"


def test_a_topic_takes_each_message_alone_when_one_listener_type_asks() -> None:
    assert not ListenerTopic(TOPIC, None, [ByOrder]).match_only_one
    assert ListenerTopic(TOPIC, None, [ByOrder, ByCustomer]).match_only_one


@pytest.mark.parametrize(
    ("value_type", "serializer", "decoded"),
    [
        (None, None, b'{"order_id": "o-1"}'),
        (bytes, None, b'{"order_id": "o-1"}'),
        (str, None, '{"order_id": "o-1"}'),
        (None, "raw", b'{"order_id": "o-1"}'),
    ],
)
def test_a_topic_without_a_codec_gives_the_value_as_it_came(
    value_type: Any, serializer: str | None, decoded: Any
) -> None:
    routing = Routing()
    routing.listen(ByOrder, topic=_plain_topic(value_type, serializer))

    assert routing.router.decode(TOPIC, b'{"order_id": "o-1"}') == decoded


def test_a_json_topic_decodes_json() -> None:
    routing = Routing()
    routing.listen(ByOrder, topic=_plain_topic(value_serializer="json"))

    assert routing.router.decode(TOPIC, b'{"order_id": "o-1"}') == {"order_id": "o-1"}


def test_a_topic_object_without_serializer_attributes_gives_the_bytes() -> None:
    routing = Routing()
    routing.listen(ByOrder, topic=object())

    assert routing.router.decode(TOPIC, b"[1, 2]") == b"[1, 2]"


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ('{"order_id": "o-1"}', b'{"order_id": "o-1"}'),
        (b"\xff raw", b"\xff raw"),
        ({"order_id": "o-1"}, b'{"order_id":"o-1"}'),
    ],
)
def test_a_topic_without_a_codec_sends_strings_as_they_are_and_the_rest_as_json(
    value: Any, encoded: bytes
) -> None:
    routing = Routing()
    routing.listen(ByOrder, topic=_plain_topic())

    assert routing.router.encode(TOPIC, value).replace(b" ", b"") == encoded.replace(b" ", b"")


def test_a_topic_with_a_value_type_decodes_records() -> None:
    routing = Routing()
    routing.listen(ByRecord, topic=_plain_topic(value_type=StatusRecord))

    decoded = routing.router.decode(TOPIC, b'{"order_id": "o-1", "status": "READY"}')

    assert decoded == StatusRecord(order_id="o-1", status="READY")


async def test_a_record_topic_routes_by_the_record_fields(engine: Dagger) -> None:
    topic = Dagger.create_topic("record-status", value_type=StatusRecord)
    routing = Routing()
    routing.router.register("record-status", topic, ByRecord)

    sent = await routing.router.route(
        "record-status", b'{"order_id": "o-1", "status": "READY"}', dict(ORIGIN)
    )

    assert sent == 1
    assert routing.keys() == [index_key("record-status", "order_id", "o-1")]


# -- keys --------------------------------------------------------------------------------


async def test_a_message_is_sent_under_its_key_to_the_partition_owning_the_key() -> None:
    routing = Routing(partitions=8)
    routing.listen(ByOrder)
    raw = b'{"order_id": "o-1", "status": "READY"}'

    assert await routing.route(raw) == 1

    [(event, key, partition)] = routing.sent
    assert event == MessageReceived(
        event_id=f"{TOPIC}:2:40",
        index_key=_key("order_id", "o-1"),
        topic=TOPIC,
        payload=raw,
        origin=ORIGIN,
        match_only_one=False,
    )
    assert key == _key("order_id", "o-1")
    assert partition == partition_for_index_key(key, 8)


async def test_keys_come_from_every_listener_type_without_repeats() -> None:
    routing = Routing()
    routing.listen(ByOrder, ByCustomer, ByEveryOrder)

    sent = await routing.route({"order_id": "o-1", "customer_id": "c-1", "order_ids": ["o-1", 7]})

    assert sent == 3
    assert routing.keys() == [
        _key("order_id", "o-1"),
        _key("customer_id", "c-1"),
        _key("order_id", "7"),
    ]
    assert all(event.match_only_one for event, _key_, _partition in routing.sent)
    assert routing.letters == []


async def test_a_listener_type_may_find_no_key() -> None:
    routing = Routing()
    routing.listen(ByCustomer, NoKeys)

    assert await routing.route({"order_id": "o-1"}) == 0
    assert routing.sent == []
    assert routing.letters == []


async def test_the_older_async_key_hook_is_used() -> None:
    routing = Routing()
    routing.listen(AsyncSingular)

    assert await routing.route({"ref": "o-5"}) == 1
    assert routing.keys() == [_key("order_id", "o-5")]


async def test_the_oldest_sync_key_hook_is_used() -> None:
    routing = Routing()
    routing.listen(SyncSingular)

    assert await routing.route({"id": 12}) == 1
    assert routing.keys() == [_key("order_id", "12")]


async def test_a_kafka_listener_without_a_key_hook_takes_the_payload_as_the_key() -> None:
    routing = Routing()
    routing.listen(PayloadIsTheKey)

    assert await routing.route(["order_id", "o-3"]) == 1
    assert routing.keys() == [_key("order_id", "o-3")]


# -- message ids -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"message-id": b"abc"},
        [("other", b"x"), ("message-id", b"abc")],
        {"message-id": "abc"},
    ],
)
async def test_the_message_id_header_names_the_message(headers: Any) -> None:
    routing = Routing()
    routing.listen(ByOrder)

    await routing.route({"order_id": "o-1"}, headers)

    assert routing.sent[0][0].event_id == f"{TOPIC}#abc"


@pytest.mark.parametrize(
    "headers", [None, {}, {"message-id": b""}, {"Message-Id": b"abc"}, [("other", b"abc")]]
)
async def test_without_the_header_the_message_is_named_by_its_offset(headers: Any) -> None:
    routing = Routing()
    routing.listen(ByOrder)

    await routing.route({"order_id": "o-1"}, headers)

    assert routing.sent[0][0].event_id == f"{TOPIC}:2:40"


async def test_headers_are_ignored_when_no_header_names_messages() -> None:
    routing = Routing(header=None)
    routing.listen(ByOrder)

    await routing.route({"order_id": "o-1"}, {"message-id": b"abc"})

    assert routing.sent[0][0].event_id == f"{TOPIC}:2:40"


async def test_every_key_of_one_message_carries_the_same_id() -> None:
    routing = Routing()
    routing.listen(ByEveryOrder)

    await routing.route({"order_ids": ["a", "b"]}, {"message-id": b"m-1"})

    assert [event.event_id for event, _key_, _partition in routing.sent] == [f"{TOPIC}#m-1"] * 2


# -- dead letters ------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe", b""])
async def test_an_undecodable_message_is_a_dead_letter(raw: bytes) -> None:
    routing = Routing()
    routing.listen(ByOrder)

    assert await routing.route(raw) == 0

    assert routing.sent == []
    [letter] = routing.letters
    assert letter["reason"] == "undecodable"
    assert letter["error_type"] and letter["error_message"]
    assert letter["origin"] == ORIGIN
    assert base64.b64decode(letter["value"]) == raw
    assert letter["key"] is None


async def test_a_dead_letter_keeps_the_messages_headers() -> None:
    routing = Routing()
    routing.listen(ByOrder)

    await routing.route(b"{not json", headers=[("message-id", b"m-9"), ("source", b"svc")])

    [letter] = routing.letters
    assert letter["headers"] == [
        ["message-id", base64.b64encode(b"m-9").decode()],
        ["source", base64.b64encode(b"svc").decode()],
    ]


async def test_a_message_too_large_for_an_engine_event_is_dead_lettered_by_reference() -> None:
    routing = Routing()
    routing.router.max_message_bytes = 1000
    routing.listen(ByOrder)
    raw = json.dumps({"order_id": "o-1", "pad": "x" * 2000}).encode()

    assert await routing.route(raw) == 0

    assert routing.sent == []
    [letter] = routing.letters
    assert letter["reason"] == "too_large"
    assert f"the message is {len(raw)} bytes" in letter["error_message"]


def test_the_message_bound_leaves_room_for_an_engine_event_under_the_producer_limit() -> None:
    router = Routing().router
    encoded = len(base64.b64encode(b"x" * router.max_message_bytes))

    assert encoded + 32 * 1024 <= 1024 * 1024


async def test_a_key_longer_than_the_bound_is_a_key_extraction_failure() -> None:
    routing = Routing()
    routing.listen(ByOrder)

    assert await routing.route({"order_id": "o" * 5000}) == 0

    [letter] = routing.letters
    assert letter["reason"] == "key_extraction_failed"
    assert "a correlation key is at most 4096" in letter["error_message"]


class ReturnsAString(_Listener):
    async def get_correlatable_keys_from_payload(self, payload: Any) -> Any:
        return payload["order_id"]


class ReturnsOnePair(_Listener):
    async def get_correlatable_keys_from_payload(self, payload: Any) -> Any:
        return ("order_id", payload["order_id"])


class ReturnsStrings(_Listener):
    async def get_correlatable_keys_from_payload(self, payload: Any) -> Any:
        return ["order_id"]


@pytest.mark.parametrize(
    ("listener", "said"),
    [
        (ReturnsAString, "returned the string 'o-1'"),
        (ReturnsOnePair, "returned one pair ('order_id', 'o-1'), not a list"),
        (ReturnsStrings, "returned 'order_id' among its keys"),
    ],
)
async def test_a_key_method_that_returns_no_list_of_pairs_is_told_what_to_return(
    listener: type[SensorTask[Any, Any]], said: str
) -> None:
    routing = Routing()
    routing.listen(listener)

    assert await routing.route({"order_id": "o-1"}) == 0

    [letter] = routing.letters
    assert letter["reason"] == "key_extraction_failed"
    assert (
        f"{listener.__name__}.get_correlatable_keys_from_payload {said}" in letter["error_message"]
    )
    assert "return a list of (name, value) pairs" in letter["error_message"]
    assert routing.sent == []


def test_a_dead_letter_of_a_huge_value_stays_small_and_says_what_it_held() -> None:
    huge = b"y" * (3 * 1024 * 1024)

    letter = dead_letter("too_large", ValueError("e" * 100_000), ORIGIN, huge, key=b"k" * 100_000)

    assert len(json.dumps(letter)) < 16 * 1024
    assert (letter["value"], letter["value_truncated"], letter["value_size"]) == (
        None,
        True,
        len(huge),
    )
    assert letter["value_sha256"] == hashlib.sha256(huge).hexdigest()
    assert base64.b64decode(letter["value_head"]) == huge[:1024]
    assert letter["key_truncated"] is True and letter["key"] is None
    assert letter["error_message"].endswith("(100000 characters)")


async def test_a_dead_letter_that_cannot_be_sent_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def refuse(key: bytes, value: bytes) -> None:
        raise RuntimeError("MessageSizeTooLargeError")

    with caplog.at_level(logging.ERROR, logger="dagger.runtime._dead_letter_writer"):
        await DeadLetterWriter(refuse).publish("undecodable", ValueError("bad"), ORIGIN, b"x")

    assert "could not be sent" in caplog.text


@pytest.mark.parametrize(
    ("task_type", "payload", "error_type"),
    [
        (ByOrder, {"status": "READY"}, "KeyError"),
        (ByOrder, ["not", "a", "dict"], "TypeError"),
        (NoKeyHook, {"order_id": "o-1"}, "NotImplementedError"),
        (KeyWithoutValue, {"status": "READY"}, "ValueError"),
        (KeyWithoutName, {"order_id": "o-1"}, "ValueError"),
    ],
)
async def test_key_extraction_failing_is_a_dead_letter(
    task_type: type[SensorTask[Any, Any]], payload: Any, error_type: str
) -> None:
    routing = Routing()
    routing.listen(task_type)

    assert await routing.route(payload) == 0

    assert routing.sent == []
    [letter] = routing.letters
    assert (letter["reason"], letter["error_type"]) == ("key_extraction_failed", error_type)
    assert letter["error_message"]
    assert letter["origin"] == ORIGIN
    assert json.loads(base64.b64decode(letter["value"])) == payload


async def test_one_failing_listener_type_stops_the_whole_message() -> None:
    routing = Routing()
    routing.listen(ByCustomer, ByOrder)

    assert await routing.route({"customer_id": "c-1"}) == 0

    assert routing.sent == []
    assert [letter["reason"] for letter in routing.letters] == ["key_extraction_failed"]


# -- the owner applying a delivered message ----------------------------------------------


class Owner:
    """An InstanceOwner over a dict, with its sends, updates and dead letters recorded."""

    def __init__(
        self,
        *,
        partitions: int = 4,
        store: MutableMapping[bytes, bytes] | None = None,
        keys: KeysOwner | None = None,
    ) -> None:
        self.store: MutableMapping[bytes, bytes] = {} if store is None else store
        self.sent: list[tuple[Any, str, int]] = []
        self.published: list[ITemplateDAGInstance[Any, Any]] = []
        self.letters: list[dict[str, Any]] = []
        self.partitions = partitions

        async def send(event: Any, key: str, partition: int) -> None:
            self.sent.append((event, key, partition))

        async def publish(instance: ITemplateDAGInstance[Any, Any]) -> None:
            self.published.append(instance)

        async def send_letter(key: bytes, value: bytes) -> None:
            self.letters.append(json.loads(value))

        def decode(topic: str, raw: bytes) -> Any:
            return json.loads(raw)

        self.owner = InstanceOwner(
            self.store,
            publisher=UpdatePublisher(None, [publish]),
            delete_on_complete=False,
            send=send,
            partitions=partitions,
            decode_payload=decode,
            dead_letters=DeadLetterWriter(send_letter),
            timers=TimerIndex({}),
            keys=keys,
        )

    async def apply(self, event: Any, partition: int) -> None:
        """Apply ``event`` as a batch of its own, as a worker's batch would."""
        await self.owner.handle(event, partition)
        await self.owner.end_batch()

    def stored(self, instance_id: str) -> ITemplateDAGInstance[Any, Any]:
        instance = self.owner.load(instance_id)
        assert instance is not None
        return instance


async def _waiting(engine: Dagger, owner: Owner) -> ITemplateDAGInstance[Any, Any]:
    template = order_template(engine, status_topic=TOPIC, command_topic="commands")
    instance = await template.create_instance(
        "i-1", "order_id", seed=random.Random(0), order_id="o-1"
    )
    document = codec.to_document(instance)
    await owner.apply(InstanceCreated("e-1", "i-1", document, submit=True), 3)
    owner.sent.clear()
    owner.published.clear()
    stored = owner.stored("i-1")
    assert task_named(stored, LISTENER).status.code == "EXECUTING"
    return stored


def _delivered(
    instance: ITemplateDAGInstance[Any, Any],
    payload: dict[str, Any],
    *,
    event_id: str = "m-1|t",
    task: str = LISTENER,
) -> MessageDelivered:
    task_id = task_named(instance, task).id if task in (LISTENER, FINISH) else task
    return MessageDelivered(
        event_id, instance.id, task_id, TOPIC, json.dumps(payload).encode(), dict(ORIGIN)
    )


async def test_a_delivered_message_runs_on_message_and_moves_the_workflow_on(
    engine: Dagger,
) -> None:
    owner = Owner()
    instance = await _waiting(engine, owner)

    await owner.apply(_delivered(instance, {"order_id": "o-1", "status": "READY"}), 3)

    stored = owner.stored("i-1")
    assert stored.status.code == "COMPLETED"
    assert stored.runtime_parameters["statuses"] == ["READY"]
    assert "m-1|t" in stored.applied_events
    key = index_key(TOPIC, "order_id", "o-1")
    listener_id = task_named(stored, LISTENER).id
    assert [(type(event), key_, partition) for event, key_, partition in owner.sent] == [
        (IndexRemoved, key, partition_for_index_key(key, 4))
    ]
    removed = owner.sent[0][0]
    assert (removed.index_key, removed.instance_id, removed.task_id) == (key, "i-1", listener_id)
    assert [published.status.code for published in owner.published] == ["COMPLETED"]


async def test_a_duplicated_delivery_is_applied_once(engine: Dagger) -> None:
    owner = Owner()
    instance = await _waiting(engine, owner)
    delivery = _delivered(instance, {"order_id": "o-1", "status": "COOKING"})

    await owner.apply(delivery, 3)
    stored_once = owner.store[b"i-1"]
    await owner.apply(delivery, 3)

    assert owner.store[b"i-1"] == stored_once
    assert owner.stored("i-1").runtime_parameters["statuses"] == ["COOKING"]
    # The replay publishes the stored state again (its update may have been lost).
    assert len(owner.published) == 2
    assert owner.published[0].runtime_parameters == owner.published[1].runtime_parameters


async def test_a_raising_on_message_is_a_dead_letter_and_stores_nothing(engine: Dagger) -> None:
    owner = Owner()
    instance = await _waiting(engine, owner)
    before = owner.store[b"i-1"]
    delivery = _delivered(instance, {"order_id": "o-1", "status": "EXPLODE"})

    await owner.apply(delivery, 3)

    assert owner.store[b"i-1"] == before
    assert owner.sent == [] and owner.published == []
    [letter] = owner.letters
    assert letter["reason"] == "on_message_raised"
    assert (letter["error_type"], letter["error_message"]) == ("RuntimeError", "cannot handle o-1")
    assert letter["origin"] == ORIGIN
    assert base64.b64decode(letter["value"]) == delivery.payload

    # Not remembered: a redelivery runs on_message again.
    await owner.apply(delivery, 3)
    assert len(owner.letters) == 2


async def test_an_undecodable_delivery_is_a_dead_letter_and_stores_nothing(
    engine: Dagger,
) -> None:
    owner = Owner()
    instance = await _waiting(engine, owner)
    before = owner.store[b"i-1"]
    listener_id = task_named(instance, LISTENER).id

    await owner.apply(
        MessageDelivered("m-1|t", "i-1", listener_id, TOPIC, b"{oops", dict(ORIGIN)), 3
    )

    assert owner.store[b"i-1"] == before
    assert [letter["reason"] for letter in owner.letters] == ["undecodable"]


@pytest.mark.parametrize("task", [FINISH, "no-such-task"])
async def test_a_delivery_to_a_task_that_does_not_wait_is_ignored(
    engine: Dagger, task: str
) -> None:
    owner = Owner()
    instance = await _waiting(engine, owner)
    before = owner.store[b"i-1"]

    await owner.apply(_delivered(instance, {"order_id": "o-1", "status": "READY"}, task=task), 3)

    assert owner.store[b"i-1"] == before
    assert owner.sent == [] and owner.published == [] and owner.letters == []


async def test_a_delivery_for_an_unknown_or_deleted_instance_is_dropped(engine: Dagger) -> None:
    owner = Owner()
    instance = await _waiting(engine, owner)
    delivery = _delivered(instance, {"order_id": "o-1", "status": "READY"})
    owner.store.clear()

    await owner.apply(delivery, 3)
    owner.store[b"i-1"] = TOMBSTONE
    await owner.apply(delivery, 3)

    assert owner.store == {b"i-1": TOMBSTONE}
    assert owner.published == [] and owner.letters == []


async def test_a_message_changing_the_key_moves_the_index_entry(engine: Dagger) -> None:
    owner = Owner()
    instance = await _waiting(engine, owner)
    payload = {"order_id": "o-1", "status": "SPLIT", "new_order_id": "o-2"}

    await owner.apply(_delivered(instance, payload), 3)

    old, new = index_key(TOPIC, "order_id", "o-1"), index_key(TOPIC, "order_id", "o-2")
    listener_id = task_named(instance, LISTENER).id
    [(removed, removed_key, _), (added, added_key, added_partition)] = owner.sent
    assert isinstance(removed, IndexRemoved) and removed_key == old
    assert isinstance(added, IndexAdded) and added_key == new
    assert (added.instance_id, added.task_id, added.owner_partition) == ("i-1", listener_id, 3)
    assert added_partition == partition_for_index_key(new, 4)
    assert task_named(owner.stored("i-1"), LISTENER).correlatable_key_value == "o-2"


# -- the event dispatcher ----------------------------------------------------------------


async def test_the_event_router_gives_key_events_to_the_keys_owner(engine: Dagger) -> None:
    owner = Owner()
    instance = await _waiting(engine, owner)
    keys = KeysOwner({}, {}, send=owner.owner._send, chunk_size=5, early_message_window=0)
    router = EventDispatcher(owner.owner, keys, 4)
    key = index_key(TOPIC, "order_id", "o-1")
    listener_id = task_named(instance, LISTENER).id

    await router.handle(encode_event(IndexAdded("a-1", key, "i-1", listener_id, 3)), 1)
    raw = json.dumps({"order_id": "o-1", "status": "READY"}).encode()
    await router.handle(encode_event(MessageReceived("m-1", key, TOPIC, raw, ORIGIN)), 1)

    [(delivery, delivery_key, partition)] = owner.sent
    assert isinstance(delivery, MessageDelivered)
    assert (delivery_key, partition) == ("i-1", 3)
    await router.handle(encode_event(delivery), partition)
    assert owner.stored("i-1").status.code == "COMPLETED"


async def test_a_sweep_drops_the_expired_messages_of_its_partition_only(engine: Dagger) -> None:
    owner = Owner(partitions=4)
    now = [1000.0]
    keys = KeysOwner(
        {}, {}, send=owner.owner._send, chunk_size=5, early_message_window=60, clock=lambda: now[0]
    )
    router = EventDispatcher(owner.owner, keys, 4)
    by_partition: dict[int, str] = {}
    for n in range(40):
        key = index_key(TOPIC, "order_id", f"o-{n}")
        by_partition.setdefault(partition_for_index_key(key, 4), key)
    assert len(by_partition) == 4
    for partition, key in by_partition.items():
        message = MessageReceived(f"m-{partition}", key, TOPIC, b"{}", ORIGIN)
        await router.handle(encode_event(message), partition)
    now[0] += 61

    await router.handle(encode_event(HeldMessagesSwept("s-1")), 2)

    assert sorted(keys.held_keys()) == sorted(
        key for partition, key in by_partition.items() if partition != 2
    )
    assert owner.sent == []


async def test_a_sweep_survives_a_held_key_that_is_no_index_key(
    engine: Dagger, caplog: pytest.LogCaptureFixture
) -> None:
    """A key stored by no listener (an older build's, or a forged record's) cannot stop
    the partition's held messages from expiring."""
    owner = Owner(partitions=4)
    now = [1000.0]
    keys = KeysOwner(
        {}, {}, send=owner.owner._send, chunk_size=5, early_message_window=60, clock=lambda: now[0]
    )
    router = EventDispatcher(owner.owner, keys, 4)
    key = index_key(TOPIC, "order_id", "o-1")
    partition = partition_for_index_key(key, 4)
    await router.handle(encode_event(MessageReceived("m-1", key, TOPIC, b"{}", ORIGIN)), partition)
    keys.held[b"no-separator"] = keys.held[key.encode()]
    now[0] += 61

    with caplog.at_level(logging.WARNING, logger="dagger.runtime._keys_owner"):
        await router.handle(encode_event(HeldMessagesSwept("s-1")), partition)

    assert keys.held == {}
    assert "unreadable key b'no-separator'" in caplog.text


# -- batches, and a crash between a batch's effects and its store -----------------------


def _created(instance: ITemplateDAGInstance[Any, Any]) -> InstanceCreated:
    return InstanceCreated("e-1", instance.id, codec.to_document(instance), submit=True)


async def _new_order(engine: Dagger) -> ITemplateDAGInstance[Any, Any]:
    template = order_template(engine, status_topic=TOPIC, command_topic="commands")
    return await template.create_instance("i-1", "order_id", seed=random.Random(0), order_id="o-1")


async def test_effects_lost_in_a_crash_before_the_commit_are_sent_again(engine: Dagger) -> None:
    disk: dict[bytes, bytes] = {}
    created = _created(await _new_order(engine))
    before_crash = Owner(store=StagedStore(disk))
    await before_crash.owner.handle(created, 3)
    assert [type(event) for event, _key, _partition in before_crash.sent] == [IndexAdded]

    # The worker dies with the index event still in its producer's buffer: the staged
    # state goes with it, and the restarted worker applies the event again.
    assert disk == {}
    after_restart = Owner(store=StagedStore(disk))
    await after_restart.apply(created, 3)

    assert [type(event) for event, _key, _partition in after_restart.sent] == [IndexAdded]
    after_restart.store.commit()  # type: ignore[attr-defined]
    stored = codec.decode(disk[b"i-1"])
    assert task_named(stored, LISTENER).status.code == "EXECUTING"
    assert stored.runtime_parameters["commands"] == [{"topic": "commands", "order_id": "o-1"}]


async def test_a_replay_after_the_commit_stores_again_and_runs_no_effect(engine: Dagger) -> None:
    disk: dict[bytes, bytes] = {}
    created = _created(await _new_order(engine))
    first = Owner(store=StagedStore(disk))
    await first.apply(created, 3)
    first.store.commit()  # type: ignore[attr-defined]
    committed = disk[b"i-1"]

    # The state reached the local store but maybe not its changelog: the replay writes it
    # again (a changelog record) and publishes it, and runs no effect a second time. It
    # sends the index event of its waiting listener again (the key is another
    # partition's, whose record of it may be lost too): adding it twice changes nothing.
    replaying = Owner(store=StagedStore(disk))
    await replaying.apply(created, 3)

    assert [type(event).__name__ for event, _key, _partition in replaying.sent] == ["IndexAdded"]
    assert replaying.sent[0][0].index_key == first.sent[0][0].index_key
    assert replaying.store.pending == 1  # type: ignore[attr-defined]
    replaying.store.commit()  # type: ignore[attr-defined]
    assert disk[b"i-1"] == committed
    assert [instance.status.code for instance in replaying.published] == ["EXECUTING"]


async def test_one_update_per_changed_instance_per_batch(engine: Dagger) -> None:
    owner = Owner()
    instance = await _new_order(engine)
    await owner.owner.handle(_created(instance), 3)
    await owner.owner.handle(_delivered(instance, {"order_id": "o-1", "status": "PENDING"}), 3)
    ready = _delivered(instance, {"order_id": "o-1", "status": "READY"}, event_id="m-2|t")
    await owner.owner.handle(ready, 3)
    assert owner.published == []

    await owner.owner.end_batch()

    assert [published.status.code for published in owner.published] == ["COMPLETED"]
    assert owner.stored("i-1").runtime_parameters["statuses"] == ["PENDING", "READY"]


async def test_an_event_that_raises_leaves_the_stored_state_for_the_next_in_the_batch(
    engine: Dagger,
) -> None:
    owner = Owner()
    instance = await _new_order(engine)
    await owner.owner.handle(_created(instance), 3)
    refuse = [True]
    sent_before = owner.sent

    async def broken_send(event: Any, key: str, partition: int) -> None:
        if refuse.pop():
            raise ConnectionError("producer closed")
        sent_before.append((event, key, partition))

    owner.owner._send = broken_send
    ready = _delivered(instance, {"order_id": "o-1", "status": "READY"})
    with pytest.raises(ConnectionError):
        await owner.owner.handle(ready, 3)

    # The failed event changed a decoded copy, not the state the batch goes on from.
    again = _delivered(instance, {"order_id": "o-1", "status": "READY"}, event_id="m-2|t")
    refuse.append(False)
    await owner.owner.handle(again, 3)
    await owner.owner.end_batch()

    stored = owner.stored("i-1")
    assert stored.status.code == "COMPLETED"
    assert stored.runtime_parameters["statuses"] == ["READY"]
    assert "m-1|t" not in stored.applied_events


async def test_an_abandoned_batch_publishes_nothing_and_is_read_again(engine: Dagger) -> None:
    disk: dict[bytes, bytes] = {}
    owner = Owner(store=StagedStore(disk))
    instance = await _new_order(engine)
    await owner.owner.handle(_created(instance), 3)

    owner.store.discard()  # type: ignore[attr-defined]
    owner.owner.abandon_batch()
    await owner.owner.end_batch()

    assert owner.published == []
    assert owner.owner.load("i-1") is None
    await owner.apply(_created(instance), 3)
    assert owner.stored("i-1").status.code == "EXECUTING"


# -- an index entry on the instance's own partition -------------------------------------

ORDER_KEY = index_key(TOPIC, "order_id", "o-1")
OWN_PARTITION = partition_for_index_key(ORDER_KEY, 4)
"""Where instance i-1, keyed by order_id o-1, lives, and its listener's index entry too."""


class OwnPartition:
    """An owner and a keys owner of the same partitions, behind one event dispatcher."""

    def __init__(self) -> None:
        self.index: dict[bytes, bytes] = {}
        self.held: dict[bytes, bytes] = {}
        self.keys = KeysOwner(
            self.index, self.held, send=self._send, chunk_size=5, early_message_window=60
        )
        self.owner = Owner(keys=self.keys)
        self.router = EventDispatcher(self.owner.owner, self.keys, 4)

    async def _send(self, event: Any, key: str, partition: int) -> None:
        self.owner.sent.append((event, key, partition))

    async def record(self, event: Any) -> None:
        await self.router.handle(encode_event(event), OWN_PARTITION)
        await self.owner.owner.end_batch()

    def reply(self, event_id: str, status: str) -> MessageReceived:
        raw = json.dumps({"order_id": "o-1", "status": status}).encode()
        return MessageReceived(event_id, ORDER_KEY, TOPIC, raw, ORIGIN)


async def test_an_instance_keyed_by_its_listeners_value_needs_no_index_events(
    engine: Dagger,
) -> None:
    own = OwnPartition()
    await own.record(_created(await _new_order(engine)))

    assert [lookup.workflow_id for lookup in own.keys.lookups(ORDER_KEY)] == ["i-1"]
    await own.record(own.reply("m-1", "READY"))

    stored = own.owner.stored("i-1")
    assert stored.status.code == "COMPLETED"
    assert stored.runtime_parameters["statuses"] == ["READY"]
    assert index_entries(own.index) == {}
    # Only the command left the worker: no IndexAdded, MessageDelivered nor IndexRemoved.
    assert own.owner.sent == []


async def test_held_messages_reach_a_listener_on_its_own_partition_first_and_in_order(
    engine: Dagger,
) -> None:
    own = OwnPartition()
    await own.record(own.reply("m-1", "COOKING"))
    await own.record(own.reply("m-2", "READY"))  # both held: nobody waits yet

    await own.record(_created(await _new_order(engine)))

    stored = own.owner.stored("i-1")
    assert stored.runtime_parameters["statuses"] == ["COOKING", "READY"]
    assert stored.status.code == "COMPLETED"
    assert own.held == {} and index_entries(own.index) == {}
    assert own.owner.sent == []


async def test_a_replay_writes_again_an_own_index_entry_lost_in_a_crash(engine: Dagger) -> None:
    own = OwnPartition()
    created = _created(await _new_order(engine))
    await own.record(created)
    # The instance's changelog record reached the broker, the index entry's did not.
    own.index.clear()

    await own.record(created)

    assert [lookup.workflow_id for lookup in own.keys.lookups(ORDER_KEY)] == ["i-1"]
    await own.record(own.reply("m-1", "READY"))
    assert own.owner.stored("i-1").status.code == "COMPLETED"


async def test_a_replay_removes_an_own_index_entry_whose_removal_a_crash_lost(
    engine: Dagger,
) -> None:
    own = OwnPartition()
    await own.record(_created(await _new_order(engine)))
    waiting = dict(own.index)
    reply = own.reply("m-1", "READY")
    await own.record(reply)
    assert own.owner.stored("i-1").status.code == "COMPLETED"
    # The instance's changelog record reached the broker, the entry's removal did not.
    own.index.update(waiting)

    await own.record(reply)

    assert index_entries(own.index) == {}
    assert own.owner.stored("i-1").runtime_parameters["statuses"] == ["READY"]


async def test_a_stop_by_id_sent_to_every_partition_is_applied_by_the_owners_only(
    engine: Dagger,
) -> None:
    # One worker's store holds the instances of all its partitions: the stop applied on
    # another partition would write the instance and remove its index entry there.
    own = OwnPartition()
    await own.record(_created(await _new_order(engine)))
    other = (OWN_PARTITION + 1) % 4
    before = own.owner.store[b"i-1"]

    await own.router.handle(encode_event(StopRequested("s-1", "i-1")), other)
    await own.owner.owner.end_batch()

    assert own.owner.store[b"i-1"] == before
    assert [lookup.workflow_id for lookup in own.keys.lookups(ORDER_KEY)] == ["i-1"]
    await own.record(StopRequested("s-2", "i-1"))
    assert own.owner.stored("i-1").status.code == "STOPPED"
    assert index_entries(own.index) == {}
