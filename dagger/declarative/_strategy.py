"""A job's ``strategy``: the matrix of combinations the job runs once each.

``matrix`` maps keys to lists of values (or to an expression on the params giving one);
the combinations are their cross product, the first key varying slowest. ``exclude``
drops each combination that has every key-value of one of its entries; ``include`` then
adds each of its entries as a combination of its own, unless a combination already
agrees with it (ddeutil-workflow's rules). ``max-parallel`` (default 1, as in
ddeutil-workflow) bounds how many combinations run at once; ``fail-fast`` (default false,
as there) makes the first failed combination stop the running ones and skip the rest.

The combinations are worked out when the instance is created, from its params.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dagger.declarative import _templating as templating
from dagger.declarative._errors import Path
from dagger.declarative._yaml import Source

_KEYS = ("matrix", "include", "exclude", "max-parallel", "fail-fast")


@dataclass(frozen=True)
class Strategy:
    """A job's checked ``strategy``."""

    matrix: dict[str, Any]
    """Key → list of values, or an expression on the params giving the list."""
    include: list[dict[str, Any]] = field(default_factory=list)
    exclude: list[dict[str, Any]] = field(default_factory=list)
    max_parallel: int = 1
    fail_fast: bool = False

    def combinations(self, context: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The combinations, in order; ValueError when a key's values are not a list."""
        values: dict[str, list[Any]] = {}
        for key, spec in self.matrix.items():
            found = templating.render(spec, context)
            if not isinstance(found, list):
                raise ValueError(f"matrix key {key!r} needs a list of values, got {found!r}")
            values[key] = found
        keys = list(values)
        found_all = [
            dict(zip(keys, combination, strict=True))
            for combination in itertools.product(*(values[key] for key in keys))
        ]
        kept = [
            combination
            for combination in found_all
            if not any(_has(combination, entry) for entry in self.exclude)
        ]
        for entry in self.include:
            if not any(_has(entry, combination) for combination in kept):
                kept.append(dict(entry))
        return kept


def _has(combination: Mapping[str, Any], entry: Mapping[str, Any]) -> bool:
    """True when ``combination`` has every key-value of ``entry``."""
    return all(key in combination and combination[key] == value for key, value in entry.items())


def check_strategy(source: Source, body: Any, path: Path) -> Strategy | None:
    """The checked ``strategy`` at ``path``; each problem goes to ``source`` at its path."""
    if not isinstance(body, dict):
        source.problem(path, "strategy is a mapping with matrix (and include, exclude, ...)")
        return None
    ok = True
    for key in body:
        if key not in _KEYS:
            source.problem((*path, str(key)), f"unknown field of strategy ({', '.join(_KEYS)})")
            ok = False
    matrix = body.get("matrix")
    if not isinstance(matrix, dict) or not matrix:
        source.problem(
            (*path, "matrix"), "matrix is a mapping of keys to lists of values, e.g. table: [a, b]"
        )
        return None
    for key, values in matrix.items():
        where = (*path, "matrix", str(key))
        if not isinstance(key, str) or not key.isidentifier():
            source.problem(where, f"{key!r} is not a matrix key (letters, digits and _)")
            ok = False
        elif isinstance(values, list):
            if not values:
                source.problem(where, "a matrix key needs at least one value")
                ok = False
        elif templating.has_expression(values):
            ok = _expressions(source, values, where) and ok
        else:
            source.problem(where, f"a list of values, or an expression giving one; got {values!r}")
            ok = False
    entries = {}
    for name in ("include", "exclude"):
        entries[name] = _entries(source, body.get(name, []), (*path, name), set(matrix))
        ok = ok and entries[name] is not None
    window = body.get("max-parallel", 1)
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        source.problem((*path, "max-parallel"), f"max-parallel is an integer >= 1, got {window!r}")
        ok = False
    fail_fast = body.get("fail-fast", False)
    if not isinstance(fail_fast, bool):
        source.problem((*path, "fail-fast"), "fail-fast is true or false")
        ok = False
    if not ok:
        return None
    return Strategy(
        dict(matrix), entries["include"] or [], entries["exclude"] or [], window, fail_fast
    )


def _expressions(source: Source, value: Any, path: Path) -> bool:
    ok = True
    for expression in templating.expressions(value):
        error = templating.check(expression)
        if error is not None:
            source.problem(path, f"${{{{ {expression} }}}} does not parse: {error}")
            ok = False
    return ok


def _entries(source: Source, body: Any, path: Path, keys: set[Any]) -> list[dict[str, Any]] | None:
    """``include`` or ``exclude``: a list of mappings over the matrix's keys."""
    if not isinstance(body, list):
        source.problem(path, f"{path[-1]} is a list of mappings of matrix keys to values")
        return None
    found: list[dict[str, Any]] = []
    ok = True
    for index, entry in enumerate(body):
        where = (*path, index)
        if not isinstance(entry, dict) or not entry:
            source.problem(where, "each entry is a mapping of matrix keys to values")
            ok = False
            continue
        for key in entry:
            if key not in keys:
                known = ", ".join(sorted(map(str, keys)))
                source.problem((*where, str(key)), f"unknown matrix key (the matrix has {known})")
                ok = False
        found.append(dict(entry))
    return found if ok else None
