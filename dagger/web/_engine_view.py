"""What the HTTP API sees of the engine, declared in the web layer as a Protocol.

The API serves an engine without importing it: the service layer, which wires the API
into its engine, is above the web layer. :class:`dagger.service.services.Dagger`
satisfies :class:`EngineView` structurally; a test may give anything that does.
"""

from __future__ import annotations

from typing import Any, Protocol

from dagger.runtime._schedules import ManualRelease, ScheduleOwner
from dagger.runtime._settings import EngineSettings
from dagger.runtime._starts import InstanceStarter
from dagger.web._local import WorkerView

__all__ = ["EngineView", "InstanceControl"]


class InstanceControl(Protocol):
    """Stops, retries and reruns instances: events the worker that owns the instance applies."""

    async def stop_instance(self, instance: Any, *, task_id: str | None = None) -> None:
        """Stop ``instance`` (a workflow instance or its id), or only ``task_id`` in it."""
        ...

    async def retry_instance(self, instance: Any) -> None:
        """Run a FAILURE ``instance`` (a workflow instance or its id) again."""
        ...

    async def rerun_instance(
        self, instance: Any, node: str, parameters: dict[str, Any] | None = None
    ) -> None:
        """Run a finished ``instance`` again from ``node``, with ``parameters`` merged in."""
        ...


class EngineView(InstanceControl, InstanceStarter, Protocol):
    """The engine the HTTP API serves: its settings, its faust app and its worker."""

    settings: EngineSettings
    faust_app: Any
    template_dags: dict[str, Any]
    """The registered templates by name (the dashboard draws them; ``GET /workflows`` lists
    the declarative ones)."""

    def get_template(self, template_name: str) -> Any:
        """The registered template ``template_name``; TemplateDoesNotExist otherwise."""
        ...

    def worker_view(self) -> WorkerView:
        """This process's instance store and the partitions its worker owns."""
        ...

    def release_owner(self) -> ScheduleOwner:
        """What holds the schedules' state and the release audit in this process."""
        ...

    async def request_release(
        self,
        workflow: str,
        kind: str,
        *,
        logical_time: float | None = None,
        original: str | None = None,
    ) -> ManualRelease:
        """Ask the owner of ``workflow``'s schedule for a force, dry-run or rerun."""
        ...
