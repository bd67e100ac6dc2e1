"""``bash`` stages: a script in a subprocess, with a timeout; off unless allowed.

A workflow file that can run shell scripts on a worker is code execution by whoever
writes the file, so ``bash`` stages load only where the program allows them with
:func:`allow_bash` (or ``DAGGER_ALLOW_BASH=1``). The script is the YAML's literal text:
expressions may not be spliced into it (a parameter could inject commands); values
reach it through ``env``, rendered, and read as ``$NAME``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from typing import Any

ENVIRONMENT_SWITCH = "DAGGER_ALLOW_BASH"
"""The environment variable that allows ``bash`` stages when it is ``1``."""

DEFAULT_TIMEOUT = 300.0
"""Seconds a script may run when its stage names no ``timeout``."""

OUTPUT_LIMIT = 64 * 1024
"""The most characters of stdout (and of stderr) kept in the stage's outputs."""

REFUSED = (
    "bash stages are off: allow them with dagger.declarative.allow_bash() before loading, "
    f"or {ENVIRONMENT_SWITCH}=1 (a bash stage runs its script on the worker)"
)

_allowed: list[bool] = []


def allow_bash(allowed: bool = True) -> None:
    """Allow (or forbid again) ``bash`` stages in the files this process loads and runs."""
    _allowed[:] = [bool(allowed)]


def allowed() -> bool:
    """Whether ``bash`` stages may load and run here."""
    if _allowed:
        return _allowed[0]
    return os.environ.get(ENVIRONMENT_SWITCH) == "1"


class ScriptFailed(Exception):
    """A ``bash`` script that exited non-zero or ran out of time."""


async def run_script(script: str, env: Mapping[str, Any], timeout: float) -> dict[str, Any]:
    """Run ``script`` with ``bash -c``; its outputs, or ScriptFailed with its stderr."""
    if not allowed():
        raise ScriptFailed(REFUSED)
    environment = {**os.environ, **{str(name): str(value) for name, value in env.items()}}
    process = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        script,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
        env=environment,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()
        raise ScriptFailed(f"the script ran longer than {timeout} seconds and was killed") from None
    out = stdout.decode(errors="replace")[-OUTPUT_LIMIT:]
    err = stderr.decode(errors="replace")[-OUTPUT_LIMIT:]
    if process.returncode != 0:
        tail = err.strip().splitlines()[-1] if err.strip() else "no stderr"
        raise ScriptFailed(f"the script exited with {process.returncode}: {tail}")
    return {"stdout": out, "stderr": err, "returncode": process.returncode}
