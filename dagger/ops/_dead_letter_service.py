"""The dead-letter service: list, show, reinject, purge dead letters, and drain topics."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from dagger.broker._addresses import broker_hosts, check_topic_name, is_host_port
from dagger.exceptions.exceptions import ConfigurationError
from dagger.ops._drain import Progress, drain_topic
from dagger.ops._entries import DeadLetter, decode_letter
from dagger.ops._errors import DeadLetterNotFoundError, NotReinjectableError, UnknownTopicError
from dagger.ops._kafka_link import KafkaLink, kafka_errors_translated
from dagger.ops._marks import MarkBook, Marks, marks_topic_for
from dagger.ops._records import OutgoingRecord, Position, TopicLink

__all__ = [
    "DEAD_LETTER_TOPIC_HEADER",
    "DEFAULT_DEAD_LETTER_TOPIC",
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "REINJECTED_HEADER",
    "DeadLetterService",
]

DEFAULT_DEAD_LETTER_TOPIC = "dagger_dead_letters"
"""The engine's dead-letter topic unless ``Dagger(dead_letter_topic=...)`` says otherwise."""
DEFAULT_LIMIT = 50
"""Entries in a page of :meth:`DeadLetterService.list` unless asked otherwise."""
MAX_LIMIT = 10_000
"""The most entries one page may hold."""
REINJECTED_HEADER = "dagger-reinjected"
"""Header of a reinjected message: the id (``partition:offset``) of its dead letter."""
DEAD_LETTER_TOPIC_HEADER = "dagger-dead-letter-topic"
"""Header of a reinjected message: the dead-letter topic it was reinjected from."""


