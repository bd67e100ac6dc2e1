"""Dead letters: the document that says why and whence, bounded, and how it is published."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Mapping
from typing import Any

import pytest

from dagger.runtime._dead_letter_writer import (
    MAX_ERROR_MESSAGE_CHARS,
    MAX_INLINE_KEY_BYTES,
    MAX_INLINE_VALUE_BYTES,
    TOO_LARGE,
    UNDECODABLE,
    DeadLetterWriter,
    dead_letter,
)
from dagger.runtime._telemetry import NoTelemetry

ORIGIN = {"topic": "status", "partition": 2, "offset": 40}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# -- the document ----------------------------------------------------------------------


def test_a_small_input_is_kept_whole_with_why_and_whence() -> None:
    before = time.time()

    letter = dead_letter(UNDECODABLE, ValueError("not JSON"), ORIGIN, b"\xff{", key=b"k-1")

    assert before <= letter.pop("time") <= time.time()
    assert letter == {
        "reason": "undecodable",
        "error_type": "ValueError",
        "error_message": "not JSON",
        "origin": ORIGIN,
        "key": _b64(b"k-1"),
        "value": _b64(b"\xff{"),
    }


def test_a_missing_key_or_value_is_null() -> None:
    letter = dead_letter(UNDECODABLE, ValueError("x"), ORIGIN, None)

    assert (letter["key"], letter["value"]) == (None, None)
    assert "key_truncated" not in letter and "value_truncated" not in letter


def test_a_value_at_its_bound_is_kept_whole_and_one_byte_more_by_reference() -> None:
    at_bound = b"v" * MAX_INLINE_VALUE_BYTES
    over = at_bound + b"!"

    kept = dead_letter(UNDECODABLE, ValueError("x"), ORIGIN, at_bound)
    referenced = dead_letter(UNDECODABLE, ValueError("x"), ORIGIN, over)

    assert kept["value"] == _b64(at_bound) and "value_truncated" not in kept
    assert referenced["value"] is None
    assert referenced["value_truncated"] is True
    assert referenced["value_size"] == MAX_INLINE_VALUE_BYTES + 1


def test_a_key_at_its_bound_is_kept_whole_and_one_byte_more_by_reference() -> None:
    at_bound = b"k" * MAX_INLINE_KEY_BYTES

    kept = dead_letter(UNDECODABLE, ValueError("x"), ORIGIN, b"", key=at_bound)
    referenced = dead_letter(UNDECODABLE, ValueError("x"), ORIGIN, b"", key=at_bound + b"k")

    assert kept["key"] == _b64(at_bound) and "key_truncated" not in kept
    assert (referenced["key"], referenced["key_truncated"]) == (None, True)
    assert referenced["key_size"] == MAX_INLINE_KEY_BYTES + 1
    assert base64.b64decode(referenced["key_head"]) == at_bound[:1024]


def test_an_error_message_at_its_bound_is_kept_and_a_longer_one_is_cut() -> None:
    at_bound = "e" * MAX_ERROR_MESSAGE_CHARS
    longer = at_bound + "tail"

    kept = dead_letter(UNDECODABLE, ValueError(at_bound), ORIGIN, b"")
    cut = dead_letter(UNDECODABLE, ValueError(longer), ORIGIN, b"")

    assert kept["error_message"] == at_bound
    assert cut["error_message"] == f"{at_bound}... ({len(longer)} characters)"


@pytest.mark.parametrize(
    "headers",
    [{"trace": b"t-1", "id": b"42"}, [("trace", b"t-1"), ("id", b"42")]],
    ids=["mapping", "pairs"],
)
def test_the_headers_are_kept_as_name_and_base64_pairs(headers: Any) -> None:
    letter = dead_letter(UNDECODABLE, ValueError("x"), ORIGIN, b"", headers=headers)

    assert letter["headers"] == [["trace", _b64(b"t-1")], ["id", _b64(b"42")]]


def test_header_values_are_bounded_and_so_is_their_number() -> None:
    headers = [("text", "not bytes"), ("big", b"h" * (MAX_INLINE_KEY_BYTES + 10))]
    headers += [(f"h-{n}", b"x") for n in range(100)]

    letter = dead_letter(UNDECODABLE, ValueError("x"), ORIGIN, b"", headers=headers)

    assert len(letter["headers"]) == 64
    assert letter["headers"][0] == ["text", _b64(b"not bytes")]
    assert base64.b64decode(letter["headers"][1][1]) == b"h" * MAX_INLINE_KEY_BYTES


@pytest.mark.parametrize("headers", [None, {}, []])
def test_no_headers_means_no_headers_field(headers: Any) -> None:
    assert "headers" not in dead_letter(UNDECODABLE, ValueError("x"), ORIGIN, b"", headers=headers)


# -- publishing ------------------------------------------------------------------------


class Sent:
    """A dead-letter topic: records each ``(key, document)`` sent to it."""

    def __init__(self) -> None:
        self.records: list[tuple[bytes, dict[str, Any]]] = []

    async def __call__(self, key: bytes, value: bytes) -> None:
        self.records.append((key, json.loads(value)))


class SeenLetters(NoTelemetry):
    """Telemetry that records the dead letters it is told of."""

    def __init__(self) -> None:
        self.letters: list[tuple[str, Mapping[str, Any]]] = []

    def dead_letter(self, reason: str, origin: Mapping[str, Any]) -> None:
        self.letters.append((reason, origin))


async def test_a_published_letter_is_sent_under_the_inputs_key() -> None:
    sent = Sent()

    await DeadLetterWriter(sent).publish(UNDECODABLE, ValueError("bad"), ORIGIN, b"raw", key=b"k-1")

    [(key, document)] = sent.records
    assert key == b"k-1"
    assert (document["reason"], document["error_type"], document["origin"]) == (
        "undecodable",
        "ValueError",
        ORIGIN,
    )
    assert base64.b64decode(document["value"]) == b"raw"


async def test_a_letter_without_a_key_is_sent_under_an_empty_one_and_a_long_key_is_cut() -> None:
    sent = Sent()
    letters = DeadLetterWriter(sent)

    await letters.publish(UNDECODABLE, ValueError("x"), ORIGIN, b"")
    await letters.publish(UNDECODABLE, ValueError("x"), ORIGIN, b"", key=b"k" * 20_000)

    assert [key for key, _document in sent.records] == [b"", b"k" * MAX_INLINE_KEY_BYTES]


async def test_a_flood_of_letters_is_all_sent_but_logged_only_a_few_lines_per_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sent = Sent()
    letters = DeadLetterWriter(sent)
    with caplog.at_level(logging.WARNING, logger="dagger.runtime._dead_letter_writer"):
        for n in range(500):
            await letters.publish(UNDECODABLE, ValueError(f"bad {n}"), ORIGIN, b"")
            await letters.publish(TOO_LARGE, ValueError(f"big {n}"), ORIGIN, b"")

    assert len(sent.records) == 1000
    assert sum("dead letter (undecodable)" in line for line in caplog.messages) <= 10
    assert sum("dead letter (too_large)" in line for line in caplog.messages) <= 10


async def test_every_letter_is_logged_and_told_to_the_telemetry_observed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    telemetry = SeenLetters()
    letters = DeadLetterWriter(None)
    await letters.publish(UNDECODABLE, ValueError("before"), ORIGIN, b"")
    letters.observe(telemetry)

    with caplog.at_level(logging.WARNING, logger="dagger.runtime._dead_letter_writer"):
        await letters.publish(UNDECODABLE, ValueError("after"), ORIGIN, b"")

    assert telemetry.letters == [("undecodable", ORIGIN)]
    assert "dead letter (undecodable)" in caplog.text
    assert "ValueError: after" in caplog.text
