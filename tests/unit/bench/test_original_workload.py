"""The original-workload benchmark's pieces that run without a broker."""

from __future__ import annotations

import json

from faust import Record

from bench._original_launcher import RawOrPickle
from bench.original_workload import latency_figures


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


def test_paced_latencies_are_each_orders_time_from_send_to_done() -> None:
    sent = {f"order-{n}": 100.0 + n for n in range(100)}
    seen = {
        order_id: at + (0.010 if order_id != "order-7" else 0.500) for order_id, at in sent.items()
    }
    figures = latency_figures(sent, seen)
    assert round(figures["latency_p50_ms"]) == 10
    assert round(figures["latency_p99_ms"]) == 10
    assert round(figures["latency_max_ms"]) == 500
