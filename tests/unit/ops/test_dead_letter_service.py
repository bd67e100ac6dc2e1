"""DeadLetterService on an in-memory link: paging, show, reinject, purge, drain, errors."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from dagger.core._codec import dumps
from dagger.exceptions.exceptions import ConfigurationError, DaggerError
from dagger.ops import (
    DeadLetterNotFoundError,
    DeadLetterService,
    InvalidDeadLetterIdError,
    NotReinjectableError,
    UnknownTopicError,
)
from dagger.ops._records import OutgoingRecord
from dagger.runtime._dead_letter_writer import (
    KEY_EXTRACTION_FAILED,
    MAX_INLINE_VALUE_BYTES,
    ON_MESSAGE_RAISED,
    dead_letter,
)
from tests.unit.ops._memory_link import MemoryLink

DLQ = "dagger_dead_letters"
ORIGIN = "pizza_status"


def letter_record(
    index: int, partition: int = 0, key: bytes | None = None, reason: str = ON_MESSAGE_RAISED
) -> OutgoingRecord:
    """A dead letter exactly as the engine writes it, for the message ``{"ref": r-<index>}``."""
    document = dead_letter(
        reason,
        RuntimeError(f"boom {index}"),
        {"topic": ORIGIN, "partition": index % 2, "offset": 100 + index},
        json.dumps({"ref": f"r-{index}"}).encode(),
        key,
    )
    return OutgoingRecord(key or b"", dumps(document), partition=partition)


@pytest.fixture
def link() -> MemoryLink:
    memory = MemoryLink()
    memory.create(DLQ, 2)
    memory.create(ORIGIN, 2)
    return memory


def service(link: MemoryLink, **options: Any) -> DeadLetterService:
    return DeadLetterService("kafka://127.0.0.1:9092", DLQ, link=link, **options)


def fill(link: MemoryLink, counts: dict[int, int]) -> list[str]:
    """Write dead letters to the given partitions; return their ids in listing order."""
    ids = []
    index = 0
    for partition, count in sorted(counts.items()):
        for _ in range(count):
            ids.append(str(link.append(DLQ, partition, letter_record(index, partition))))
            index += 1
    return ids


async def test_list_entries_say_what_failed_and_where_it_came_from(link: MemoryLink) -> None:
    fill(link, {0: 1})
    page = await service(link).list()
    [entry] = page["entries"]
    assert entry["id"] == "0:0" and (entry["partition"], entry["offset"]) == (0, 0)
    assert entry["reason"] == ON_MESSAGE_RAISED
    assert entry["error"] == "RuntimeError: boom 0"
    assert entry["origin"] == {"topic": ORIGIN, "partition": 0, "offset": 100}
    assert isinstance(entry["time"], float)
    assert entry["reinjected"] is None
    assert page["total"] == 1 and page["next_cursor"] is None
    json.dumps(page)  # JSON-able as it is


async def test_pages_by_cursor_cover_every_letter_once(link: MemoryLink) -> None:
    ids = fill(link, {0: 5, 1: 4})
    dlq = service(link)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await dlq.list(4, cursor=cursor)
        assert page["total"] == 9
        seen.extend(entry["id"] for entry in page["entries"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids and pages == 3


async def test_pages_by_offset_and_the_default_limit(link: MemoryLink) -> None:
    ids = fill(link, {0: 30, 1: 30})
    dlq = service(link)
    first = await dlq.list()
    assert first["count"] == 50 and first["limit"] == 50
    assert first["next_offset"] == 50
    second = await dlq.list(50, offset=50)
    assert [entry["id"] for entry in second["entries"]] == ids[50:]
    assert second["next_offset"] is None and second["next_cursor"] is None


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"limit": 0}, "limit must be an int from 1 to 10000"),
        ({"limit": 10_001}, "limit must be an int from 1 to 10000"),
        ({"offset": -1}, "offset must be an int >= 0"),
        ({"cursor": "0:1", "offset": 3}, "either cursor or offset"),
    ],
)
async def test_bad_paging_arguments_are_value_errors(
    link: MemoryLink, arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        await service(link).list(**arguments)


async def test_a_malformed_cursor_or_id_is_a_value_error(link: MemoryLink) -> None:
    dlq = service(link)
    with pytest.raises(InvalidDeadLetterIdError, match="cursor must look like 'partition:offset'"):
        await dlq.list(cursor="next")
    for bad in ("", "1", "a:b", "1:-2", "1:2:3"):
        with pytest.raises(ValueError, match="dead-letter id must look like 'partition:offset'"):
            await dlq.show(bad)


async def test_show_gives_the_original_message(link: MemoryLink) -> None:
    link.append(DLQ, 1, letter_record(7, 1, key=b"order-7"))
    entry = await service(link).show("1:0")
    assert base64.b64decode(entry["key"]) == b"order-7"
    assert json.loads(base64.b64decode(entry["value"])) == {"ref": "r-7"}
    assert entry["value_text"] == '{"ref": "r-7"}'
    assert entry["purged"] is None and entry["reason"] == ON_MESSAGE_RAISED


async def test_unknown_ids_are_not_found_with_the_reason(link: MemoryLink) -> None:
    fill(link, {0: 3})
    link.expire(DLQ, 0, 1)
    dlq = service(link)
    cases = {
        "5:0": "the topic has partitions 0-1",
        "0:0": "records now start at 1",
        "0:3": "records end before 3",
    }
    for dead_letter_id, reason in cases.items():
        with pytest.raises(DeadLetterNotFoundError, match=reason) as caught:
            await dlq.show(dead_letter_id)
        assert caught.value.dead_letter_id == dead_letter_id
        assert isinstance(caught.value, (LookupError, DaggerError))


async def test_a_missing_dead_letter_topic_is_named(link: MemoryLink) -> None:
    dlq = DeadLetterService("127.0.0.1:9092", "not_there", link=link)
    with pytest.raises(UnknownTopicError, match="dead-letter topic 'not_there' does not exist"):
        await dlq.list()


async def test_a_record_that_is_not_a_dead_letter_is_listed_but_not_reinjected(
    link: MemoryLink,
) -> None:
    link.append(DLQ, 0, OutgoingRecord(None, b"\xff not json"))
    dlq = service(link)
    [entry] = (await dlq.list())["entries"]
    assert entry["reason"] == "not_a_dead_letter"
    assert (await dlq.show("0:0"))["value"] == base64.b64encode(b"\xff not json").decode()
    with pytest.raises(NotReinjectableError, match="does not say which topic"):
        await dlq.reinject("0:0")


async def test_reinject_sends_key_and_value_to_the_original_partition_with_headers(
    link: MemoryLink,
) -> None:
    link.append(DLQ, 0, letter_record(3, 0, key=b"order-3"))
    dlq = service(link)
    result = await dlq.reinject("0:0")
    # letter 3 came from pizza_status partition 1
    [sent] = link.topics[ORIGIN][1].records
    assert (sent.key, json.loads(sent.value or b"")) == (b"order-3", {"ref": "r-3"})
    assert dict(sent.headers) == {
        "dagger-reinjected": b"0:0",
        "dagger-dead-letter-topic": DLQ.encode(),
        "message-id": f"dlq:{DLQ}:0:0".encode(),
    }
    assert result == {
        "id": "0:0",
        "time": result["time"],
        "topic": ORIGIN,
        "partition": 1,
        "offset": 0,
        "previously_reinjected": None,
    }
    [entry] = (await dlq.list())["entries"]
    assert entry["reinjected"] == {
        key: result[key] for key in ("time", "topic", "partition", "offset")
    }
    again = await dlq.reinject("0:0")
    assert again["previously_reinjected"] == entry["reinjected"]
    assert again["offset"] == 1


async def test_reinject_restores_the_original_headers_and_keeps_its_message_id(
    link: MemoryLink,
) -> None:
    document = dead_letter(
        ON_MESSAGE_RAISED,
        RuntimeError("boom"),
        {"topic": ORIGIN, "partition": 0, "offset": 7},
        b'{"ref": "r-1"}',
        headers=[
            ("message-id", b"reply-1"),
            ("traceparent", b"00-abc-def-01"),
            ("dagger-reinjected", b"9:9"),  # an earlier reinjection's mark is replaced
        ],
    )
    link.append(DLQ, 0, OutgoingRecord(b"", dumps(document)))
    dlq = service(link)

    shown = await dlq.show("0:0")
    await dlq.reinject("0:0")

    assert [name for name, _ in shown["headers"]] == [
        "message-id",
        "traceparent",
        "dagger-reinjected",
    ]
    [sent] = link.topics[ORIGIN][0].records
    assert list(sent.headers) == [
        ("message-id", b"reply-1"),
        ("traceparent", b"00-abc-def-01"),
        ("dagger-reinjected", b"0:0"),
        ("dagger-dead-letter-topic", DLQ.encode()),
    ]


async def test_a_letter_whose_value_was_too_large_to_keep_is_shown_but_not_reinjected(
    link: MemoryLink,
) -> None:
    huge = b"x" * (MAX_INLINE_VALUE_BYTES + 1)
    origin = {"topic": ORIGIN, "partition": 1, "offset": 9}
    document = dead_letter(ON_MESSAGE_RAISED, RuntimeError("boom"), origin, huge)
    link.append(DLQ, 0, OutgoingRecord(b"", dumps(document)))
    dlq = service(link)

    shown = await dlq.show("0:0")

    assert shown["value"] is None
    assert shown["value_truncated"]["size"] == len(huge)
    with pytest.raises(NotReinjectableError, match=r"too large to keep whole.*'offset': 9"):
        await dlq.reinject("0:0")
    assert link.topics[ORIGIN][1].records == []


async def test_reinject_without_a_message_id_header(link: MemoryLink) -> None:
    link.append(DLQ, 0, letter_record(0))
    await service(link, message_id_header=None).reinject("0:0")
    [sent] = link.topics[ORIGIN][0].records
    assert [name for name, _ in sent.headers] == ["dagger-reinjected", "dagger-dead-letter-topic"]


async def test_reinject_lets_the_partitioner_choose_when_the_partition_is_gone(
    link: MemoryLink,
) -> None:
    link.create(ORIGIN, 1)  # the topic was recreated with one partition
    link.append(DLQ, 0, letter_record(1))  # came from partition 1
    result = await service(link).reinject("0:0")
    assert (result["partition"], result["offset"]) == (0, 0)


async def test_reinject_to_a_topic_that_is_gone_is_named(link: MemoryLink) -> None:
    link.append(DLQ, 0, letter_record(0))
    del link.topics[ORIGIN]
    with pytest.raises(UnknownTopicError, match=f"original topic '{ORIGIN}' does not exist"):
        await service(link).reinject("0:0")


async def test_purge_hides_a_letter_from_listings_but_not_from_show(link: MemoryLink) -> None:
    ids = fill(link, {0: 2, 1: 2})
    dlq = service(link)
    result = await dlq.purge("0:1")
    assert result["already_purged"] is False and result["id"] == "0:1"
    page = await dlq.list()
    assert [entry["id"] for entry in page["entries"]] == [ids[0], ids[2], ids[3]]
    assert page["total"] == 3
    assert (await dlq.show("0:1"))["purged"] == {"time": result["time"]}
    assert link.compacted == {f"{DLQ}-marks"}
    with pytest.raises(NotReinjectableError, match="it is purged"):
        await dlq.reinject("0:1")
    again = await dlq.purge("0:1")
    assert again == {"id": "0:1", "time": result["time"], "already_purged": True}


async def test_paging_skips_purged_letters(link: MemoryLink) -> None:
    ids = fill(link, {0: 6})
    dlq = service(link)
    for dead_letter_id in ids[1:5]:
        await dlq.purge(dead_letter_id)
    first = await dlq.list(1)
    assert [entry["id"] for entry in first["entries"]] == [ids[0]]
    assert first["next_cursor"] == ids[5]
    second = await dlq.list(1, cursor=first["next_cursor"])
    assert [entry["id"] for entry in second["entries"]] == [ids[5]]
    assert second["next_cursor"] is None


async def test_a_purge_forgets_the_marks_of_letters_retention_deleted(link: MemoryLink) -> None:
    fill(link, {0: 3})
    dlq = service(link)
    await dlq.purge("0:0")
    link.expire(DLQ, 0, 2)
    await dlq.purge("0:2")
    marks = link.topics[f"{DLQ}-marks"][0].records
    assert [(r.key, r.value is None) for r in marks] == [
        (b"purged/0:0", False),
        (b"purged/0:0", True),  # a tombstone: compaction drops the stale mark
        (b"purged/0:2", False),
    ]


async def test_purge_of_an_unknown_letter_is_not_found(link: MemoryLink) -> None:
    with pytest.raises(DeadLetterNotFoundError):
        await service(link).purge("0:0")
    assert f"{DLQ}-marks" not in link.topics


async def test_drain_moves_every_record_once_and_resumes(link: MemoryLink) -> None:
    link.create("source", 2)
    link.create("archive", 2)
    for index in range(5):
        link.append(
            "source",
            index % 2,
            OutgoingRecord(f"k{index}".encode(), f"v{index}".encode(), (("h", b"x"),)),
        )
    dlq = service(link)
    calls: list[tuple[int, int]] = []
    result = await dlq.drain("source", "archive", lambda done, total: calls.append((done, total)))
    assert result == {
        "source": "source",
        "destination": "archive",
        "moved": 5,
        "skipped_purged": 0,
        "total": 5,
    }
    assert calls[0] == (0, 5) and calls[-1] == (5, 5)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    moved = {
        (r.partition, r.key, r.value, r.headers)
        for log in link.topics["archive"]
        for r in log.records
    }
    original = {
        (r.partition, r.key, r.value, r.headers)
        for log in link.topics["source"]
        for r in log.records
    }
    assert moved == original
    assert (await dlq.drain("source", "archive"))["moved"] == 0
    link.append("source", 1, OutgoingRecord(b"k5", b"v5"))
    assert (await dlq.drain("source", "archive"))["moved"] == 1
    assert sorted(v for v in link.values("archive") if v) == [f"v{i}".encode() for i in range(6)]


async def test_drain_into_fewer_partitions_lets_the_partitioner_place_records(
    link: MemoryLink,
) -> None:
    link.create("source", 2)
    link.create("archive", 1)
    link.append("source", 1, OutgoingRecord(b"k", b"v"))
    await service(link).drain("source", "archive")
    assert link.values("archive") == [b"v"]


async def test_draining_the_dead_letter_topic_empties_its_listing_and_skips_purged(
    link: MemoryLink,
) -> None:
    fill(link, {0: 2, 1: 1})
    link.create("parked", 2)
    dlq = service(link)
    await dlq.purge("0:0")
    result = await dlq.drain(DLQ, "parked")
    assert (result["moved"], result["skipped_purged"]) == (2, 1)
    page = await dlq.list()
    assert page["entries"] == [] and page["total"] == 0
    fill(link, {1: 1})
    assert [entry["id"] for entry in (await dlq.list())["entries"]] == ["1:1"]


async def test_drain_checks_its_topics(link: MemoryLink) -> None:
    dlq = service(link)
    with pytest.raises(ValueError, match="into itself"):
        await dlq.drain(ORIGIN, ORIGIN)
    with pytest.raises(UnknownTopicError, match="source topic 'nope'"):
        await dlq.drain("nope", ORIGIN)
    with pytest.raises(UnknownTopicError, match="destination topic 'nope'"):
        await dlq.drain(ORIGIN, "nope")
    with pytest.raises(ConfigurationError, match="destination must be a Kafka topic name"):
        await dlq.drain(ORIGIN, "no spaces")


async def test_key_extraction_letters_reinject_like_the_others(link: MemoryLink) -> None:
    link.append(DLQ, 0, letter_record(0, reason=KEY_EXTRACTION_FAILED))
    result = await service(link).reinject("0:0")
    assert result["topic"] == ORIGIN


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"bootstrap_servers": ""}, "bootstrap_servers must look like"),
        ({"bootstrap_servers": "kafka://"}, "bootstrap_servers must look like"),
        ({"bootstrap_servers": ["host"]}, "bootstrap_servers must look like"),
        ({"dead_letter_topic": "a b"}, "dead_letter_topic must be a Kafka topic name"),
        ({"timeout": 0}, "timeout must be a positive number"),
        ({"message_id_header": ""}, "message_id_header must be a header name or None"),
    ],
)
def test_bad_configuration_is_explained(arguments: dict[str, Any], message: str) -> None:
    options: dict[str, Any] = {"bootstrap_servers": "kafka://127.0.0.1:9092", **arguments}
    with pytest.raises(ConfigurationError, match=message):
        DeadLetterService(**options)


def test_broker_forms_are_accepted() -> None:
    for servers in ("kafka://a:1;b:2", "a:1,b:2", ["a:1", "kafka://b:2"]):
        assert DeadLetterService(servers).bootstrap_servers == ["a:1", "b:2"]
    assert DeadLetterService("a:1").marks_topic == "dagger_dead_letters-marks"


async def test_the_service_connects_once_and_reconnects_after_stop(link: MemoryLink) -> None:
    fill(link, {0: 1})
    async with service(link) as dlq:
        await dlq.list()
        await dlq.show("0:0")
        assert link.starts == 1
    assert not link.started
    await dlq.list()
    assert link.starts == 2
