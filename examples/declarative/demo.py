"""Run the three declarative examples in memory (no Kafka) and print how each ended.

Usage: ``python -m examples.declarative.demo``. Each workflow runs in a
:class:`~dagger.testing.LocalEngine`; the saga's payment reply is sent as the payment
service would, and the clock is moved on for the timers. Prints each instance's status,
its jobs and the outputs of its stages.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from typing import Any

from dagger.service.services import Dagger
from dagger.tasks.task import ITemplateDAGInstance
from dagger.testing import LocalEngine


async def run_all(engine: Dagger | None = None) -> dict[str, ITemplateDAGInstance[Any, Any]]:
    """Run each example once on ``engine`` (the examples' own by default); by a label."""
    if engine is None:
        from examples.declarative import workflows

        engine = workflows.engine
    started: dict[str, str] = {}
    async with LocalEngine(engine, start=1_800_000_000.0) as local:
        etl = await engine.get_template("daily-etl").create_instance(
            uuid.uuid4(), submit_task=True, **{"run-date": dt.date(2027, 1, 31), "mode": "full"}
        )
        started["daily-etl"] = etl.id
        for order, status in (("o-1", "PAID"), ("o-2", "DECLINED"), ("o-3", None)):
            saga = await engine.get_template("order-saga").create_instance(
                uuid.uuid4(), submit_task=True, **{"order-id": order, "amount": 19.99}
            )
            started[f"order-saga {order} ({status or 'no reply'})"] = saga.id
            if status is not None:
                await local.send_message("payment-replies", {"order_id": order, "status": status})
        rollout = await engine.get_template("rollout").create_instance(
            uuid.uuid4(), submit_task=True, environment="production", version="1.4.2"
        )
        started["rollout"] = rollout.id
        await local.advance(61)  # the rollout's pause, and the unpaid order's timeout
    found = {label: local.get_instance(instance_id) for label, instance_id in started.items()}
    return {label: instance for label, instance in found.items() if instance is not None}


def summary(instance: ITemplateDAGInstance[Any, Any]) -> str:
    """The instance's status, error, jobs and outputs as text."""
    lines = [f"  status: {instance.status.code}"]
    if instance.error_message:
        lines.append(f"  error: {instance.error_type}: {instance.error_message}")
    for job, found in instance.runtime_parameters.get("jobs", {}).items():
        # A job with a matrix keeps its outputs per combination.
        for index, run in found.get("strategies", {}).items():
            lines.append(f"  {job}[{index}]: {run['status']} {json.dumps(run['matrix'])}")
            lines.extend(_stage_lines(f"{job}[{index}]", run.get("stages", {})))
        lines.extend(_stage_lines(job, found.get("stages", {})))
    return "\n".join(lines)


def _stage_lines(where: str, stages: dict[str, Any]) -> list[str]:
    lines = []
    for stage, values in stages.items():
        # A foreach keeps its outputs per item.
        each = values.get("items", {"": values})
        for index, entry in each.items():
            for inner, kept in (entry.get("stages") or {stage: entry}).items():
                place = f"{where}.{stage}[{index}].{inner}" if index else f"{where}.{stage}"
                shown = json.dumps(kept["outputs"], sort_keys=True, default=str)
                lines.append(f"  {place}: {shown}")
    return lines


def main() -> None:
    """Run the examples and print what became of each."""
    for label, instance in asyncio.run(run_all()).items():
        print(label)
        print(summary(instance))


if __name__ == "__main__":
    main()
