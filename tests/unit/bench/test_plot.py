"""What the benchmarks' plot shows, read from the results lines."""

from __future__ import annotations

import json
from pathlib import Path

from bench.plot import Bar, bars, latest, read_results

THROUGHPUT = {
    "workload": "throughput",
    "three_step_instances_per_s": 300.0,
    "three_step_latency_p50_ms": 250.0,
    "three_step_latency_p99_ms": 500.0,
    "one_step_instances_per_s": 1500.0,
    "one_step_latency_p50_ms": 60.0,
    "one_step_latency_p99_ms": 120.0,
}
LIMIT = {
    "workload": "throughput_limit",
    "limit_instances_per_s": 1600.0,
    "limit_latency_p50_ms": 55.0,
    "limit_latency_p99_ms": 80.0,
}


def test_latest_keeps_the_last_line_per_workload() -> None:
    older = {**THROUGHPUT, "three_step_instances_per_s": 1.0}
    found = latest([older, {"workload": "timer_tick_cost"}, THROUGHPUT])
    assert found["throughput"] is THROUGHPUT
    assert set(found) == {"throughput", "timer_tick_cost"}


def test_bars_from_the_latest_throughput_and_limit_lines() -> None:
    assert bars([THROUGHPUT, LIMIT]) == [
        Bar("engine, 3-step", 300.0, 250.0, 500.0),
        Bar("engine, 1-step", 1500.0, 60.0, 120.0),
        Bar("bare aiokafka limit", 1600.0, 55.0, 80.0),
    ]


def test_bars_leave_out_what_was_not_run() -> None:
    assert [bar.label for bar in bars([LIMIT])] == ["bare aiokafka limit"]
    assert bars([{"workload": "footprint"}]) == []


def test_read_results_skips_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_text(json.dumps(THROUGHPUT) + "\n\n" + json.dumps(LIMIT) + "\n")
    assert [line["workload"] for line in read_results(path)] == ["throughput", "throughput_limit"]
