"""The intake topic's records: schema, ids, starting instances and the dead letters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from dagger.core._codec import loads
from dagger.runtime._dead_letter_writer import DeadLetterWriter
from dagger.runtime._intake import InstanceIntake, IntakeRefused, parse_intake_record
from dagger.runtime._intake_schema import intake_schema, schema_violation
from dagger.runtime._starts import StartRequest, reuse_conflict, stable_id
from dagger.service.services import Dagger
from dagger.tasks.task import ITemplateDAGInstance
from dagger.testing import LocalEngine
from tests.unit._workflows import OFFLINE_BROKER, RecordingTask, build_template

DOCS_SCHEMA = Path(__file__).parents[3] / "docs" / "schemas" / "intake.schema.json"
ORIGIN = {"topic": "dagger_intake", "partition": 0, "offset": 5}


def record(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


class Letters:
    """A dead-letter writer whose letters are kept as documents."""

    def __init__(self) -> None:
        self.documents: list[dict[str, Any]] = []
        self.writer = DeadLetterWriter(self._send)

    async def _send(self, key: bytes, value: bytes) -> None:
        self.documents.append(loads(value))

    @property
    def reasons(self) -> list[str]:
        return [document["reason"] for document in self.documents]


@pytest.fixture
def local_engine() -> Dagger:
    engine = Dagger(broker=OFFLINE_BROKER, store="memory://")
    template = build_template(engine, [("main", [("a", RecordingTask)])], name="orders")
    engine.template_dags["orders"] = template
    return engine


def intake_for(engine: Dagger, local: LocalEngine, letters: Letters) -> InstanceIntake:
    return InstanceIntake(
        starter=engine,
        lookup=local.get_instance,
        dead_letters=letters.writer,
        message_id_header="message-id",
    )


# -- the schema ---------------------------------------------------------------------------
def test_the_published_schema_is_the_one_the_engine_checks_with() -> None:
    assert json.loads(DOCS_SCHEMA.read_text()) == intake_schema()
    validator = jsonschema.validators.validator_for(intake_schema())
    validator.check_schema(intake_schema())


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ({"params": {}}, "'template' is a required property"),
        ({"template": "orders"}, "'params' is a required property"),
        ({"template": "orders", "params": []}, "params: [] is not of type 'object'"),
        ({"template": "", "params": {}}, "template"),
        ({"template": "orders", "params": {}, "extra": 1}, "Additional properties"),
        ({"template": "orders", "id": "a b", "params": {}}, "id: 'a b' does not match"),
        ({"template": "orders", "params": {"seed": 1}}, "params"),
        ({"template": "orders", "params": {}, "partition_key": 3}, "partition_key"),
        ([1, 2], "is not of type 'object'"),
    ],
)
def test_records_the_schema_refuses(value: Any, fragment: str) -> None:
    violation = schema_violation(value)
    assert violation is not None
    assert fragment in violation


def test_a_full_record_is_valid() -> None:
    value = {"template": "t", "id": "i-1", "partition_key": "k", "params": {"k": "v", "n": 1}}
    assert schema_violation(value) is None


# -- decoding and ids ------------------------------------------------------------------------
def test_a_record_that_is_not_json_is_refused_as_such() -> None:
    with pytest.raises(IntakeRefused) as refused:
        parse_intake_record(b"\xff{not json", "default")
    assert refused.value.reason == "intake_not_json"


def test_a_record_without_an_id_takes_the_default_one() -> None:
    request = parse_intake_record(record(template="t", params={"a": 1}), "the-default")
    assert request == StartRequest("t", "the-default", {"a": 1}, None)
    named = parse_intake_record(record(template="t", id="mine", params={}), "the-default")
    assert named.instance_id == "mine"


def test_default_ids_are_stable_and_come_from_the_message_id_first() -> None:
    intake = InstanceIntake(
        starter=None,  # type: ignore[arg-type]
        lookup=lambda _: None,
        dead_letters=DeadLetterWriter(None),
        message_id_header="message-id",
    )
    by_header = intake.default_id(ORIGIN, [("message-id", b"m-1")])
    assert by_header == intake.default_id({**ORIGIN, "offset": 99}, [("message-id", b"m-1")])
    assert by_header == stable_id("dagger_intake#m-1")
    by_offset = intake.default_id(ORIGIN, None)
    assert by_offset == intake.default_id(dict(ORIGIN), [])
    assert by_offset != intake.default_id({**ORIGIN, "offset": 6}, None)
    assert by_offset != by_header


def test_reuse_conflicts_name_the_differing_params_and_the_template() -> None:
    request = StartRequest("orders", "i-1", {"a": 1, "b": [1, 2]})
    assert reuse_conflict(request, "orders", {"a": 1, "b": [1, 2], "added": True}) is None
    assert "differing: b" in str(reuse_conflict(request, "orders", {"a": 1, "b": [2]}))
    assert "template 'payments'" in str(reuse_conflict(request, "payments", {"a": 1}))


# -- starting instances ----------------------------------------------------------------------
async def test_a_record_starts_an_instance_that_runs(local_engine: Dagger) -> None:
    letters = Letters()
    async with LocalEngine(local_engine) as local:
        intake = intake_for(local_engine, local, letters)
        started = await intake.take(
            record(template="orders", id="o-1", params={"order_id": "o-1"}), ORIGIN
        )
        assert started is not None and started.id == "o-1"
        stored = local.get_instance("o-1")
    assert stored is not None
    assert stored.status.code == "COMPLETED"
    assert stored.runtime_parameters["order_id"] == "o-1"
    assert letters.documents == []


async def test_a_redelivered_record_starts_one_instance(local_engine: Dagger) -> None:
    letters = Letters()
    headers = [("message-id", b"m-7")]
    value = record(template="orders", params={"n": 1})
    async with LocalEngine(local_engine) as local:
        intake = intake_for(local_engine, local, letters)
        first = await intake.take(value, ORIGIN, headers)
        again = await intake.take(value, {**ORIGIN, "offset": 6}, headers)
        assert first is not None and again is None
        assert len(local.store) == 1
    assert letters.documents == []


async def test_an_id_reused_with_other_params_is_dead_lettered(local_engine: Dagger) -> None:
    letters = Letters()
    async with LocalEngine(local_engine) as local:
        intake = intake_for(local_engine, local, letters)
        await intake.take(record(template="orders", id="o-1", params={"n": 1}), ORIGIN)
        refused = await intake.take(record(template="orders", id="o-1", params={"n": 2}), ORIGIN)
        stored = local.get_instance("o-1")
    assert refused is None
    assert stored is not None and stored.runtime_parameters["n"] == 1
    assert letters.reasons == ["id_reused"]
    assert "differing: n" in letters.documents[0]["error_message"]
    assert letters.documents[0]["origin"] == ORIGIN


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"not json", "intake_not_json"),
        (record(template="orders"), "intake_invalid"),
        (record(template="nope", params={}), "intake_unknown_template"),
        (
            record(template="orders", partition_key="order_id", params={"x": 1}),
            "intake_missing_partition_key",
        ),
    ],
)
async def test_bad_records_go_to_the_dead_letters(
    local_engine: Dagger, value: bytes, reason: str
) -> None:
    letters = Letters()
    async with LocalEngine(local_engine) as local:
        intake = intake_for(local_engine, local, letters)
        assert await intake.take(value, ORIGIN, [("message-id", b"m-1")]) is None
        good = await intake.take(record(template="orders", params={}), {**ORIGIN, "offset": 9})
        assert good is not None  # the agent goes on with the next record
        assert len(local.store) == 1
    assert letters.reasons == [reason]
    letter = letters.documents[0]
    assert letter["origin"] == ORIGIN
    assert letter["value"] is not None and letter["headers"]


async def test_params_the_template_refuses_are_dead_lettered() -> None:
    class Refusing:
        async def start_instance(self, request: StartRequest) -> ITemplateDAGInstance[Any, Any]:
            raise TypeError("amount must be a number")

    letters = Letters()
    intake = InstanceIntake(
        starter=Refusing(),
        lookup=lambda _: None,
        dead_letters=letters.writer,
        message_id_header=None,
    )
    assert await intake.take(record(template="orders", params={"amount": "x"}), ORIGIN) is None
    assert letters.reasons == ["intake_bad_params"]
    assert "amount must be a number" in letters.documents[0]["error_message"]


async def test_the_owner_dead_letters_a_created_event_that_reuses_an_id(
    local_engine: Dagger,
) -> None:
    template = local_engine.get_template("orders")
    async with LocalEngine(local_engine) as local:
        await template.create_instance("o-1", submit_task=True, n=1)
        await template.create_instance("o-1", submit_task=True, n=1)
        assert local.dead_letters == []  # a repeat: dropped, nothing to say
        await template.create_instance("o-1", submit_task=True, n=2)
        stored = local.get_instance("o-1")
    assert stored is not None and stored.runtime_parameters["n"] == 1
    assert [letter["reason"] for letter in local.dead_letters] == ["id_reused"]
    assert local.dead_letters[0]["origin"]["instance_id"] == "o-1"
