"""The benchmarks' pure helpers: percentiles, medians, ratios, extrapolation, names."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench._common import directory_bytes, medians, percentile, ratio
from bench.footprint import changelog_topic, extrapolate
from bench.throughput import engine_names, engine_topics, prefixed


def test_percentile_is_nearest_rank() -> None:
    values = list(range(1, 101))
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([7.0], 99) == 7.0


def test_percentile_rejects_nothing_and_bad_q() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match="q must be"):
        percentile([1.0], 0)


def test_medians_per_key() -> None:
    runs = [{"a": 1.0, "b": 10.0}, {"a": 3.0, "b": 30.0}, {"a": 2.0, "b": 20.0}]
    assert medians(runs, ["a", "b"]) == {"a": 2.0, "b": 20.0}


def test_ratio_of_zero_is_zero() -> None:
    assert ratio(300.0, 1200.0) == 0.25
    assert ratio(1.0, 0.0) == 0.0


def test_extrapolate_scales_what_the_instances_added() -> None:
    assert extrapolate(100.0, 150.0, 100_000, 1_000_000) == 600.0


def test_changelog_topic_is_fausts_name() -> None:
    assert changelog_topic("bench-x", "dagger_instances") == "bench-x-dagger_instances-changelog"


def test_each_run_has_its_own_topics(tmp_path: Path) -> None:
    names = engine_names("three_step", tmp_path, store="rocksdb://")
    assert names["BENCH_STORE"] == "rocksdb://"
    assert names["BENCH_DATADIR"] == str(tmp_path / "data")
    assert engine_topics(names) == {
        "three_step_tasks": 4,
        "three_step_updates": 4,
        "three_step_dead_letters": 4,
        "three_step_orders": 4,
        "three_step_ready": 4,
    }


def test_prefixed() -> None:
    assert prefixed("limit", {"instances_per_s": 5.0}) == {"limit_instances_per_s": 5.0}


def test_directory_bytes(tmp_path: Path) -> None:
    assert directory_bytes(tmp_path / "missing") == 0
    (tmp_path / "a").write_bytes(b"x" * 10)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b").write_bytes(b"y" * 5)
    assert directory_bytes(tmp_path) == 15
