"""register_alias: the old paths of a renamed task class, checked when it is applied."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dagger.tasks._aliases import TaskClassAliases, task_class_aliases
from dagger.tasks.task import ExecutorTask, register_alias


class _Noop(ExecutorTask[str, Any]):
    async def execute(
        self, runtime_parameters: dict[str, Any], workflow_instance: Any = None
    ) -> None:
        """Nothing to do."""


@pytest.fixture(autouse=True)
def _forget_test_aliases() -> Iterator[None]:
    yield
    for path in ("old.tasks.Charge", "old.tasks.Pay", "older.Charge", "taken.Old"):
        task_class_aliases.remove(path)


def test_an_alias_means_the_decorated_class_under_either_spelling() -> None:
    @register_alias("old.tasks.Charge", "older.Charge")
    class Charge(_Noop):
        pass

    assert task_class_aliases.get("old.tasks.Charge") is Charge
    assert task_class_aliases.get("old.tasks:Charge") is Charge  # a stored key's spelling
    assert task_class_aliases.get("older:Charge") is Charge
    assert task_class_aliases.of(Charge) == ["old.tasks.Charge", "older.Charge"]
    assert task_class_aliases.get("old.tasks.Other") is None


def test_decorating_the_same_class_again_is_allowed() -> None:
    aliases = TaskClassAliases()
    aliases.add("old.tasks.Pay", _Noop)
    aliases.add("old.tasks.Pay", _Noop)  # a module imported twice

    assert aliases.get("old.tasks.Pay") is _Noop


def test_one_old_path_cannot_mean_two_classes() -> None:
    @register_alias("taken.Old")
    class First(_Noop):
        pass

    with pytest.raises(ValueError, match=r"already an alias of .*First"):

        @register_alias("taken.Old")
        class Second(_Noop):
            pass


@pytest.mark.parametrize("path", ["", "old tasks.Charge", "old..Charge", "1old.Charge", 3])
def test_a_malformed_path_says_what_a_path_is(path: Any) -> None:
    with pytest.raises(ValueError, match=r"package\.module\.ClassName"):
        register_alias(path)(_Noop)


def test_only_task_classes_take_aliases() -> None:
    with pytest.raises(TypeError, match="task classes"):
        register_alias("old.tasks.Charge")(dict)  # type: ignore[type-var]


def test_an_alias_is_not_the_class_s_own_path() -> None:
    with pytest.raises(ValueError, match="itself"):
        register_alias(f"{_Noop.__module__}.{_Noop.__qualname__}")(_Noop)


def test_register_alias_needs_a_path() -> None:
    with pytest.raises(TypeError, match="needs the old path"):
        register_alias()
