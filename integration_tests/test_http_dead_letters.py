"""The dead-letter endpoints of the HTTP API on a real worker and the real embedded broker.

A ``dagger worker`` subprocess runs the ``faulty`` listener workflow of ``dlq_app`` (its
``on_message`` raises while a fault file exists) with the API on a free port of 127.0.0.1
and a bearer token. Its dead letters are real: messages the listener could not handle.
Everything after they are produced goes through HTTP only.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from dagger.testing import EmbeddedBroker
from integration_tests._harness import (
    REPO_ROOT,
    Scenario,
    client,
    free_port,
    index_entries,
    send_messages,
)
from integration_tests.apps.dlq_workflows import build_faulty_template
from integration_tests.test_http_api import TOKEN, ApiWorker, call, until

pytestmark = pytest.mark.integration

DLQ_APP = "integration_tests.apps.dlq_app"


class DlqApiWorker(ApiWorker):
    """An :class:`ApiWorker` running ``dlq_app`` instead of the API tests' app."""

    def __init__(self, scenario: Scenario, broker: EmbeddedBroker, name: str, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = scenario.tmp_path / f"dlq-api-worker-{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        command = [sys.executable, "-m", "dagger", "worker", "-A", DLQ_APP]
        command += ["--web-port", str(self.port), "--web-bind", "127.0.0.1"]
        self.process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=dict(scenario.env(broker, name), **env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as opened:
        yield opened


def _key(letter_id: str) -> tuple[int, int]:
    partition, offset = letter_id.split(":")
    return int(partition), int(offset)


async def test_dead_letters_are_listed_shown_reinjected_and_purged_over_http(
    broker: EmbeddedBroker, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    scenario = Scenario(tmp_path)
    await broker.acreate_topics(scenario.topics())
    fault = tmp_path / "fault"
    fault.write_text("on")
    worker = DlqApiWorker(
        scenario, broker, "one", DAGGER_API_TOKEN=TOKEN, TEST_FAULT_FILE=str(fault)
    )
    api = worker.url
    letters = f"{api}/dead-letters"
    try:
        await worker.wait_ready(session)

        # Nothing is dead-lettered yet: an empty first page, and the token is required.
        status, page, _ = await call(session, "GET", letters)
        assert status == 200, page
        assert (page["topic"], page["entries"], page["total"]) == (
            scenario.dead_letter_topic,
            [],
            0,
        )
        assert page["next_cursor"] is None
        status, body, headers = await call(session, "GET", letters, token=None)
        assert (status, body["status"]) == (401, 401)
        assert headers["WWW-Authenticate"].startswith("Bearer")

        # Three instances wait for a message; the listener raises on each: three dead letters.
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

        await until(indexed, 60, "three waiting listeners")
        await send_messages(
            broker, scenario.listen_topic, [({"ref": ref}, None) for ref in instances]
        )

        async def three_letters() -> bool:
            status, page, _ = await call(session, "GET", letters)
            assert status == 200, page
            return bool(page["total"] == 3)

        await until(three_letters, 60, "three dead letters listed over HTTP")

        # Paging with the cursor, then with the offset: the same letters, in id order.
        status, first, _ = await call(session, "GET", letters, params={"limit": "2"})
        assert status == 200, first
        assert (first["count"], first["total"], first["limit"]) == (2, 3, 2)
        assert first["next_cursor"] and first["next_offset"] == 2
        status, rest, _ = await call(
            session, "GET", letters, params={"limit": "2", "cursor": first["next_cursor"]}
        )
        assert status == 200, rest
        assert rest["count"] == 1 and rest["next_cursor"] is None
        assert rest["cursor"] == first["next_cursor"]
        listed = [entry["id"] for entry in first["entries"] + rest["entries"]]
        assert listed == sorted(listed, key=_key) and len(set(listed)) == 3
        assert listed[2] == rest["entries"][0]["id"]
        _, by_offset, _ = await call(session, "GET", letters, params={"limit": "2", "offset": "2"})
        assert [entry["id"] for entry in by_offset["entries"]] == listed[2:]
        assert by_offset["next_cursor"] is None and by_offset["next_offset"] is None
        for entry in first["entries"] + rest["entries"]:
            assert entry["reason"] == "on_message_raised"
            assert entry["error_type"] == "RuntimeError"
            assert entry["origin"]["topic"] == scenario.listen_topic
            assert entry["reinjected"] is None
        status, body, _ = await call(
            session, "GET", letters, params={"offset": "1", "cursor": first["next_cursor"]}
        )
        assert status == 400 and "either offset or cursor" in body["error"]
        status, body, _ = await call(session, "GET", letters, params={"cursor": "not-a-cursor"})
        assert status == 400 and "partition:offset" in body["error"], body

        # Show each one: the original message is in it.
        ids: dict[str, str] = {}
        for letter_id in listed:
            status, shown, _ = await call(session, "GET", f"{letters}/{letter_id}")
            assert status == 200, shown
            assert shown["id"] == letter_id and shown["purged"] is None
            ids[json.loads(shown["value_text"])["ref"]] = letter_id
        assert sorted(ids) == ["r-1", "r-2", "r-3"]

        # An unknown but well-formed id is a 404; a malformed one a 400.
        for unknown in ("0:999999", "99:0"):
            for method, path in (
                ("GET", f"{letters}/{unknown}"),
                ("POST", f"{letters}/{unknown}/reinject"),
                ("DELETE", f"{letters}/{unknown}"),
            ):
                status, body, _ = await call(session, method, path)
                assert (status, body["status"]) == (404, 404), (method, path, body)
                assert f"no dead letter {unknown}" in body["error"]
        for malformed, expected in (
            ("abc", "must look like 'partition:offset'"),
            ("1:2:3", "must look like 'partition:offset'"),
            ("bad%20id", "malformed dead-letter id"),
        ):
            for method, path in (
                ("GET", f"{letters}/{malformed}"),
                ("POST", f"{letters}/{malformed}/reinject"),
                ("DELETE", f"{letters}/{malformed}"),
            ):
                status, body, _ = await call(session, method, path)
                assert (status, body["status"]) == (400, 400), (method, path, body)
                assert expected in body["error"], body

        # The fix is deployed; r-1's letter is reinjected and its instance completes.
        fault.unlink()
        status, sent, _ = await call(session, "POST", f"{letters}/{ids['r-1']}/reinject")
        assert status == 200, sent
        assert sent["id"] == ids["r-1"] and sent["reinjected"] is True
        assert sent["topic"] == scenario.listen_topic
        assert sent["previously_reinjected"] is None
        r1 = instances["r-1"].id

        async def completed() -> dict[str, Any] | None:
            status, document, _ = await call(session, "GET", f"{api}/tasks/instance/{r1}")
            assert status == 200, document
            return document if document["status"]["code"] == "COMPLETED" else None

        document = await until(completed, 60, f"{r1} completed after its reinjection")
        assert document["runtime_parameters"]["handled"] == 1
        for ref in ("r-2", "r-3"):
            status, other, _ = await call(
                session, "GET", f"{api}/tasks/instance/{instances[ref].id}"
            )
            assert (status, other["status"]["code"]) == (200, "EXECUTING")
        _, shown, _ = await call(session, "GET", f"{letters}/{ids['r-1']}")
        assert shown["reinjected"]["offset"] == sent["offset"]
        assert shown["reinjected"]["topic"] == scenario.listen_topic

        # Purge r-2's letter: hidden from the list, still shown (purged), not reinjectable.
        status, purged, _ = await call(session, "DELETE", f"{letters}/{ids['r-2']}")
        assert status == 200, purged
        assert purged["id"] == ids["r-2"] and purged["purged"] is True
        assert purged["already_purged"] is False
        _, page, _ = await call(session, "GET", letters)
        assert [entry["id"] for entry in page["entries"]] == sorted(
            [ids["r-1"], ids["r-3"]], key=_key
        )
        assert page["total"] == 2
        status, shown, _ = await call(session, "GET", f"{letters}/{ids['r-2']}")
        assert status == 200 and shown["purged"] is not None
        status, body, _ = await call(session, "POST", f"{letters}/{ids['r-2']}/reinject")
        assert (status, body["status"]) == (409, 409), body
        assert "it is purged" in body["error"]
        status, again, _ = await call(session, "DELETE", f"{letters}/{ids['r-2']}")
        assert (status, again["already_purged"]) == (200, True)
        # The refused reinjection sent nothing: r-2 still waits.
        status, other, _ = await call(session, "GET", f"{api}/tasks/instance/{instances['r-2'].id}")
        assert (status, other["status"]["code"]) == (200, "EXECUTING")
    finally:
        worker.stop()
