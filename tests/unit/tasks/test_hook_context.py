"""The running hook's instance: what intents recorded from a hook are recorded on."""

from __future__ import annotations

import asyncio

import pytest

from dagger.exceptions.exceptions import DaggerError
from dagger.tasks import _engine_link
from dagger.tasks._engine_link import bind_engine, bound_engine
from dagger.tasks._hook_context import hook_instance, instance_in_hook, running_hook
from dagger.tasks.task import DefaultTemplateDAGInstance


def _instance(instance_id: str) -> DefaultTemplateDAGInstance:
    return DefaultTemplateDAGInstance(id=instance_id, task_name=instance_id)


def test_the_running_instance_is_marked_only_inside_the_hook() -> None:
    running = _instance("w-1")
    assert hook_instance() is None

    with running_hook(running):
        assert hook_instance() is running
        with running_hook(_instance("w-2")):
            assert hook_instance() is not running
        assert hook_instance() is running

    assert hook_instance() is None


def test_the_mark_is_reset_when_the_hook_raises() -> None:
    with pytest.raises(RuntimeError), running_hook(_instance("w-1")):
        raise RuntimeError("hook failed")

    assert hook_instance() is None


def test_a_hook_changes_the_running_copy_of_its_own_instance() -> None:
    running, given = _instance("w-1"), _instance("w-1")

    with running_hook(running):
        assert instance_in_hook(None) is running
        assert instance_in_hook(given) is running  # the stored copy, not the caller's
        other = _instance("w-2")
        assert instance_in_hook(other) is other

    assert instance_in_hook(given) is given
    assert instance_in_hook(None) is None


async def test_concurrent_hooks_each_see_their_own_instance() -> None:
    async def hook(instance: DefaultTemplateDAGInstance) -> str | None:
        with running_hook(instance):
            await asyncio.sleep(0)
            seen = hook_instance()
            return None if seen is None else seen.id

    assert await asyncio.gather(hook(_instance("a")), hook(_instance("b"))) == ["a", "b"]


class _Engine:
    def __init__(self, name: str) -> None:
        self.name = name

    async def stop_instance(self, instance: object, *, task_id: str | None = None) -> None:
        """Not called here."""

    async def fire_due_timers(self) -> int:
        return 0


def test_hooks_reach_the_engine_bound_last(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_engine_link, "_bound", [])  # the other tests' engines stay bound
    first, second = _Engine("first"), _Engine("second")

    bind_engine(first)
    bind_engine(second)

    assert bound_engine("stop") is second


def test_no_engine_bound_says_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_engine_link, "_bound", [])

    with pytest.raises(DaggerError, match=r"stop\(\) needs a Dagger\(...\) instance created first"):
        bound_engine("stop")
