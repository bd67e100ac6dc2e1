"""The marks of the companion topic: how records of it are read back."""

from __future__ import annotations

from dagger.ops._marks import MarkBook, Marks, marks_topic_for
from dagger.ops._records import Position


def test_marks_are_replayed_in_order_and_tombstones_remove_them() -> None:
    marks = Marks()
    marks.apply("purged/0:1", {"time": 1.0})
    marks.apply("reinjected/1:2", {"time": 2.0, "topic": "t", "partition": 0, "offset": 9})
    marks.apply("drained/my.topic-1/3", {"offset": 40, "time": 3.0})
    assert marks.purged == {Position(0, 1): {"time": 1.0}}
    assert marks.reinjected[Position(1, 2)]["offset"] == 9
    assert marks.drained_below("my.topic-1", 3) == 40
    assert marks.drained_below("my.topic-1", 0) == 0
    marks.apply("purged/0:1", None)
    marks.apply("drained/my.topic-1/3", None)
    assert marks.purged == {} and marks.drained == {}


def test_keys_the_tools_did_not_write_are_ignored() -> None:
    marks = Marks()
    for key in ("purged/zero", "reinjected/", "drained/topic-without-partition", "other/0:1"):
        marks.apply(key, {"time": 1.0, "offset": 1})
    assert marks == Marks()


def test_stale_marks_are_those_below_the_first_offset_or_on_a_missing_partition() -> None:
    marks = Marks(
        purged={Position(0, 1): {}, Position(0, 5): {}, Position(3, 0): {}},
        reinjected={Position(1, 0): {}},
    )
    stale = MarkBook.stale_keys(marks, {0: 2, 1: 0})
    assert sorted(stale) == ["purged/0:1", "purged/3:0"]


def test_the_marks_topic_is_named_after_the_dead_letter_topic() -> None:
    assert marks_topic_for("dagger_dead_letters") == "dagger_dead_letters-marks"
