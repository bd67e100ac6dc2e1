"""The schema-registry client against the stand-in: register, fetch by id, caching, errors."""

from __future__ import annotations

import base64
import json
import urllib.request

import pytest

from dagger.serializers.avro import SchemaNotFound, SchemaRegistryClient, SchemaRegistryError
from dagger.testing import SchemaRegistryStandIn
from tests.unit.serializers.conftest import ORDER, STATUS


def _calls(registry: SchemaRegistryStandIn) -> list[tuple[str, str]]:
    return [(request.method, request.path) for request in registry.requests]


def test_register_returns_the_id_and_get_by_id_returns_the_schema(
    registry: SchemaRegistryStandIn,
) -> None:
    client = SchemaRegistryClient(registry.url)

    order_id = client.register("orders-value", ORDER)
    status_id = client.register("status-value", STATUS)

    assert order_id != status_id
    assert registry.subjects() == {"orders-value": [order_id], "status-value": [status_id]}
    assert SchemaRegistryClient(registry.url).get_by_id(status_id) == STATUS
    assert json.loads(registry.schema(order_id) or "") == ORDER


def test_the_same_schema_has_the_same_id_under_every_subject(
    client: SchemaRegistryClient,
) -> None:
    assert client.register("a-value", ORDER) == client.register("b-value", json.dumps(ORDER))


def test_registrations_and_fetches_are_cached(
    registry: SchemaRegistryStandIn, client: SchemaRegistryClient
) -> None:
    schema_id = client.register("orders-value", ORDER)
    client.register("orders-value", ORDER)
    client.get_by_id(schema_id)  # known from the registration: no request
    other = SchemaRegistryClient(registry.url)
    other.get_by_id(schema_id)
    other.get_by_id(schema_id)

    assert _calls(registry) == [
        ("POST", "/subjects/orders-value/versions"),
        ("GET", f"/schemas/ids/{schema_id}"),
    ]
    assert other.is_cached(schema_id) and not other.is_cached(schema_id + 1)


def test_the_registration_sends_the_schema_as_json_text(
    registry: SchemaRegistryStandIn, client: SchemaRegistryClient
) -> None:
    client.register("my topic/value", "string")

    [request] = registry.requests
    assert request.path == "/subjects/my%20topic%2Fvalue/versions"
    assert request.headers["Content-Type"] == "application/vnd.schemaregistry.v1+json"
    assert registry.subjects() == {"my topic/value": [1]}
    assert registry.schema(1) == '"string"'


def test_credentials_in_the_url_are_sent_as_basic_auth(registry: SchemaRegistryStandIn) -> None:
    host_and_port = registry.url.removeprefix("http://")
    client = SchemaRegistryClient(f"http://svc%40shop:s3cret@{host_and_port}/")

    client.register("orders-value", ORDER)

    assert client.url == registry.url
    expected = base64.b64encode(b"svc@shop:s3cret").decode()
    assert registry.requests[0].headers["Authorization"] == f"Basic {expected}"


def test_an_unknown_schema_id_raises_schema_not_found(client: SchemaRegistryClient) -> None:
    with pytest.raises(SchemaNotFound, match="HTTP 404 Schema 99 not found") as caught:
        client.get_by_id(99)

    assert caught.value.status == 404
    assert caught.value.error_code == 40403


def test_a_refused_schema_raises_with_the_registry_error(client: SchemaRegistryClient) -> None:
    with pytest.raises(SchemaRegistryError, match="HTTP 422 Invalid schema") as caught:
        client.register("orders-value", {"name": "NoType"})

    assert caught.value.status == 422
    assert caught.value.error_code == 42201
    assert not isinstance(caught.value, SchemaNotFound)


def test_an_unreachable_registry_raises_a_registry_error() -> None:
    with SchemaRegistryStandIn() as stand_in:
        url = stand_in.url
    client = SchemaRegistryClient(url, timeout=2)

    with pytest.raises(SchemaRegistryError, match="could not be reached"):
        client.get_by_id(1)


@pytest.mark.parametrize("url", ["127.0.0.1:8081", "ftp://registry:21", "http://", "", None, 8081])
def test_a_url_that_is_not_http_is_refused(url: object) -> None:
    with pytest.raises(ValueError, match="must be an http"):
        SchemaRegistryClient(url)  # type: ignore[arg-type]


@pytest.mark.parametrize("timeout", [0, -1, True, "5"])
def test_the_timeout_must_be_positive_seconds(timeout: object) -> None:
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        SchemaRegistryClient("http://127.0.0.1:8081", timeout=timeout)  # type: ignore[arg-type]


def test_a_schema_that_is_not_a_schema_shape_is_refused(client: SchemaRegistryClient) -> None:
    with pytest.raises(TypeError, match="dict, a list"):
        client.register("orders-value", 42)
    with pytest.raises(ValueError, match="must be JSON"):
        client.register("orders-value", "{not json")
    with pytest.raises(ValueError, match="subject"):
        client.register("", ORDER)


def test_the_stand_in_answers_unknown_routes_with_404(registry: SchemaRegistryStandIn) -> None:
    request = urllib.request.Request(registry.url + "/subjects", method="GET")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    assert caught.value.code == 404
    caught.value.close()


def test_the_stand_in_cannot_be_restarted_once_stopped() -> None:
    stand_in = SchemaRegistryStandIn().start()
    stand_in.start()  # already serving: nothing happens
    stand_in.stop()
    stand_in.stop()

    with pytest.raises(RuntimeError, match="was stopped"):
        stand_in.start()
    with pytest.raises(RuntimeError, match="not started"):
        _ = stand_in.url
