"""``Dagger(store="aerospike://", aerospike_config=...)``: what is accepted, what fails and how."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from dagger.exceptions.exceptions import ConfigurationError
from dagger.service.engineconfig import AerospikeConfig
from dagger.service.services import Dagger
from dagger.testing import FakeAerospikeClient
from tests.unit._workflows import OFFLINE_BROKER


def _config(**fields: Any) -> AerospikeConfig:
    values: dict[str, Any] = {
        "HOSTS": [("127.0.0.1", 3000)],
        "POLICIES": None,
        "NAMESPACE": "dagger",
        "USERNAME": None,
        "PASSWORD": None,
        "TTL": -1,
        "KWARGS": {},
    }
    values.update(fields)
    return AerospikeConfig(**values)


def _engine(config: Any, **arguments: Any) -> Dagger:
    return Dagger(broker=OFFLINE_BROKER, store="aerospike://", aerospike_config=config, **arguments)


def test_hosts_policies_and_credentials_make_the_client_config() -> None:
    config = _config(
        HOSTS=[("10.0.0.1", 3000), "10.0.0.2:4000", ("10.0.0.3", 4333, "tls-name")],
        POLICIES={"read": {"total_timeout": 500}},
        USERNAME="dagger",
        PASSWORD="secret",
        TTL=3600,
        KWARGS={"client_config": {"cluster_name": "prod"}},
    )

    settings = _engine(config, application_name="orders").settings.aerospike

    assert settings is not None
    assert settings.hosts == (
        ("10.0.0.1", 3000),
        ("10.0.0.2", 4000),
        ("10.0.0.3", 4333, "tls-name"),
    )
    assert settings.client_config == {
        "hosts": [("10.0.0.1", 3000), ("10.0.0.2", 4000), ("10.0.0.3", 4333, "tls-name")],
        "policies": {"read": {"total_timeout": 500}},
        "user": "dagger",
        "password": "secret",
        "cluster_name": "prod",
    }
    assert "secret" not in repr(settings)
    assert settings.namespace == "dagger"
    assert settings.ttl == 3600
    assert settings.set_name("dagger_instances") == "orders_dagger_instances"


def test_a_ready_client_and_a_set_prefix_come_through_kwargs() -> None:
    client = FakeAerospikeClient()
    config = _config(HOSTS=[], KWARGS={"client": client, "set_prefix": "svc-"})

    engine = _engine(config)

    assert engine.settings.aerospike is not None
    assert engine.settings.aerospike.client is client
    assert engine._runtime.instances.backing.set_name == "svc-dagger_instances"
    client.close()


@pytest.mark.parametrize(
    "hosts",
    [
        [],
        None,
        "127.0.0.1:3000",
        [("127.0.0.1",)],
        [("127.0.0.1", "3000")],
        [("127.0.0.1", 0)],
        [("127.0.0.1", 70000)],
        [("", 3000)],
        ["127.0.0.1"],
        ["127.0.0.1:port"],
        [("127.0.0.1", True)],
        [["127.0.0.1", 3000]],
    ],
)
def test_bad_hosts_are_refused(hosts: Any) -> None:
    with pytest.raises(ConfigurationError, match="HOSTS must be a non-empty list of"):
        _engine(_config(HOSTS=hosts))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"NAMESPACE": ""}, "NAMESPACE must be the name of a namespace"),
        ({"NAMESPACE": None}, "NAMESPACE must be the name of a namespace"),
        ({"NAMESPACE": "n" * 32}, "NAMESPACE must be the name of a namespace"),
        ({"TTL": -2}, "TTL must be -1"),
        ({"TTL": 1.5}, "TTL must be -1"),
        ({"TTL": None}, "TTL must be -1"),
        ({"POLICIES": "fast"}, "POLICIES must be a dict"),
        ({"USERNAME": "u"}, "USERNAME and PASSWORD go together"),
        ({"PASSWORD": "p"}, "USERNAME and PASSWORD go together"),
        ({"KWARGS": {"setprefix": "x"}}, "unknown AerospikeConfig.KWARGS key.*setprefix"),
        ({"KWARGS": "x"}, "KWARGS must be a dict"),
        ({"KWARGS": {"set_prefix": "a:b"}}, "set_prefix'\\] must be a string without"),
        ({"KWARGS": {"set_prefix": "p" * 43}}, "set_prefix'\\] must be a string without"),
        ({"KWARGS": {"client_config": {"hosts": []}}}, "must not set hosts"),
        ({"KWARGS": {"client_config": []}}, "client_config'\\] must be a dict"),
        ({"KWARGS": {"client": object()}}, "must be an Aerospike client"),
    ],
)
def test_bad_fields_are_refused_with_the_field_named(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        _engine(_config(**fields))


def test_a_long_application_name_needs_a_set_prefix() -> None:
    with pytest.raises(ConfigurationError, match="shorten application_name or set KWARGS"):
        _engine(_config(), application_name="a" * 50)
    assert _engine(_config(KWARGS={"set_prefix": "a_"}), application_name="a" * 50)


def test_a_ready_client_with_hosts_is_refused() -> None:
    client = FakeAerospikeClient()
    with pytest.raises(ConfigurationError, match="HOSTS, USERNAME, PASSWORD would be ignored"):
        _engine(_config(USERNAME="u", PASSWORD="p", KWARGS={"client": client}))
    client.close()


def test_something_else_than_an_aerospike_config_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"must be a dagger\.service\.engineconfig"):
        _engine({"HOSTS": [("127.0.0.1", 3000)]})


def test_a_missing_client_package_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "aerospike", None)  # what `import` sees when absent

    with pytest.raises(ConfigurationError, match=r"pip install 'dagger-workflows\[aerospike\]'"):
        _engine(_config())


def test_enable_changelog_is_irrelevant_for_the_shared_store() -> None:
    assert _engine(_config(), enable_changelog=False).settings.store == "aerospike://"
