"""Malformed records for the bad-input suite, each with what the engine must do with it.

Every kind of bad input a listener topic or the engine's own topic may carry is a
:class:`Kind`: how to make its records and what the engine is expected to do with each,
an ``expected`` outcome that is either a dead-letter reason (the record must be in the
dead-letter topic with it) or ``held`` (a listener message whose key has no waiting
listener: held as an early message, counted by ``dagger.messages_held``, or dead-lettered
``early_buffer_full`` beyond the bound) or ``dropped:<reason>`` (applied and changing
nothing on purpose, counted by ``dagger.inputs_dropped``).

:func:`flood` deals the kinds out in proportion to their weights, deterministically for a
seed, so a short run has every kind and a long run has them in the same shares.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

LISTENER = "listener"
ENGINE = "engine"
HELD = "held"
DROPPED = "dropped:"
ALREADY_HELD = f"{DROPPED}already_held"
REPLAYED = f"{DROPPED}replayed"
"""A reply sent again: its key remembers the listener it went to, which drops the repeat."""
"""A repeat of a held message: not held again, counted as dropped."""
HUGE_VALUE_BYTES = 900 * 1024
DEEP = 10_000

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True)
class Record:
    """One malformed record: where it goes, what it is, what the engine must do."""

    kind: str
    target: str
    """``listener`` (the listener topic) or ``engine`` (the engine topic)."""
    value: bytes
    expected: str
    key: bytes | None = None
    headers: Headers | None = None


Make = Callable[[int, random.Random, Sequence[str]], tuple[bytes, Headers | None]]
"""Make the n-th record of a kind (a seeded random, the ids of completed orders)."""


@dataclass(frozen=True)
class Kind:
    """A kind of bad input: its name, topic, share of the flood and expected outcome."""

    name: str
    target: str
    weight: float
    expected: str
    make: Make


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


def _ready(order_id: object) -> bytes:
    return _json({"order_id": order_id, "status": "READY"})


def _no_headers(value: bytes) -> tuple[bytes, Headers | None]:
    return value, None


_UNICODE = ("nul\u0000byte", "\u202eright-to-left\u202c", "emoji-\U0001f4a5\U0001f9ea", "e\u0301")

KINDS: tuple[Kind, ...] = (
    Kind("non_utf8", LISTENER, 8, "undecodable",
         lambda n, rnd, _: _no_headers(b"\xff\xfe" + rnd.randbytes(24))),
    Kind("truncated_json", LISTENER, 8, "undecodable",
         lambda n, rnd, _: _no_headers(_ready(f"t-{n}")[: rnd.randint(1, 20)])),
    Kind("huge_value", LISTENER, 0.05, "too_large",
         lambda n, rnd, _: _no_headers(
             _json({"order_id": f"h-{n}", "pad": "x" * HUGE_VALUE_BYTES}))),
    Kind("deep_json", LISTENER, 1, "undecodable",
         lambda n, rnd, _: _no_headers(b"[" * DEEP + b"]" * DEEP)),
    Kind("key_null", LISTENER, 4, "key_extraction_failed",
         lambda n, rnd, _: _no_headers(_ready(None))),
    Kind("key_int", LISTENER, 3, HELD, lambda n, rnd, _: _no_headers(_ready(10**9 + n))),
    Kind("key_list", LISTENER, 3, HELD, lambda n, rnd, _: _no_headers(_ready([n, "x"]))),
    Kind("key_object", LISTENER, 3, HELD, lambda n, rnd, _: _no_headers(_ready({"n": n}))),
    Kind("key_too_long", LISTENER, 1, "key_extraction_failed",
         lambda n, rnd, _: _no_headers(_ready(f"{n}-" + "k" * 5000))),
    Kind("missing_key", LISTENER, 6, "key_extraction_failed",
         lambda n, rnd, _: _no_headers(_json({"status": "READY", "n": n}))),
    Kind("empty_value", LISTENER, 6, "undecodable", lambda n, rnd, _: _no_headers(b"")),
    Kind("wrong_shape", LISTENER, 6, "key_extraction_failed",
         lambda n, rnd, _: _no_headers((b"[1, 2, 3]", b'"READY"', b"42", b"null")[n % 4])),
    Kind("lone_surrogate", LISTENER, 3, "undecodable",
         lambda n, rnd, _: _no_headers(b'{"order_id": "\\ud800-%d"}' % n)),
    Kind("unicode_key", LISTENER, 3, HELD,
         lambda n, rnd, _: _no_headers(_ready(f"{_UNICODE[n % len(_UNICODE)]}-{n}"))),
    Kind("no_instance", LISTENER, 8, HELD, lambda n, rnd, _: _no_headers(_ready(f"ghost-{n}"))),
    Kind("duplicate_reply", LISTENER, 4, REPLAYED,
         lambda n, rnd, done: (
             _ready(done[n % len(done)]),
             [("message-id", f"{done[n % len(done)]}-READY".encode())],
         )),
    Kind("engine_garbage", ENGINE, 6, "malformed_engine_event",
         lambda n, rnd, _: _no_headers((rnd.randbytes(16), b"{not json", b"[]", b"7")[n % 4])),
    Kind("engine_deep_json", ENGINE, 0.5, "malformed_engine_event",
         lambda n, rnd, _: _no_headers(b"{\"a\":" * DEEP + b"1" + b"}" * DEEP)),
    Kind("engine_unknown_kind", ENGINE, 4, "malformed_engine_event",
         lambda n, rnd, _: _no_headers(_json({"type": f"explode-{n % 7}", "id": f"u-{n}"}))),
    Kind("engine_bad_key", ENGINE, 2, "malformed_engine_event",
         lambda n, rnd, _: _no_headers(_json({
             "type": "message", "id": f"k-{n}", "key": f"no-separator-{n}",
             "topic": "t", "payload": ""}))),
    Kind("engine_unknown_instance", ENGINE, 6, f"{DROPPED}unknown_instance",
         lambda n, rnd, _: _no_headers(_json((
             {"type": "submitted", "id": f"s-{n}", "instance": f"ghost-{n}"},
             {"type": "timer", "id": f"t-{n}", "instance": f"ghost-{n}", "task": "x", "due": 1},
             {"type": "deliver", "id": f"d-{n}", "instance": f"ghost-{n}", "task": "x",
              "topic": "t", "payload": ""},
         )[n % 3]))),
)  # fmt: skip
"""Every kind; the duplicates of completed orders' replies after the first are dropped."""


