"""Per-creation shapes: the processes chosen at runtime for one workflow instance.

``set_dynamic_builders_for_process_template`` and the ``..._for_a_composite_process``
methods choose the processes of a dynamic or parallel process for the instances created
next. The original stored the choice on the shared template, so two instances created at
the same time with different shapes could cross. Here the choice lives in a context
variable: it belongs to the asyncio task (and its children) that made it, and
``create_instance`` takes a snapshot when it is called.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dagger.templates._process_templates import IProcessTemplateDAG

Shape = Mapping[str, "list[IProcessTemplateDAG]"]
"""Process name -> the processes chosen for it."""

_chosen: ContextVar[Mapping[tuple[int, str], list[IProcessTemplateDAG]]] = ContextVar(
    "dagger_chosen_shapes", default=MappingProxyType({})
)
_creating: ContextVar[Shape] = ContextVar("dagger_creating_shape", default=MappingProxyType({}))


def choose(template: object, process_name: str, processes: list[IProcessTemplateDAG]) -> None:
    """Use ``processes`` for ``process_name`` in the instances ``template`` creates next."""
    _chosen.set({**_chosen.get(), (id(template), process_name): list(processes)})


def chosen_for(template: object) -> Shape:
    """A snapshot of the processes chosen in this context for ``template``'s processes."""
    key = id(template)
    return {name: processes for (owner, name), processes in _chosen.get().items() if owner == key}


@contextlib.contextmanager
def creating(shape: Shape) -> Iterator[None]:
    """Make ``shape`` the one the process templates read while an instance is created."""
    token = _creating.set(shape)
    try:
        yield
    finally:
        _creating.reset(token)


def processes_for(process_name: str) -> list[IProcessTemplateDAG] | None:
    """The processes chosen for ``process_name`` in the creation under way, if any."""
    return _creating.get().get(process_name)
