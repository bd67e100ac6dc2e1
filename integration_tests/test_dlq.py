"""The dead-letter tools on the real embedded broker, with real dead letters from a worker."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from dagger.ops import DeadLetterService, NotReinjectableError, UnknownTopicError
from dagger.testing import EmbeddedBroker
from integration_tests._harness import (
    REPO_ROOT,
    Scenario,
    Updates,
    client,
    index_entries,
    read_topic,
    send_messages,
    workers,
)
from integration_tests.apps.dlq_workflows import build_faulty_template

pytestmark = pytest.mark.integration

DLQ_APP = "integration_tests.apps.dlq_app"


def dagger_cli(broker: EmbeddedBroker, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``dagger dlq ...`` as a user does, against ``broker``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGGER_", "TEST_"))}
    env.update(PYTHONPATH=str(REPO_ROOT), DAGGER_BROKER=broker.url, DAGGER_TANSU_COMPAT="1")
    return subprocess.run(
        [sys.executable, "-m", "dagger", "dlq", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.3)


async def test_a_dead_lettered_message_is_delivered_once_reinjected_after_the_fix(
    broker: EmbeddedBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = Scenario(tmp_path)
    fault = tmp_path / "fault"
    fault.write_text("on")
    monkeypatch.setenv("TEST_FAULT_FILE", str(fault))  # the worker inherits it
    await broker.acreate_topics(scenario.topics())
    dlq = DeadLetterService(broker.url, scenario.dead_letter_topic)
    async with (
        workers(scenario, broker) as start,
        Updates(broker, scenario.update_topic) as updates,
    ):
        await start("w1", DLQ_APP).wait_ready()
        async with client(
            scenario, broker, partial(build_faulty_template, topic=scenario.listen_topic)
        ) as templates:
            instances = {
                ref: await templates["faulty"].create_instance(
                    uuid.uuid4(), "ref", submit_task=True, ref=ref
                )
                for ref in ("r-1", "r-2", "r-3")
            }

        async def indexed() -> bool:
            return sum(map(len, (await index_entries(broker, scenario)).values())) == 3

        await eventually(indexed, "three waiting listeners")
        await send_messages(
            broker, scenario.listen_topic, [({"ref": ref}, None) for ref in instances]
        )

        async def three_dead_letters() -> bool:
            return (await dlq.list())["total"] == 3

        try:
            await eventually(three_dead_letters, "three dead letters")
            page = await dlq.list()
            for entry in page["entries"]:
                assert entry["reason"] == "on_message_raised"
                assert entry["error_type"] == "RuntimeError"
                assert entry["origin"]["topic"] == scenario.listen_topic
            ids = {}
            for entry in page["entries"]:
                shown = await dlq.show(entry["id"])
                ref = json.loads(shown["value_text"])["ref"]
                ids[ref] = entry["id"]
                assert base64.b64decode(shown["value"]) == json.dumps({"ref": ref}).encode()
            assert sorted(ids) == ["r-1", "r-2", "r-3"]

            fault.unlink()  # the bug is fixed
            result = await dlq.reinject(ids["r-1"])
            assert result["topic"] == scenario.listen_topic
            await updates.wait_until(
                lambda u: u.latest.get(instances["r-1"].id, {}).get("status") == "COMPLETED",
                60,
                "r-1 completed after its reinjection",
            )
            assert updates.latest[instances["r-1"].id]["runtime_parameters"]["handled"] == 1
            for ref in ("r-2", "r-3"):
                assert updates.latest[instances[ref].id]["status"] == "EXECUTING"

            purged = await dlq.purge(ids["r-2"])
            assert purged["already_purged"] is False
            listed = await dlq.list()
            assert [entry["id"] for entry in listed["entries"]] == sorted(
                [ids["r-1"], ids["r-3"]], key=lambda i: tuple(map(int, i.split(":")))
            )
            assert listed["total"] == 2
            reinjected = next(e for e in listed["entries"] if e["id"] == ids["r-1"])
            assert reinjected["reinjected"]["offset"] == result["offset"]
            assert (await dlq.show(ids["r-2"]))["purged"] is not None
            with pytest.raises(NotReinjectableError, match="it is purged"):
                await dlq.reinject(ids["r-2"])
        finally:
            await dlq.stop()

    records = await read_topic(broker, scenario.listen_topic, settle=0.5)
    [resent] = [r for r in records if dict(r.headers).get("dagger-reinjected")]
    assert dict(resent.headers)["dagger-reinjected"] == ids["r-1"].encode()
    assert json.loads(resent.value) == {"ref": "r-1"}

    listing = dagger_cli(broker, "list", "--topic", scenario.dead_letter_topic)
    assert listing.returncode == 0, listing.stderr
    assert ids["r-3"] in listing.stdout and ids["r-2"] not in listing.stdout.split()
    assert f"2 of 2 dead letters in {scenario.dead_letter_topic}" in listing.stdout
    shown = dagger_cli(broker, "show", ids["r-1"], "--topic", scenario.dead_letter_topic)
    assert shown.returncode == 0, shown.stderr
    assert '{"ref": "r-1"}' in shown.stdout and f"to {scenario.listen_topic}[" in shown.stdout


async def test_drain_with_the_cli_moves_every_message_and_shows_progress(
    broker: EmbeddedBroker,
) -> None:
    name = uuid.uuid4().hex[:8]
    source, destination = f"drain-src-{name}", f"drain-dst-{name}"
    await broker.acreate_topics({source: 2, destination: 2})
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
    await producer.start()
    try:
        for index in range(1200):
            # Not awaited one by one: multi-record batches, where Tansu's end offsets lie.
            await producer.send(
                source,
                f"value-{index}".encode(),
                key=f"key-{index}".encode(),
                partition=index % 2,
                headers=[("n", str(index).encode())],
            )
        await producer.flush()
    finally:
        await producer.stop()

    # Progress shows on a terminal by default; here stderr is a pipe.
    drained = dagger_cli(broker, "drain", source, destination, "--json", "--progress", "always")
    assert drained.returncode == 0, drained.stderr
    assert json.loads(drained.stdout) == {
        "source": source,
        "destination": destination,
        "moved": 1200,
        "skipped_purged": 0,
        "total": 1200,
    }
    progress = drained.stderr.splitlines()
    assert progress[0] == f"drain {source} -> {destination}: 0/1200 (0%)"
    assert progress[-1] == f"drain {source} -> {destination}: 1200/1200 (100%)"
    assert len(progress) >= 3

    def contents(records: list[Any]) -> list[tuple[Any, ...]]:
        return sorted((r.partition, r.key, r.value, tuple(r.headers)) for r in records)

    moved = await read_topic(broker, destination, settle=0.5)
    assert contents(moved) == contents(await read_topic(broker, source, settle=0.5))

    again = dagger_cli(broker, "drain", source, destination, "--json", "-q")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["moved"] == 0 and again.stderr == ""

    missing = dagger_cli(broker, "drain", f"nope-{name}", destination)
    assert missing.returncode == 2
    assert missing.stderr.strip() == (
        f"dagger: error: source topic 'nope-{name}' does not exist on the broker; check the "
        "name (topics are not created by these tools)"
    )


async def test_an_unknown_dead_letter_topic_is_named(broker: EmbeddedBroker) -> None:
    async with DeadLetterService(broker.url, f"no-such-topic-{uuid.uuid4().hex[:8]}") as dlq:
        with pytest.raises(UnknownTopicError, match="dead-letter topic"):
            await dlq.list()
