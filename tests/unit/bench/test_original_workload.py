"""The original-workload benchmark's pieces that run without a broker."""

from __future__ import annotations

import json

from faust import Record

from bench._original_launcher import RawOrPickle


class Entry(Record, serializer="raw"):
    """Shaped like the original's correlation entries: a Record declared ``raw``."""

    key: str
    lookup_keys: list[str]


def test_the_launchers_codec_round_trips_a_record_the_raw_codec_cannot_store() -> None:
    codec = RawOrPickle()
    entry = Entry(key="chunk-1", lookup_keys=["a", "b"])
    stored = codec.dumps(entry)
    assert isinstance(stored, bytes)
    assert codec.loads(stored) == entry


def test_the_launchers_codec_keeps_bytes_and_json_as_they_are() -> None:
    codec = RawOrPickle()
    payload = json.dumps({"order_id": "o-1", "status": "READY"}).encode()
    assert codec.dumps(payload) == payload
    assert codec.loads(payload) == payload
    assert codec.dumps("o-1") == b"o-1"
    assert codec.loads(b"") == b""
