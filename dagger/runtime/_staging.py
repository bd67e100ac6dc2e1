"""Store writes held back until the records they depend on are on the broker.

An owner that applies an event runs its effects first: user hooks send commands, the owner
sends index events. Those sends sit in the producer's buffer for a while. Had the owner
written the new state to a local store at once, a crash before the buffer reached the
broker would leave the state saying "applied" while its effects were lost, and the
replayed event would be a no-op: the instance would wait for ever.

A :class:`StagedStore` keeps the writes of a batch in memory; the worker flushes the
producer, then calls :meth:`StagedStore.commit`. A crash before the commit loses the staged
writes together with the unflushed effects, so the replay applies the event again, and the
effects are at-least-once. Reads see the staged writes first, so the events of one batch
build on each other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol, runtime_checkable

__all__ = ["ChangelogQueue", "StagedStore", "StagingArea"]

_DELETED = object()

WriteContext = Callable[[Any], AbstractContextManager[Any]]
"""Enter the context a captured write is applied in (faust: its event, for its partition)."""


def _no_capture() -> Any:
    return None


def _no_context(_captured: Any) -> AbstractContextManager[Any]:
    return nullcontext()


@runtime_checkable
class ChangelogQueue(Protocol):
    """A backing store that queues its changelog records, sent once a commit wrote them."""

    async def send_changelog_queue(self) -> int:
        """Hand the queued records to the producer; return how many."""
        ...

    def drop_changelog_queue(self) -> int:
        """Forget the queued records; return how many."""
        ...


class StagedStore(MutableMapping[bytes, bytes]):
    """A mapping over ``backing`` whose writes wait in memory until :meth:`commit`.

    ``capture`` is called at each write and its result handed to ``within`` when the write
    is applied: a faust table needs the event a write belongs to, to choose its partition.
    """

    def __init__(
        self,
        backing: MutableMapping[bytes, bytes],
        *,
        capture: Callable[[], Any] = _no_capture,
        within: WriteContext = _no_context,
    ) -> None:
        self.backing = backing
        self._capture = capture
        self._within = within
        self._staged: dict[bytes, tuple[Any, Any]] = {}

    @property
    def pending(self) -> int:
        """How many keys have writes waiting for :meth:`commit`."""
        return len(self._staged)

    def commit(self) -> int:
        """Apply the staged writes to the backing store, in the order of their keys' last write.

        So writes that depend on each other keep the order the code made them in: a
        chunk of the index replaces the head of its chain before it goes, a held message
        is stored before the list that names it.

        A write that raises stops the commit with it and every later write still staged,
        so committing again carries on where it stopped (a write applied twice changes
        nothing).
        """
        written = 0
        while self._staged:
            key = next(iter(self._staged))
            value, captured = self._staged[key]
            with self._within(captured):
                if value is _DELETED:
                    if key in self.backing:
                        del self.backing[key]
                else:
                    self.backing[key] = value
            del self._staged[key]
            written += 1
        return written

    def discard(self) -> int:
        """Drop the staged writes (their batch will be applied again); return how many."""
        dropped = len(self._staged)
        self._staged = {}
        return dropped

    def __getitem__(self, key: bytes) -> bytes:
        staged = self._staged.get(key)
        if staged is None:
            return self.backing[key]
        value = staged[0]
        if value is _DELETED:
            raise KeyError(key)
        return value  # type: ignore[no-any-return]

    def __contains__(self, key: object) -> bool:
        staged = self._staged.get(key)  # type: ignore[call-overload]
        if staged is None:
            return key in self.backing
        return staged[0] is not _DELETED

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._staged.pop(key, None)  # to the end: keys commit in the order of their last write
        self._staged[key] = (value, self._capture())

    def __delitem__(self, key: bytes) -> None:
        if key not in self:
            raise KeyError(key)
        self._staged.pop(key, None)
        self._staged[key] = (_DELETED, self._capture())

    def __iter__(self) -> Iterator[bytes]:
        for key in list(self.backing.keys()):
            if key not in self._staged:
                yield key
        for key, (value, _captured) in list(self._staged.items()):
            if value is not _DELETED:
                yield key

    def __len__(self) -> int:
        return sum(1 for _key in self)


class StagingArea:
    """A worker's staged stores, committed together once ``flush`` has put the sends out."""

    def __init__(self, flush: Callable[[], Awaitable[None]]) -> None:
        self._flush = flush
        self.stores: list[StagedStore] = []
        self._ranks: list[int] = []
        # The stores by ascending rank (stable), each with its changelog queue if it has
        # one: worked out once per store staged, not at each commit.
        self._commit_order: list[tuple[StagedStore, ChangelogQueue | None]] = []

    def stage(
        self,
        backing: MutableMapping[bytes, bytes],
        *,
        capture: Callable[[], Any] = _no_capture,
        within: WriteContext = _no_context,
        rank: int = 0,
    ) -> StagedStore:
        """Return a staged view of ``backing`` that :meth:`commit` applies.

        :meth:`commit` applies the stores by ascending ``rank``, those of one rank in
        the order they were staged (see :data:`dagger.runtime._assembly.COMMIT_RANKS`).
        """
        store = StagedStore(backing, capture=capture, within=within)
        self.stores.append(store)
        self._ranks.append(rank)
        order = sorted(range(len(self.stores)), key=self._ranks.__getitem__)
        self._commit_order = [
            (staged, staged.backing if isinstance(staged.backing, ChangelogQueue) else None)
            for staged in (self.stores[position] for position in order)
        ]
        return store

    @property
    def pending(self) -> int:
        """How many keys have writes waiting, over all stores."""
        return sum(store.pending for store in self.stores)

    async def commit(self) -> int:
        """Flush the sends, then apply every staged write; return how many keys were written.

        A backing store that queues its changelog records (:class:`ChangelogQueue`) has
        them handed to the producer right after its writes, before the next store's, so
        the records leave in the order of the writes, as a faust table's do. A commit
        that raises is tried again by its caller and carries on where it stopped.
        """
        if self.pending:
            await self._flush()
        written = 0
        for store, changelog in self._commit_order:
            written += store.commit()
            if changelog is not None:
                await changelog.send_changelog_queue()
        return written

    def discard(self) -> int:
        """Drop every staged write (and changelog record not yet sent); return how many."""
        for _store, changelog in self._commit_order:
            if changelog is not None:
                changelog.drop_changelog_queue()
        return sum(store.discard() for store in self.stores)
