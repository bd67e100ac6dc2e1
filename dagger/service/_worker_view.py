"""The :class:`~dagger.web._local.WorkerView` of an engine: what its HTTP API answers for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from dagger import _faust_internals as faust_internals
from dagger.runtime._listing_index import ListingIndex

if TYPE_CHECKING:
    from dagger.service._dagger import Dagger

__all__ = ["EngineWorkerView"]


class EngineWorkerView:
    """This worker's instance table and partitions, from its faust app and tables.

    While a :class:`dagger.testing.LocalEngine` runs, it is that engine's in-memory store,
    which owns every partition.
    """

    def __init__(self, engine: Dagger) -> None:
        self._engine = engine

    def store(self) -> Mapping[bytes, bytes]:
        """The instance table this process reads."""
        return self._engine._owners()[0].instances

    def listing_index(self) -> ListingIndex | None:
        """The index the instance owner keeps of that table, for the listing."""
        return self._engine._owners()[0].listing

    def ownership_generation(self) -> int:
        """The worker's rebalance count (0 under LocalEngine, which owns every partition)."""
        if self._engine._local_owners is not None:
            return 0
        return faust_internals.rebalance_generation(self._engine.faust_app)

    def owned_partitions(self) -> frozenset[int]:
        """The engine-topic partitions assigned to this worker (all, under LocalEngine)."""
        if self._engine._local_owners is not None:
            return frozenset(range(self._engine.settings.kafka_partitions))
        return self._engine._runtime.owned_partitions()

    def is_ready(self) -> bool:
        """True after the first assignment's recovery, while no rebalance is under way and
        batches commit (a commit failing and tried again makes the worker not ready)."""
        if self._engine._local_owners is not None:
            return True
        app = self._engine.faust_app
        recovered = faust_internals.recovery_completed(app)
        committing = self._engine._runtime.commit_error is None
        return recovered and committing and not faust_internals.partitions_settling(app)