class DeadLetterService:
    """Reads and acts on the engine's dead-letter topic, straight on Kafka.

    Every method returns plain JSON-able data. Ids are ``partition:offset`` of the record
    in the dead-letter topic. Kafka cannot delete one record, so :meth:`purge` writes a
    mark to a compacted companion topic (``<topic>-marks``) and listings hide marked
    letters; :meth:`drain` leaves a per-partition mark so a second drain moves only what
    came since. Calls are serialised: one service reads one partition at a time.

    Examples:
        >>> async with DeadLetterService("kafka://127.0.0.1:9092") as dlq:  # doctest: +SKIP
        ...     page = await dlq.list(limit=20)
        ...     for entry in page["entries"]:
        ...         print(entry["id"], entry["reason"], entry["error"])
        ...     await dlq.reinject(page["entries"][0]["id"])
    """

    def __init__(
        self,
        bootstrap_servers: str | Sequence[str],
        dead_letter_topic: str = DEFAULT_DEAD_LETTER_TOPIC,
        *,
        message_id_header: str | None = "message-id",
        timeout: float = 30.0,
        client_id: str = "dagger-dlq",
        link: TopicLink | None = None,
    ) -> None:
        """Configure the service; nothing connects until the first call or :meth:`start`.

        Args:
            bootstrap_servers: ``kafka://host:port[;host:port]``, ``host:port[,host:port]``
                or a list of ``host:port``.
            dead_letter_topic: the engine's ``dead_letter_topic``.
            message_id_header: the engine's ``message_id_header``. A reinjected message
                carries ``dlq:<topic>:<id>`` in it, so reinjecting the same dead letter
                twice is applied once by a listener that handled it; None sends no such
                header.
            timeout: seconds a broker request, or a read that makes no progress, may take.
            client_id: Kafka client id, as brokers log it.
            link: the broker operations to use; a test passes an in-memory one.
        """
        self.bootstrap_servers = _servers(bootstrap_servers)
        self.topic = check_topic_name(dead_letter_topic, "dead_letter_topic")
        if message_id_header is not None and (
            not isinstance(message_id_header, str) or not message_id_header
        ):
            raise ConfigurationError(
                f"message_id_header must be a header name or None, got {message_id_header!r}"
            )
        self.message_id_header = message_id_header
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ConfigurationError(
                f"timeout must be a positive number of seconds, got {timeout!r}"
            )
        self._link: TopicLink = link or KafkaLink(
            self.bootstrap_servers, client_id=client_id, timeout=float(timeout)
        )
        self._marks = MarkBook(self._link, marks_topic_for(self.topic))
        self._lock = asyncio.Lock()
        self._started = False

    @property
    def marks_topic(self) -> str:
        """The compacted companion topic holding purge, reinject and drain marks."""
        return self._marks.topic

    async def start(self) -> None:
        """Connect to the broker (the first call of any method does it too)."""
        if not self._started:
            with kafka_errors_translated(self.bootstrap_servers):
                await self._link.start()
            self._started = True

    async def stop(self) -> None:
        """Disconnect; a later call connects again."""
        self._started = False
        await self._link.stop()

    async def __aenter__(self) -> DeadLetterService:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- reading ---------------------------------------------------------------------------
    async def list(
        self,
        limit: int = DEFAULT_LIMIT,
        *,
        cursor: str | None = None,
        offset: int = 0,
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        """Return a page of dead letters that are neither purged nor drained.

        Letters come in (partition, offset) order. Page on with ``cursor=page["next_cursor"]``
        (it reads only the page), or with ``offset`` (it reads the letters skipped too).

        Returns:
            ``{"topic", "entries", "count", "total", "limit", "offset", "cursor",
            "next_cursor", "next_offset"}``; each entry has ``id``, ``partition``,
            ``offset``, ``reason``, ``error`` (``"Type: message"``), ``error_type``,
            ``error_message``, ``origin`` (``{topic, partition, offset}``), ``time`` (epoch
            seconds) and ``reinjected`` (None, or where and when it was last re-sent).
            ``next_cursor`` and ``next_offset`` are None on the last page; ``total`` counts
            the listed letters of the whole topic.
        """
        limit = _limit(limit)
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ValueError(f"offset must be an int >= 0, got {offset!r}")
        if cursor is not None and offset:
            raise ValueError("pass either cursor or offset, not both")
        start = None if cursor is None else Position.parse(cursor, "cursor")
        async with self._session():
            partitions = await self._partitions(self.topic, "dead-letter topic")
            marks = await self._marks.load()
            ranges = await self._listed_ranges(partitions, marks)
            total = sum(end - first for first, end in ranges.values()) - sum(
                1
                for position in marks.purged
                if position.partition in ranges
                and ranges[position.partition][0] <= position.offset < ranges[position.partition][1]
            )
            entries: list[dict[str, Any]] = []
            skipped = 0
            next_position: Position | None = None
            wanted = max(0, min(total, offset + limit))
            if progress is not None:
                progress(0, wanted)
            for partition in partitions:
                first, end = ranges[partition]
                if start is not None:
                    if partition < start.partition:
                        continue
                    if partition == start.partition:
                        first = max(first, start.offset)
                async with contextlib.aclosing(
                    self._link.read(self.topic, partition, first, end)
                ) as batches:
                    async for batch in batches:
                        for record in batch:
                            if record.position in marks.purged:
                                continue
                            if len(entries) == limit:
                                next_position = record.position
                                break
                            if skipped < offset:
                                skipped += 1
                            else:
                                entries.append(decode_letter(record).summary(marks))
                            if progress is not None:
                                progress(skipped + len(entries), wanted)
                        if next_position is not None:
                            break
                if next_position is not None:
                    break
        more = next_position is not None
        return {
            "topic": self.topic,
            "entries": entries,
            "count": len(entries),
            "total": total,
            "limit": limit,
            "offset": offset,
            "cursor": cursor,
            "next_cursor": str(next_position) if more else None,
            "next_offset": offset + len(entries) if more and cursor is None else None,
        }

    async def show(self, dead_letter_id: str) -> dict[str, Any]:
        """Return one dead letter, purged or not, with its original key and value.

        Returns:
            A listing entry plus ``key`` and ``value`` (base64, as sent originally),
            ``value_text`` (the value as text when it is UTF-8) and ``purged`` (None, or
            when it was purged).

        Raises:
            InvalidDeadLetterIdError: the id is not ``partition:offset``.
            DeadLetterNotFoundError: no record has that id.
        """
        position = Position.parse(dead_letter_id)
        async with self._session():
            letter = await self._fetch(position)
            marks = await self._marks.load()
        return letter.detail(marks)

    # -- acting ----------------------------------------------------------------------------
    async def reinject(self, dead_letter_id: str, value: bytes | None = None) -> dict[str, Any]:
        """Re-send a dead letter's original key and value to the topic it came from.

        ``value``, when given, is sent instead of the original value: the letter edited
        (a malformed field corrected by hand) before it goes back.

        The message goes to its original partition when that topic still has it, with the
        headers ``dagger-reinjected: <id>`` and ``dagger-dead-letter-topic: <topic>`` (and
        the message-id header, see the constructor). The dead letter stays listed, with
        ``reinjected`` saying where it went; purge it once the message went through.

        Returns:
            ``{"id", "topic", "partition", "offset", "time", "previously_reinjected"}``:
            where the message now is, and the mark of an earlier reinjection, if any.

        Raises:
            NotReinjectableError: the letter is purged, or does not hold an origin topic
                and value (it is not a dead-letter document).
            UnknownTopicError: the original topic does not exist any more.
        """
        position = Position.parse(dead_letter_id)
        async with self._session():
            letter = await self._fetch(position)
            marks = await self._marks.load()
            record = self._reinjection(letter, marks, value)
            origin = letter.origin or {}
            topic = str(origin.get("topic"))
            partitions = await self._partitions(topic, "original topic")
            if record.partition not in partitions:
                record = OutgoingRecord(record.key, record.value, record.headers, None)
            [sent] = await self._link.send(topic, [record])
            mark = {
                "time": time.time(),
                "topic": topic,
                "partition": sent.partition,
                "offset": sent.offset,
            }
            await self._marks.reinjected(position, mark)
        return {
            "id": str(position),
            **mark,
            "previously_reinjected": marks.reinjected.get(position),
        }

    async def purge(self, dead_letter_id: str) -> dict[str, Any]:
        """Hide a dead letter from listings for good (a mark: Kafka keeps the record).

        Purging a purged letter changes nothing.

        Returns:
            ``{"id", "time", "already_purged"}``: ``time`` is when it was purged.

        Raises:
            InvalidDeadLetterIdError: the id is not ``partition:offset``.
            DeadLetterNotFoundError: no record has that id.
        """
        position = Position.parse(dead_letter_id)
        async with self._session():
            await self._fetch(position)
            marks = await self._marks.load()
            existing = marks.purged.get(position)
            if existing is not None:
                return {"id": str(position), "time": existing.get("time"), "already_purged": True}
            partitions = await self._partitions(self.topic, "dead-letter topic")
            bounds = await self._link.bounds(self.topic, partitions)
            stale = MarkBook.stale_keys(
                marks, {partition: first for partition, (first, _) in bounds.items()}
            )
            mark = {"time": time.time()}
            await self._marks.purged(position, mark, stale)
        return {"id": str(position), "time": mark["time"], "already_purged": False}

    async def drain(
        self, source: str, destination: str, progress: Progress | None = None
    ) -> dict[str, Any]:
        """Move every record of ``source`` to ``destination`` (key, value and headers).

        A drain starts after what an earlier drain of ``source`` moved (see
        :func:`dagger.ops._drain.drain_topic`). Draining the dead-letter topic skips purged
        letters and empties its listing.

        Returns:
            ``{"source", "destination", "moved", "skipped_purged", "total"}``.

        Raises:
            ValueError: ``source`` and ``destination`` are the same topic.
            UnknownTopicError: either topic does not exist (they are not created).
        """
        source = check_topic_name(source, "source")
        destination = check_topic_name(destination, "destination")
        if source == destination:
            raise ValueError(f"cannot drain {source!r} into itself; name another destination")
        async with self._session():
            source_partitions = await self._partitions(source, "source topic")
            destination_partitions = await self._partitions(destination, "destination topic")
            marks = await self._marks.load()
            return await drain_topic(
                self._link,
                self._marks,
                marks,
                source=source,
                source_partitions=source_partitions,
                destination=destination,
                destination_partitions=set(destination_partitions),
                skip=set(marks.purged) if source == self.topic else (),
                progress=progress,
            )

    # -- helpers ---------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _session(self) -> AsyncIterator[None]:
        async with self._lock:
            await self.start()
            with kafka_errors_translated(self.bootstrap_servers):
                yield

    async def _partitions(self, topic: str, role: str) -> builtins.list[int]:
        partitions = await self._link.partitions(topic)
        if not partitions:
            raise UnknownTopicError(topic, role)
        return partitions

    async def _listed_ranges(
        self, partitions: builtins.list[int], marks: Marks
    ) -> dict[int, tuple[int, int]]:
        """Return each partition's listed offsets: from its start or drain mark to its end."""
        bounds = await self._link.bounds(self.topic, partitions)
        return {
            partition: (min(end, max(first, marks.drained_below(self.topic, partition))), end)
            for partition, (first, end) in bounds.items()
        }

    async def _fetch(self, position: Position) -> DeadLetter:
        partitions = await self._partitions(self.topic, "dead-letter topic")
        dead_letter_id = str(position)
        if position.partition not in partitions:
            raise DeadLetterNotFoundError(
                self.topic, dead_letter_id, f"the topic has partitions 0-{max(partitions)}"
            )
        first, end = (await self._link.bounds(self.topic, [position.partition]))[position.partition]
        if position.offset < first:
            raise DeadLetterNotFoundError(
                self.topic, dead_letter_id, f"the partition's records now start at {first}"
            )
        if position.offset >= end:
            raise DeadLetterNotFoundError(
                self.topic, dead_letter_id, f"the partition's records end before {end}"
            )
        async with contextlib.aclosing(
            self._link.read(self.topic, position.partition, position.offset, position.offset + 1)
        ) as batches:
            async for batch in batches:
                for record in batch:
                    if record.offset == position.offset:
                        return decode_letter(record)
        raise DeadLetterNotFoundError(self.topic, dead_letter_id, "no record has this offset")

    def _reinjection(
        self, letter: DeadLetter, marks: Marks, edited: bytes | None = None
    ) -> OutgoingRecord:
        """Return the message that reinjects ``letter``, or say why there is none."""
        if letter.record.position in marks.purged:
            raise NotReinjectableError(letter.id, "it is purged")
        origin = letter.origin
        if not letter.readable or origin is None or not isinstance(origin.get("topic"), str):
            raise NotReinjectableError(letter.id, "it does not say which topic it came from")
        truncated = letter.truncated()
        if truncated is not None and edited is None:
            raise NotReinjectableError(
                letter.id,
                f"its value ({truncated['size']} bytes, sha256 {truncated['sha256']}) was too "
                f"large to keep whole; the original is at {origin}",
            )
        value = letter.original_value() if edited is None else edited
        if value is None:
            raise NotReinjectableError(letter.id, "it does not hold the original value")
        ours = {REINJECTED_HEADER, DEAD_LETTER_TOPIC_HEADER}
        original = [(name, raw) for name, raw in letter.original_headers() if name not in ours]
        headers = [
            *original,
            (REINJECTED_HEADER, letter.id.encode()),
            (DEAD_LETTER_TOPIC_HEADER, self.topic.encode()),
        ]
        has_message_id = any(name == self.message_id_header for name, _ in original)
        if self.message_id_header is not None and not has_message_id:
            headers.append((self.message_id_header, f"dlq:{self.topic}:{letter.id}".encode()))
        partition = origin.get("partition")
        return OutgoingRecord(
            key=letter.original_key(),
            value=value,
            headers=tuple(headers),
            partition=partition if isinstance(partition, int) else None,
        )


def _servers(bootstrap_servers: str | Sequence[str]) -> list[str]:
    if isinstance(bootstrap_servers, str):
        hosts = broker_hosts(bootstrap_servers)
    elif isinstance(bootstrap_servers, Sequence) and all(
        isinstance(host, str) for host in bootstrap_servers
    ):
        hosts = [host.split("://")[-1] for host in bootstrap_servers]
    else:
        hosts = []
    if not hosts or not all(is_host_port(host) for host in hosts):
        raise ConfigurationError(
            "bootstrap_servers must look like 'kafka://host:port[;host:port]', "
            f"'host:port[,host:port]' or a list of 'host:port', got {bootstrap_servers!r}"
        )
    return hosts


def _limit(limit: object) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be an int from 1 to {MAX_LIMIT}, got {limit!r}")
    return limit
