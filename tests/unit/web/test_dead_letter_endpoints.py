"""The dead-letter endpoints, calling an in-test stand-in for the dead-letter tools.

The real tools (a class with the same async methods) are built elsewhere; this
stand-in keeps records in a dict and records the calls it gets.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from dagger.testing import LocalEngine
from dagger.web import DeadLetterAdmin
from tests.unit._listener_workflows import new_engine
from tests.unit.web._harness import ApiServer


class StandInDeadLetters:
    """Keeps dead letters in a dict; ids are ``topic:partition:offset``."""

    def __init__(self) -> None:
        self.letters = {
            f"orders:0:{offset}": {"id": f"orders:0:{offset}", "reason": "undecodable"}
            for offset in range(5)
        }
        self.calls: list[tuple[str, Any]] = []

    async def list(
        self, limit: int, offset: int = 0, cursor: str | None = None
    ) -> Mapping[str, Any]:
        self.calls.append(("list", (limit, offset, cursor)))
        if cursor == "bad":
            raise ValueError("cursor 'bad' is not one this topic gave")
        start = int(cursor) if cursor is not None else offset
        ids = sorted(self.letters)[start : start + limit]
        more = start + limit < len(self.letters)
        return {
            "items": [self.letters[i] for i in ids],
            "next_cursor": str(start + limit) if more else None,
        }

    async def show(self, id: str) -> Mapping[str, Any] | None:
        self.calls.append(("show", id))
        return self.letters.get(id)

    async def reinject(self, id: str) -> Any:
        self.calls.append(("reinject", id))
        if id not in self.letters:
            raise KeyError(id)
        return {"topic": "orders", "reinjected_as": 42}

    async def purge(self, id: str) -> Any:
        self.calls.append(("purge", id))
        return self.letters.pop(id, None) is not None


@pytest.fixture
async def served() -> AsyncIterator[tuple[ApiServer, StandInDeadLetters]]:
    engine = new_engine()
    letters = StandInDeadLetters()
    admin: DeadLetterAdmin = letters
    async with LocalEngine(engine), ApiServer(engine, dead_letters=admin) as server:
        yield server, letters


async def test_the_list_is_paged_by_offset_or_cursor(
    served: tuple[ApiServer, StandInDeadLetters],
) -> None:
    server, letters = served

    first = await server.get("/dead-letters", params={"limit": "2"})
    second = await server.get(
        "/dead-letters", params={"limit": "2", "cursor": first.body["next_cursor"]}
    )
    skipped = await server.get("/dead-letters", params={"offset": "4"})

    assert [item["id"] for item in first.body["items"]] == ["orders:0:0", "orders:0:1"]
    assert [item["id"] for item in second.body["items"]] == ["orders:0:2", "orders:0:3"]
    assert [item["id"] for item in skipped.body["items"]] == ["orders:0:4"]
    assert letters.calls == [
        ("list", (2, 0, None)),
        ("list", (2, 0, "2")),
        ("list", (100, 4, None)),
    ]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": "0"}, "limit must be between 1 and 1000"),
        ({"offset": "x"}, "offset must be an integer"),
        ({"offset": "1", "cursor": "2"}, "either offset or cursor"),
        ({"topic": "a"}, "unknown query parameter(s) topic"),
        ({"cursor": "bad"}, "cursor 'bad' is not one this topic gave"),
    ],
)
async def test_a_bad_list_query_is_a_400(
    served: tuple[ApiServer, StandInDeadLetters], params: dict[str, str], message: str
) -> None:
    server, _ = served

    answer = await server.get("/dead-letters", params=params)

    assert answer.status == 400
    assert message in answer.body["error"]


async def test_show_reinject_and_purge_one(served: tuple[ApiServer, StandInDeadLetters]) -> None:
    server, letters = served

    shown = await server.get("/dead-letters/orders:0:1")
    reinjected = await server.post("/dead-letters/orders:0:1/reinject")
    purged = await server.request("DELETE", "/dead-letters/orders:0:1")
    gone = await server.get("/dead-letters/orders:0:1")

    assert shown.body == {"id": "orders:0:1", "reason": "undecodable"}
    assert reinjected.status == 200
    assert reinjected.body == {
        "id": "orders:0:1",
        "reinjected": True,
        "topic": "orders",
        "reinjected_as": 42,
    }
    assert (purged.status, purged.body) == (200, {"id": "orders:0:1", "purged": True})
    assert gone.status == 404
    assert ("purge", "orders:0:1") in letters.calls


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/dead-letters/orders:9:9"),
        ("POST", "/dead-letters/orders:9:9/reinject"),
        ("DELETE", "/dead-letters/orders:9:9"),
    ],
)
async def test_an_unknown_dead_letter_is_404(
    served: tuple[ApiServer, StandInDeadLetters], method: str, path: str
) -> None:
    server, _ = served

    answer = await server.request(method, path)

    assert answer.status == 404
    assert answer.body["error"] == "no dead letter with id orders:9:9"


async def test_a_malformed_dead_letter_id_is_400_and_never_reaches_the_tools(
    served: tuple[ApiServer, StandInDeadLetters],
) -> None:
    server, letters = served

    answer = await server.post("/dead-letters/a%20b/reinject")

    assert answer.status == 400
    assert "malformed dead-letter id 'a b'" in answer.body["error"]
    assert letters.calls == []


async def test_without_dead_letter_tools_the_endpoints_say_so() -> None:
    engine = new_engine()
    async with LocalEngine(engine), ApiServer(engine) as server:
        answer = await server.get("/dead-letters")

    assert answer.status == 501
    assert "dead-letter tools are not configured" in answer.body["error"]
