"""The bad-input suite's verdicts: every malformed record accounted for, or a criterion fails."""

from __future__ import annotations

from typing import Any

from bench._flood import ALREADY_HELD, HELD, KINDS, REPLAYED, Record, flood
from bench.bad_input import DeadLetters, Flood, reconcile

TOPIC = "ready"


def _sent(*records: Record) -> Flood:
    sent = Flood()
    for offset, item in enumerate(records):
        sent.sent[(TOPIC, 0, offset)] = item
    return sent


def _letters(*found: tuple[int, str]) -> DeadLetters:
    letters = DeadLetters(consumer=None)  # type: ignore[arg-type]  # not read from here
    for offset, reason in found:
        letters.by_origin[(TOPIC, 0, offset)] = (reason, 1.0)
    return letters


def _metrics(held: int = 0, **dropped: int) -> dict[str, dict[str, float]]:
    metrics: dict[str, dict[str, Any]] = {"dagger.messages_held": {"": held}}
    metrics["dagger.inputs_dropped"] = {f"dagger.reason={r}": c for r, c in dropped.items()}
    return metrics


def _record(expected: str, kind: str = "k") -> Record:
    return Record(kind, "listener", b"x", expected)


def _verdicts(flood_sent: Flood, letters: DeadLetters, metrics: Any) -> list[bool]:
    return [criterion.passed for criterion in reconcile(flood_sent, letters, metrics)[0]]


def test_every_record_accounted_for_passes_also_when_held_ones_expired() -> None:
    sent = _sent(
        _record("undecodable"),
        _record(HELD),
        _record(HELD),  # held again after an earlier one expired: not a repeat any more
        _record(ALREADY_HELD),
        _record("dropped:unknown_instance"),
        _record(HELD),  # beyond the bound
    )
    letters = _letters((0, "undecodable"), (5, "early_buffer_full"))
    metrics = _metrics(held=3, unknown_instance=1, held_expired=1)

    assert _verdicts(sent, letters, metrics) == [True, True, True, True]


def test_a_missing_or_wrong_or_extra_dead_letter_fails() -> None:
    sent = _sent(_record("undecodable"), _record("too_large"))
    assert _verdicts(sent, _letters((0, "undecodable")), _metrics())[0] is False
    wrong = _letters((0, "undecodable"), (1, "undecodable"))
    assert _verdicts(sent, wrong, _metrics())[0] is False
    extra = _letters((0, "undecodable"), (1, "too_large"), (9, "engine_error"))
    assert _verdicts(sent, extra, _metrics()) == [True, True, True, False]


def test_an_uncounted_held_message_or_drop_fails_and_so_does_an_unexplained_drop() -> None:
    sent = _sent(_record(HELD), _record("dropped:unknown_instance"))
    assert _verdicts(sent, _letters(), _metrics(held=0, unknown_instance=1))[1] is False
    assert _verdicts(sent, _letters(), _metrics(held=1))[2] is False
    unexplained = _metrics(held=1, unknown_instance=1, not_waiting=1)
    assert _verdicts(sent, _letters(), unexplained)[2] is False


def test_a_flood_has_every_kind_in_its_share_and_each_repeated_reply_is_dropped() -> None:
    records = list(flood(2000, ["o-1", "o-2"]))
    kinds = {record.kind for record in records}
    repeats = [record.expected for record in records if record.kind == "duplicate_reply"]

    assert kinds == {kind.name for kind in KINDS}
    assert repeats and set(repeats) == {REPLAYED}
    assert list(flood(50, ["o-1"])) == list(flood(50, ["o-1"]))  # seeded


def test_a_repeated_reply_is_dropped_as_replayed_or_held_once_its_key_forgot_it() -> None:
    sent = _sent(_record(REPLAYED), _record(REPLAYED), _record(REPLAYED))
    assert _verdicts(sent, _letters(), _metrics(replayed=3)) == [True, True, True, True]
    # The third came after the key's memory expired: held, not replayed.
    assert _verdicts(sent, _letters(), _metrics(held=1, replayed=2)) == [True, True, True, True]
    assert _verdicts(sent, _letters(), _metrics(replayed=2))[1] is False  # one unaccounted
    assert _verdicts(sent, _letters(), _metrics(replayed=4))[2] is False  # more than sent
