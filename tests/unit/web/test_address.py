"""The URL a worker advertises to its group for the other workers' requests."""

from __future__ import annotations

import pytest

from dagger.web._address import advertise
from tests.unit._listener_workflows import new_engine


@pytest.fixture(autouse=True)
def _no_web_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WEB_HOST", "WEB_BIND", "WEB_PORT", "NODE_CANONICAL_URL"):
        monkeypatch.delenv(name, raising=False)


def test_a_worker_bound_to_one_address_advertises_that_address() -> None:
    engine = new_engine()
    engine.faust_app.conf.web_port = 6071

    url = advertise(engine.faust_app.conf, engine.settings.faust_settings, web_host=None)

    assert url == "http://127.0.0.1:6071"
    assert str(engine.faust_app.conf.canonical_url) == "http://127.0.0.1:6071"


def test_a_worker_bound_to_every_interface_advertises_its_host_name() -> None:
    engine = new_engine(web_bind="0.0.0.0", web_host="worker-7.internal", web_port=6072)

    url = advertise(engine.faust_app.conf, engine.settings.faust_settings, web_host=None)

    assert url == "http://worker-7.internal:6072"


def test_a_host_given_on_the_command_line_is_advertised() -> None:
    engine = new_engine(web_bind="0.0.0.0")

    url = advertise(engine.faust_app.conf, engine.settings.faust_settings, web_host="w1.lan")

    assert url == f"http://w1.lan:{engine.faust_app.conf.web_port}"


def test_an_ipv6_bind_address_is_bracketed() -> None:
    engine = new_engine(web_bind="::1", web_port=6073)

    assert advertise(engine.faust_app.conf, {}, web_host=None) == "http://[::1]:6073"


def test_a_configured_canonical_url_is_kept() -> None:
    engine = new_engine(canonical_url="http://lb.example:8080")

    url = advertise(engine.faust_app.conf, engine.settings.faust_settings, web_host=None)

    assert url == "http://lb.example:8080"
