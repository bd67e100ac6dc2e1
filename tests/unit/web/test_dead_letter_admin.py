"""KafkaDeadLetters: the service's errors become the API's, and the service is always stopped.

``StandInService`` stands in for Kafka: it replaces :class:`dagger.ops.DeadLetterService`
in ``dagger.web._dead_letter_admin``, answers every call with a canned result or raises the
error a test gives it, and records how it was built, what it was asked and whether it was
stopped. The real service on a real broker is exercised by
``integration_tests/test_http_dead_letters.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from dagger.ops import (
    BrokerUnavailableError,
    DeadLetterError,
    DeadLetterNotFoundError,
    InvalidDeadLetterIdError,
    NotReinjectableError,
    UnknownTopicError,
)
from dagger.web._dead_letter_admin import KafkaDeadLetters
from dagger.web._dead_letter_endpoints import DeadLettersApi
from dagger.web._errors import ApiError

SERVERS = ["127.0.0.1:9092", "127.0.0.1:9093"]
TOPIC = "dead-letters-unit"


class StandInService:
    """Stands in for Kafka's DeadLetterService; raises ``error`` when one is set."""

    built: list[StandInService] = []
    error: BaseException | None = None

    def __init__(
        self,
        bootstrap_servers: list[str],
        dead_letter_topic: str,
        *,
        message_id_header: str | None,
        client_id: str,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = dead_letter_topic
        self.message_id_header = message_id_header
        self.client_id = client_id
        self.calls: list[tuple[str, Any]] = []
        self.stops = 0
        StandInService.built.append(self)

    def _answer(self, name: str, argument: Any) -> dict[str, Any]:
        assert self.stops == 0, "called after stop()"
        self.calls.append((name, argument))
        if StandInService.error is not None:
            raise StandInService.error
        return {"answered": name, "with": argument}

    async def list(
        self, limit: int = 50, *, cursor: str | None = None, offset: int = 0
    ) -> dict[str, Any]:
        return self._answer("list", (limit, cursor, offset))

    async def show(self, dead_letter_id: str) -> dict[str, Any]:
        return self._answer("show", dead_letter_id)

    async def reinject(self, dead_letter_id: str) -> dict[str, Any]:
        return self._answer("reinject", dead_letter_id)

    async def purge(self, dead_letter_id: str) -> dict[str, Any]:
        return self._answer("purge", dead_letter_id)

    async def stop(self) -> None:
        self.stops += 1


@pytest.fixture
def admin(monkeypatch: pytest.MonkeyPatch) -> KafkaDeadLetters:
    monkeypatch.setattr(StandInService, "built", [])
    monkeypatch.setattr(StandInService, "error", None)
    monkeypatch.setattr("dagger.web._dead_letter_admin.DeadLetterService", StandInService)
    return KafkaDeadLetters(SERVERS, TOPIC, message_id_header="x-message-id")


Call = Callable[[KafkaDeadLetters], Awaitable[Any]]

CALLS: list[tuple[str, Call, tuple[str, Any]]] = [
    ("list", lambda a: a.list(7, offset=3), ("list", (7, None, 3))),
    ("list-cursor", lambda a: a.list(7, cursor="1:4"), ("list", (7, "1:4", 0))),
    ("show", lambda a: a.show("0:1"), ("show", "0:1")),
    ("reinject", lambda a: a.reinject("0:1"), ("reinject", "0:1")),
    ("purge", lambda a: a.purge("0:1"), ("purge", "0:1")),
]
CALL_IDS = [name for name, _, _ in CALLS]


def only_service() -> StandInService:
    [service] = StandInService.built
    return service


@pytest.mark.parametrize(("name", "call", "asked"), CALLS, ids=CALL_IDS)
async def test_each_call_opens_a_service_passes_the_arguments_and_stops_it(
    admin: KafkaDeadLetters, name: str, call: Call, asked: tuple[str, Any]
) -> None:
    answer = await call(admin)

    service = only_service()
    assert answer == {"answered": asked[0], "with": asked[1]}
    assert service.calls == [asked]
    assert service.stops == 1
    assert (service.bootstrap_servers, service.topic) == (SERVERS, TOPIC)
    assert service.message_id_header == "x-message-id"
    assert service.client_id == "dagger-web-dlq"


async def test_every_request_gets_a_new_service(admin: KafkaDeadLetters) -> None:
    await admin.show("0:1")
    await admin.purge("0:1")

    first, second = StandInService.built
    assert first is not second
    assert (first.calls, first.stops) == ([("show", "0:1")], 1)
    assert (second.calls, second.stops) == ([("purge", "0:1")], 1)


ERRORS: list[tuple[BaseException, int]] = [
    (DeadLetterNotFoundError(TOPIC, "0:99", "the partition's records end before 3"), 404),
    (UnknownTopicError(TOPIC, "dead-letter topic"), 404),
    (UnknownTopicError("orders", "original topic"), 404),
    (NotReinjectableError("0:1", "it is purged"), 409),
    (NotReinjectableError("0:1", "it does not say which topic it came from"), 409),
    (BrokerUnavailableError("lost the Kafka broker at 127.0.0.1:9092: refused"), 503),
]


@pytest.mark.parametrize(("name", "call", "asked"), CALLS, ids=CALL_IDS)
@pytest.mark.parametrize(
    ("error", "status"), ERRORS, ids=[f"{type(e).__name__}-{s}" for e, s in ERRORS]
)
async def test_a_service_error_becomes_an_api_error_and_the_service_is_stopped(
    admin: KafkaDeadLetters,
    name: str,
    call: Call,
    asked: tuple[str, Any],
    error: BaseException,
    status: int,
) -> None:
    StandInService.error = error

    with pytest.raises(ApiError) as raised:
        await call(admin)

    assert raised.value.status == status
    assert raised.value.message == str(error)
    assert raised.value.reply().body == {"error": str(error), "status": status}
    assert raised.value.__cause__ is error
    service = only_service()
    assert service.calls == [asked]
    assert service.stops == 1


@pytest.mark.parametrize(("name", "call", "asked"), CALLS, ids=CALL_IDS)
@pytest.mark.parametrize(
    "error",
    [
        InvalidDeadLetterIdError("abc"),
        ValueError("limit must be 1 to 10000"),
        DeadLetterError("the Kafka broker refused the operation: boom"),
        RuntimeError("a bug"),
    ],
    ids=["invalid-id", "value-error", "other-dead-letter-error", "runtime-error"],
)
async def test_other_errors_pass_through_and_the_service_is_still_stopped(
    admin: KafkaDeadLetters,
    name: str,
    call: Call,
    asked: tuple[str, Any],
    error: BaseException,
) -> None:
    # A ValueError (a malformed id or cursor) is left for the endpoints, which answer 400.
    StandInService.error = error

    with pytest.raises(type(error)) as raised:
        await call(admin)

    assert raised.value is error
    assert only_service().stops == 1


async def test_a_cancelled_call_still_stops_the_service(admin: KafkaDeadLetters) -> None:
    StandInService.error = asyncio.CancelledError()

    with pytest.raises(asyncio.CancelledError):
        await admin.reinject("0:1")

    assert only_service().stops == 1


@pytest.mark.parametrize(
    ("error", "status", "message"),
    [
        (InvalidDeadLetterIdError("abc"), 400, "must look like 'partition:offset'"),
        (DeadLetterNotFoundError(TOPIC, "0:9", "past the end"), 404, "no dead letter 0:9"),
        (NotReinjectableError("0:9", "it is purged"), 409, "it is purged"),
        (BrokerUnavailableError("lost the Kafka broker"), 503, "lost the Kafka broker"),
    ],
)
async def test_the_endpoints_answer_the_mapped_status(
    admin: KafkaDeadLetters, error: BaseException, status: int, message: str
) -> None:
    api = DeadLettersApi(admin)
    StandInService.error = error

    for pending in (
        api.page({"limit": "5"}),
        api.show("0:9"),
        api.reinject("0:9"),
        api.purge("0:9"),
    ):
        with pytest.raises(ApiError) as raised:
            await pending
        assert raised.value.status == status
        assert message in raised.value.message
    assert [service.stops for service in StandInService.built] == [1, 1, 1, 1]
