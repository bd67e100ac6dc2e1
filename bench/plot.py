"""The benchmarks' plot: throughput and latency of the engine and of the bare limit.

Reads ``bench/results/results.jsonl``, takes the latest ``throughput`` and
``throughput_limit`` lines and writes ``docs/benchmarks.png`` (matplotlib, the ``bench``
extra). Run: ``python -m bench.plot`` (``scripts/bench`` runs it last).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._common import RESULTS, ROOT

PNG = ROOT / "docs" / "benchmarks.png"
SERIES = (
    ("throughput", "three_step", "engine, 3-step"),
    ("throughput", "one_step", "engine, 1-step"),
    ("throughput_limit", "limit", "bare aiokafka limit"),
)


@dataclass(frozen=True)
class Bar:
    """One variant's figures, as plotted."""

    label: str
    instances_per_s: float
    latency_p50_ms: float
    latency_p99_ms: float


def read_results(path: Path = RESULTS) -> list[dict[str, Any]]:
    """Every JSON line of the results file, oldest first."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def latest(lines: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The last line recorded for each workload."""
    found: dict[str, dict[str, Any]] = {}
    for line in lines:
        found[line["workload"]] = line
    return found


def bars(lines: Iterable[dict[str, Any]]) -> list[Bar]:
    """The plotted figures from the latest throughput lines (variants not run are left out)."""
    last = latest(lines)
    found = []
    for workload, prefix, label in SERIES:
        line = last.get(workload, {})
        if f"{prefix}_instances_per_s" in line:
            found.append(
                Bar(
                    label,
                    line[f"{prefix}_instances_per_s"],
                    line[f"{prefix}_latency_p50_ms"],
                    line[f"{prefix}_latency_p99_ms"],
                )
            )
    return found


def render(plotted: list[Bar], title: str, png: Path = PNG) -> None:
    """Write the two panels (instances/s; latency p50 and p99) to ``png``."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    labels = [bar.label for bar in plotted]
    positions = list(range(len(plotted)))
    figure, (left, right) = pyplot.subplots(1, 2, figsize=(11, 4.2))
    left.bar(positions, [bar.instances_per_s for bar in plotted], color="#4c72b0")
    left.set_title("throughput (closed loop)")
    left.set_ylabel("instances/s")
    width = 0.38
    right.bar(
        [p - width / 2 for p in positions],
        [bar.latency_p50_ms for bar in plotted],
        width,
        label="p50",
        color="#55a868",
    )
    right.bar(
        [p + width / 2 for p in positions],
        [bar.latency_p99_ms for bar in plotted],
        width,
        label="p99",
        color="#c44e52",
    )
    right.set_title("end-to-end latency")
    right.set_ylabel("ms")
    right.legend()
    for axes in (left, right):
        axes.set_xticks(positions, labels)
        axes.grid(axis="y", alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(png, dpi=110)
    pyplot.close(figure)


def main(results: Path, png: Path) -> None:
    lines = read_results(results)
    plotted = bars(lines)
    if not plotted:
        raise SystemExit(f"no throughput results in {results}: run python -m bench.throughput")
    line = latest(lines)["throughput"]
    title = (
        f"{line['instances']:,} instances, {line['window']} in flight, "
        f"median of {line['runs']} runs, {line['machine']['cpus']} cores ({line['time'][:10]})"
    )
    render(plotted, title, png)
    print(f"wrote {png}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--png", type=Path, default=PNG)
    arguments = parser.parse_args()
    main(arguments.results, arguments.png)
