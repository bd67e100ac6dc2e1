"""``set_needs`` and ``set_trigger_rule``: what every task and process builder offers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dagger.tasks._needs import TriggerRule

if TYPE_CHECKING:
    from typing_extensions import Self

    from dagger.templates._task_templates import TaskTemplate


def check_needs(needs: Any) -> tuple[str, ...]:
    """Validate the names a node needs: a list of non-empty strings."""
    if isinstance(needs, str) or not isinstance(needs, list | tuple):
        raise TypeError(f"set_needs takes a list of names, got {needs!r}")
    for name in needs:
        if not isinstance(name, str) or not name:
            raise ValueError(f"set_needs takes names (non-empty strings), got {name!r}")
    return tuple(needs)


class NeedsBuilder:
    """Lets what a builder builds wait for its siblings (see ``dagger.templates._needs``)."""

    _needs: tuple[str, ...] = ()
    _trigger_rule: TriggerRule = TriggerRule.ALL_SUCCESS

    def set_needs(self, needs: list[str]) -> Self:
        """Run only after the sibling tasks (or processes) named ``needs``, by the trigger rule.

        Siblings are the tasks added to the same process with ``set_root_task`` and
        ``add_task`` (or the processes of a template, with ``set_root`` and
        ``add_process``); every sibling whose needs are met runs at the same time.
        """
        self._needs = check_needs(needs)
        return self

    def set_trigger_rule(self, rule: TriggerRule | str) -> Self:
        """When this runs, judged on how its needs ended (default ``all_success``)."""
        self._trigger_rule = TriggerRule.of(rule)
        return self

    def _mark(self, template: TaskTemplate) -> TaskTemplate:
        """Give the built ``template`` this builder's needs and trigger rule."""
        if self._needs:
            template.needs = self._needs
        if self._trigger_rule is not TriggerRule.ALL_SUCCESS:
            template.trigger_rule = self._trigger_rule
        return template
