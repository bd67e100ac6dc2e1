"""A web port that is taken is said in one line before the worker starts anything."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from dagger.service._worker import run_worker
from dagger.web._address import WebPortError, check_web_port
from tests.unit._listener_workflows import new_engine
from tests.unit.web._harness import free_port


@pytest.fixture
def taken() -> Iterator[int]:
    """A port something listens on, on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def conf(**settings: object) -> object:
    app_conf = new_engine().faust_app.conf
    for name, value in settings.items():
        setattr(app_conf, name, value)
    return app_conf


def test_a_port_in_use_is_named_with_its_address_and_the_fix(taken: int) -> None:
    with pytest.raises(WebPortError) as raised:
        check_web_port(conf(web_port=taken, web_bind="127.0.0.1"))

    assert str(raised.value) == (
        f"web port {taken} on 127.0.0.1 is in use; pass --web-port with a free one, or set WEB_PORT"
    )


def test_a_port_taken_on_loopback_is_in_use_for_every_interface_too(taken: int) -> None:
    with pytest.raises(WebPortError, match=f"web port {taken} on 0.0.0.0 is in use"):
        check_web_port(conf(web_port=taken, web_bind="0.0.0.0"))


def test_a_free_port_passes_and_stays_free() -> None:
    port = free_port()

    check_web_port(conf(web_port=port, web_bind="127.0.0.1"))

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))  # the check released it


def test_a_port_left_in_time_wait_passes() -> None:
    """A worker that just stopped leaves its connections in TIME_WAIT; aiohttp binds anyway."""
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        accepted.close()  # the server side closes first: its end waits in TIME_WAIT
        client.close()

    check_web_port(conf(web_port=port, web_bind="127.0.0.1"))


def test_an_address_not_of_this_machine_is_said_too() -> None:
    with pytest.raises(WebPortError, match=r"cannot be bound .*--web-bind"):
        check_web_port(conf(web_port=free_port(), web_bind="192.0.2.1"))


def test_a_bind_address_that_does_not_resolve_is_said_too() -> None:
    with pytest.raises(WebPortError, match=r"'no-such-host\.invalid' is not an address"):
        check_web_port(conf(web_port=free_port(), web_bind="no-such-host.invalid"))


def test_no_check_without_the_web_server(taken: int) -> None:
    check_web_port(conf(web_port=taken, web_enabled=False))


def test_the_worker_checks_before_it_starts(taken: int) -> None:
    with pytest.raises(WebPortError, match=f"web port {taken} on 127.0.0.1 is in use"):
        run_worker(new_engine(), web_port=taken, web_bind="127.0.0.1")


def test_main_says_a_port_in_use_in_one_line_and_exits_2(
    taken: int, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = new_engine()
    engine.faust_app.conf.web_port = taken
    engine.faust_app.conf.web_bind = "127.0.0.1"

    with pytest.raises(SystemExit) as exited:
        engine.main()

    assert exited.value.code == 2
    assert capsys.readouterr().err == (
        f"dagger: web port {taken} on 127.0.0.1 is in use; "
        "pass --web-port with a free one, or set WEB_PORT\n"
    )
