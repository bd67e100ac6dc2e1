"""Loading workflow files onto an engine: glob, read, check every file, then compile."""

from __future__ import annotations

import glob
from collections.abc import Mapping, Sequence
from pathlib import Path as FilePath

from dagger.declarative._compile import compile_workflow
from dagger.declarative._errors import DeclarativeError, Problem
from dagger.declarative._model import Workflow, check
from dagger.declarative._template import DeclarativeTemplate
from dagger.declarative._yaml import read
from dagger.service.services import Dagger


def files_of(patterns: Sequence[str | FilePath]) -> list[str]:
    """The files ``patterns`` name (globs, files, or folders of ``*.yaml``/``*.yml``), sorted."""
    if isinstance(patterns, str | FilePath):
        raise TypeError(f"workflows takes a list of paths or globs, got {patterns!r}")
    found: list[str] = []
    for pattern in patterns:
        path = FilePath(pattern)
        if path.is_dir():
            matches = sorted(str(p) for p in path.iterdir() if p.suffix in {".yaml", ".yml"})
        else:
            matches = sorted(glob.glob(str(pattern), recursive=True))
        if not matches:
            raise DeclarativeError([Problem(str(pattern), None, "", "no workflow file matches")])
        found.extend(match for match in matches if match not in found)
    return found


def check_files(
    patterns: Sequence[str | FilePath], environ: Mapping[str, str] | None = None
) -> list[Workflow]:
    """The workflows of the files; DeclarativeError listing every problem of every file."""
    problems: list[Problem] = []
    workflows: list[Workflow] = []
    seen: dict[str, str] = {}
    for file in files_of(patterns):
        source = read(file, environ)
        found = check(source)
        problems.extend(source.problems)
        for workflow in found:
            if workflow.name in seen:
                problems.append(
                    Problem(
                        file,
                        workflow.line,
                        workflow.name,
                        f"workflow {workflow.name!r} is defined in {seen[workflow.name]} too",
                    )
                )
            seen[workflow.name] = file
        workflows.extend(found)
    if problems:
        raise DeclarativeError(problems)
    return workflows


def load(
    engine: Dagger,
    patterns: Sequence[str | FilePath],
    environ: Mapping[str, str] | None = None,
) -> dict[str, DeclarativeTemplate]:
    """Check the workflow files, then compile each workflow into a template of ``engine``.

    Nothing is registered when a file has a problem: the DeclarativeError names each one
    with its file, line and path.
    """
    workflows = check_files(patterns, environ)
    return {workflow.name: compile_workflow(engine, workflow) for workflow in workflows}
