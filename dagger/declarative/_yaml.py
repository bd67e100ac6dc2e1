"""Reading a workflow file: its YAML values, the line of each, ``${VAR}`` from the environment."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Any

import yaml

from dagger.declarative._errors import Path, Problem, dotted

_ENV_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass
class Source:
    """A parsed file: its data, and the line (1-based) each path starts on."""

    file: str
    data: Any
    lines: dict[Path, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def line_of(self, path: Path) -> int | None:
        """The line of ``path``, or of the nearest enclosing value the file has."""
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path)

    def problem(self, path: Path, message: str) -> None:
        """Record what is wrong at ``path``."""
        self.problems.append(Problem(self.file, self.line_of(path), dotted(path), message))


def read(path: str | FilePath, environ: Mapping[str, str] | None = None) -> Source:
    """Parse ``path``; ``${VAR}`` in its strings becomes the variable's value from ``environ``."""
    name = str(path)
    try:
        text = FilePath(path).read_text(encoding="utf-8")
    except OSError as exc:
        return Source(name, None, problems=[Problem(name, None, "", f"cannot read: {exc}")])
    return parse(text, name, os.environ if environ is None else environ)


def parse(text: str, name: str, environ: Mapping[str, str]) -> Source:
    """Parse YAML ``text`` (named ``name`` in errors)."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc)
        return Source(name, None, problems=[Problem(name, line, "", f"not valid YAML: {reason}")])
    finally:
        loader.dispose()
    source = Source(name, data)
    if node is not None:
        _walk(node, (), source)
    source.data = _substitute(data, (), source, environ)
    return source


def _walk(node: yaml.Node, path: Path, source: Source) -> None:
    source.lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else str(key)
            where: Path = (*path, name)
            if name in seen:
                source.lines[where] = key.start_mark.line + 1
                source.problem(where, "appears twice in the same mapping")
            seen.add(name)
            _walk(value, where, source)
    elif isinstance(node, yaml.SequenceNode):
        for index, value in enumerate(node.value):
            _walk(value, (*path, index), source)


def _substitute(value: Any, path: Path, source: Source, environ: Mapping[str, str]) -> Any:
    if isinstance(value, str):

        def variable(match: re.Match[str]) -> str:
            found = environ.get(match.group(1))
            if found is None:
                source.problem(path, f"environment variable {match.group(1)} is not set")
                return match.group(0)
            return found

        return _ENV_VAR.sub(variable, value)
    if isinstance(value, dict):
        return {k: _substitute(v, (*path, str(k)), source, environ) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, (*path, i), source, environ) for i, v in enumerate(value)]
    return value
