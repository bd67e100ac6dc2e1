from __future__ import annotations
import json, uuid
from pathlib import Path
import pytest
from aiokafka import TopicPartition
from test_tansu_end_offsets import *  # noqa
from test_tansu_end_offsets import (
    produce_updates,
    worker,
    wait_for_result,
    wait_until,
    end_offset,
    stop_worker,
    TABLE_UPDATES,
)


@pytest.mark.integration
@pytest.mark.parametrize("run", range(4))
async def test_uncorrected(broker, tmp_path: Path, run) -> None:
    app_id = f"recovery-{uuid.uuid4().hex[:12]}"
    changelog = TopicPartition(f"{app_id}-values-changelog", 0)
    await broker.acreate_topics(
        {f"{app_id}-updates": 1, changelog.topic: 1, f"{app_id}-__assignor-__leader": 1}
    )
    expected = {f"key-{index}": index * 7 for index in range(TABLE_UPDATES)}
    await produce_updates(broker, f"{app_id}-updates", expected)
    written = tmp_path / "written.json"
    with worker("write", broker, app_id, written, tmp_path / "write.log", compat=True) as proc:
        await wait_for_result(proc, written, lambda applied: applied == TABLE_UPDATES)
        await wait_until(lambda: end_offset(broker, changelog), TABLE_UPDATES, proc)
        stop_worker(proc)
    for i in range(2):
        recovered = tmp_path / f"recovered{i}.json"
        with worker(
            "recover", broker, app_id, recovered, tmp_path / f"recover{i}.log", compat=False
        ) as proc:
            table = await wait_for_result(proc, recovered, lambda _: True)
            stop_worker(proc)
        print("RUN", run, i, len(table), sorted(set(expected) - set(table)))
