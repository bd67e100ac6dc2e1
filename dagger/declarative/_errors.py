"""Errors of declarative workflows: where in which file, and what is wrong there."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dagger.exceptions.exceptions import DaggerError

Path = tuple[str | int, ...]
"""A place in a document: mapping keys and sequence indexes, from the top."""


def dotted(path: Path) -> str:
    """``("jobs", "report", "needs", 0)`` as ``jobs.report.needs[0]``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a workflow file."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class DeclarativeError(DaggerError, ValueError):
    """Workflow files that cannot be loaded; ``problems`` lists each, with file and line."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


class ParamsError(DaggerError, ValueError):
    """Parameters that do not fit a workflow's ``params``; ``fields`` maps each bad one."""

    def __init__(self, workflow: str, fields: dict[str, str]) -> None:
        self.workflow = workflow
        self.fields = dict(fields)
        lines = "; ".join(f"{name}: {message}" for name, message in self.fields.items())
        super().__init__(f"workflow {workflow!r}: bad params: {lines}")


class StageFailed(DaggerError):
    """A ``raise`` stage: the workflow fails with the stage's message."""