def flood(
    total: int,
    done_orders: Sequence[str],
    seed: int = 15,
    kinds: Sequence[str] | None = None,
) -> Iterator[Record]:
    """``total`` records of every kind in proportion to the weights, in a seeded order.

    ``kinds`` keeps only the kinds named (to see what one kind costs).

    ``done_orders`` are ids of orders that completed: their replies, sent again with the
    same ``message-id``, go to the listener the key remembers delivering them to, whose
    instance drops them as replayed (``dropped:replayed``). Once the key's memory has
    expired (a run longer than ``early_message_window``) a repeat is held instead, and
    its own repeats are ``dropped:already_held``.
    """
    rnd = random.Random(seed)
    chosen = [kind for kind in KINDS if kinds is None or kind.name in kinds]
    unknown = set(kinds or ()) - {kind.name for kind in KINDS}
    if unknown:
        raise ValueError(f"no such kinds: {sorted(unknown)}; the kinds are {kind_names()}")
    weights = [kind.weight for kind in chosen]
    counts = dict.fromkeys((kind.name for kind in chosen), 0)
    # Every kind once first, so that even a short flood has each.
    order = chosen + rnd.choices(chosen, weights, k=max(0, total - len(chosen)))
    for kind in order[:total]:
        n = counts[kind.name]
        counts[kind.name] += 1
        value, headers = kind.make(n, rnd, done_orders)
        yield Record(kind.name, kind.target, value, kind.expected, headers=headers)


def kind_names() -> list[str]:
    """The names of every kind."""
    return [kind.name for kind in KINDS]
