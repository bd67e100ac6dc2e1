"""The end-offset correction turns itself on for the embedded broker, by its cluster id."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from dagger.broker import _tansu_compat
from dagger.broker._tansu_compat import (
    ENV_VAR,
    embedded_cluster_id,
    is_embedded_cluster_id,
    offset_correction_installed,
    recognise_broker,
    uninstall_offset_correction,
)

LOGGER = "dagger.broker._tansu_compat"


@pytest.fixture(autouse=True)
def _no_correction(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Start and end each test with the correction off and the environment unset."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert not offset_correction_installed()
    yield
    while offset_correction_installed():
        uninstall_offset_correction()
    assert not _tansu_compat._Installation.recognised_applied


def test_an_embedded_cluster_id_is_recognised_and_another_is_not() -> None:
    assert is_embedded_cluster_id(embedded_cluster_id())
    assert embedded_cluster_id() != embedded_cluster_id()
    assert not is_embedded_cluster_id(None)
    assert not is_embedded_cluster_id("MkU3OEVBNTcwNTJENDM2Qk")  # an Apache Kafka id
    assert not is_embedded_cluster_id("dagger-not-hex")


def test_the_embedded_broker_turns_the_correction_on_once_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cluster_id = embedded_cluster_id()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert recognise_broker(cluster_id) is True
        assert recognise_broker(cluster_id) is True

    assert offset_correction_installed()
    lines = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert lines == [
        f"The broker is the embedded Tansu broker (cluster id {cluster_id}): its end-offset "
        "correction is on (DAGGER_TANSU_COMPAT=0 turns it off)"
    ]


def test_another_broker_keeps_the_correction_off(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert recognise_broker("MkU3OEVBNTcwNTJENDM2Qk") is False
        assert recognise_broker(None) is False

    assert not offset_correction_installed()
    assert caplog.records == []


@pytest.mark.parametrize("value", ["0", "false", " FALSE "])
def test_the_variable_at_zero_keeps_it_off_for_the_embedded_broker(
    value: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(ENV_VAR, value)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert recognise_broker(embedded_cluster_id()) is False

    assert not offset_correction_installed()
    assert "correction stays off: DAGGER_TANSU_COMPAT=" in caplog.text


def test_the_variable_at_one_turns_it_on_as_apply_if_requested_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV_VAR, "1")

    assert recognise_broker(embedded_cluster_id()) is True
    assert offset_correction_installed()
    uninstall_offset_correction()
    assert _tansu_compat.apply_if_requested() is True
    assert offset_correction_installed()
