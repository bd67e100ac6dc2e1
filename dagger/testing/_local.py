"""Run an engine's workflows in this process, without Kafka, to test them."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any

from dagger.core._events import InstanceCreated, InstanceSubmitted
from dagger.core._wire import encode_event
from dagger.runtime._owner import InstanceOwner
from dagger.runtime._updates import UpdatePublisher, update_document
from dagger.tasks._base import ITemplateDAGInstance

if TYPE_CHECKING:
    from dagger.service._dagger import Dagger


class LocalEngine:
    """Runs ``engine``'s instances in memory, through the same owner loop a worker runs.

    While it is active, ``create_instance`` and ``submit`` apply their events at once to
    an in-memory store instead of sending them to Kafka; every stored change is recorded
    as the plain-JSON document the task update topic would carry, and the engine's
    ``task_update_callbacks`` are awaited as on a worker.

    Example:
        >>> async with LocalEngine(engine) as local:  # doctest: +SKIP
        ...     instance = await engine.get_template("orders").create_instance(
        ...         uuid.uuid4(), "order_id", order_id="o-1", submit_task=True
        ...     )
        ...     assert local.get_instance(instance.id).status.code == "COMPLETED"
    """

    def __init__(self, engine: Dagger) -> None:
        self.engine = engine
        self.store: dict[bytes, bytes] = {}
        self.updates: list[dict[str, Any]] = []
        publisher = UpdatePublisher(None, [*engine.task_update_callbacks, self._record])
        self._owner = InstanceOwner(
            self.store,
            publisher=publisher,
            delete_on_complete=engine.settings.delete_workflow_on_complete,
        )

    async def __aenter__(self) -> LocalEngine:
        if self.engine._local_sink is not None:
            raise RuntimeError("a LocalEngine is already active for this engine")
        self.engine._local_sink = self._deliver
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.engine._local_sink = None

    def get_instance(self, instance_id: Any) -> ITemplateDAGInstance[Any, Any] | None:
        """Return the stored instance ``instance_id`` (None if deleted or unknown)."""
        return self._owner.load(str(instance_id))

    async def _deliver(self, event: InstanceCreated | InstanceSubmitted, partition: int) -> None:
        await self._owner.handle(encode_event(event), partition)

    async def _record(self, instance: ITemplateDAGInstance[Any, Any]) -> None:
        self.updates.append(update_document(instance))
