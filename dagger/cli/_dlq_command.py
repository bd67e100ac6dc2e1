"""``dagger dlq list|show|reinject|purge|drain``: the dead-letter tools on the command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import sys
from argparse import SUPPRESS
from typing import Any, TextIO

from dagger.cli._dlq_output import (
    ProgressDisplay,
    format_detail,
    format_drain,
    format_page,
    format_purge,
    format_reinject,
)
from dagger.cli._errors import CommandError
from dagger.cli._output import add_progress_option, progress_wanted
from dagger.cli._reachable import check_broker_reachable
from dagger.exceptions.exceptions import ConfigurationError
from dagger.ops._dead_letter_service import (
    DEFAULT_DEAD_LETTER_TOPIC,
    DEFAULT_LIMIT,
    MAX_LIMIT,
    DeadLetterService,
)
from dagger.ops._errors import DeadLetterError
from dagger.ops._records import Position

__all__ = ["add_dlq_parser", "execute", "run_dlq"]

LIST_PROGRESS_FROM = 500
"""A listing shows a progress display from this many entries to read on."""
_ALL_PAGE = 1_000


def add_dlq_parser(commands: Any) -> None:
    """Add the ``dlq`` command group to the ``dagger`` command's sub-parsers."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--broker",
        default=None,
        help="kafka://host:port[;host:port] or host:port[,host:port] (default: $DAGGER_BROKER)",
    )
    common.add_argument(
        "--topic",
        default=DEFAULT_DEAD_LETTER_TOPIC,
        help=f"the engine's dead-letter topic (default: {DEFAULT_DEAD_LETTER_TOPIC})",
    )
    common.add_argument("--json", action="store_true", help="print JSON, for scripts")
    quiet = argparse.ArgumentParser(add_help=False)
    add_progress_option(quiet)
    # The old spelling of --progress never, kept so that scripts using it go on working.
    quiet.add_argument(
        "-q", "--quiet", dest="progress", action="store_const", const="never", help=SUPPRESS
    )

    dlq = commands.add_parser(
        "dlq", help="list, show, reinject and purge dead letters; drain a topic into another"
    )
    actions = dlq.add_subparsers(dest="dlq_command", required=True)
    listing = actions.add_parser("list", parents=[common, quiet], help="list dead letters")
    listing.add_argument(
        "--limit",
        type=int,
        default=None,
        help=f"entries per page, 1 to {MAX_LIMIT} (default: {DEFAULT_LIMIT}); not with --all",
    )
    paging = listing.add_mutually_exclusive_group()
    paging.add_argument("--cursor", help="start at this cursor (a page's next_cursor)")
    paging.add_argument("--offset", type=int, default=0, help="skip this many dead letters")
    paging.add_argument("--all", action="store_true", help="list every dead letter")
    show = actions.add_parser("show", parents=[common], help="show one dead letter in full")
    show.add_argument("id", help="the dead letter's id, partition:offset")
    reinject = actions.add_parser(
        "reinject", parents=[common], help="re-send dead letters to the topics they came from"
    )
    reinject.add_argument("ids", nargs="+", metavar="ID", help="partition:offset")
    purge = actions.add_parser("purge", parents=[common], help="hide dead letters for good")
    purge.add_argument("ids", nargs="+", metavar="ID", help="partition:offset")
    drain = actions.add_parser(
        "drain", parents=[common, quiet], help="move every message of a topic to another"
    )
    drain.add_argument("source", help="the topic to drain")
    drain.add_argument("destination", help="the topic receiving the messages")


def run_dlq(args: argparse.Namespace) -> int:
    """Run a ``dagger dlq`` command against the broker; return its exit status."""
    from dagger.broker._tansu_compat import apply_if_requested

    apply_if_requested()
    broker = args.broker or os.environ.get("DAGGER_BROKER")
    if not broker:
        raise CommandError("no Kafka broker: pass --broker kafka://host:port or set DAGGER_BROKER")
    try:
        service = DeadLetterService(broker, args.topic)
    except ConfigurationError as exc:
        raise CommandError(str(exc)) from exc
    check_broker_reachable(service.bootstrap_servers)
    return asyncio.run(_execute_and_stop(service, args))


async def _execute_and_stop(service: DeadLetterService, args: argparse.Namespace) -> int:
    try:
        return await execute(service, args, sys.stdout, sys.stderr)
    except (DeadLetterError, ValueError) as exc:
        raise CommandError(str(exc)) from exc
    finally:
        await service.stop()


async def execute(
    service: DeadLetterService, args: argparse.Namespace, out: TextIO, err: TextIO
) -> int:
    """Run the parsed ``dlq`` command ``args`` with ``service``; print to ``out``/``err``.

    Raises:
        DeadLetterError: the broker refused, or an id or topic is unknown.
        ValueError: an argument is invalid (a malformed id, a limit out of range).
    """
    command = args.dlq_command
    if command == "list" and args.all and args.limit is not None:
        raise ValueError("--all lists every dead letter; leave out --limit")
    if command in ("reinject", "purge"):
        for dead_letter_id in args.ids:
            Position.parse(dead_letter_id)  # all ids are checked before any is acted on
    if command == "list":
        _print(out, args, await _list(service, args, err), format_page, _next_page_hint(args))
    elif command == "show":
        _print(out, args, await service.show(args.id), format_detail)
    elif command == "reinject":
        await _each(out, args, service.reinject, format_reinject)
    elif command == "purge":
        await _each(out, args, service.purge, format_purge)
    else:
        progress = _progress(f"drain {args.source} -> {args.destination}", args, err, 0)
        try:
            result = await service.drain(args.source, args.destination, progress)
        finally:
            if progress is not None:
                progress.close()
        _print(out, args, result, format_drain)
    return 0


async def _list(service: DeadLetterService, args: argparse.Namespace, err: TextIO) -> Any:
    progress = _progress(f"reading {args.topic}", args, err, LIST_PROGRESS_FROM)
    try:
        if not args.all:
            return await service.list(
                DEFAULT_LIMIT if args.limit is None else args.limit,
                cursor=args.cursor,
                offset=args.offset,
                progress=progress,
            )
        return await _list_all(service, progress)
    finally:
        if progress is not None:
            progress.close()


async def _list_all(service: DeadLetterService, progress: ProgressDisplay | None) -> Any:
    """Page through the whole topic; progress counts entries against the first page's total."""
    entries: list[dict[str, Any]] = []
    cursor: str | None = None
    total = 0
    while True:
        page = await service.list(_ALL_PAGE, cursor=cursor)
        total = max(total, page["total"]) if cursor is not None else page["total"]
        entries.extend(page["entries"])
        if progress is not None:
            progress(len(entries) if page["next_cursor"] else total, total)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    return {
        **page,
        "entries": entries,
        "count": len(entries),
        "limit": None,
        "cursor": None,
        "next_cursor": None,
        "next_offset": None,
    }


async def _each(out: TextIO, args: argparse.Namespace, action: Any, formatter: Any) -> None:
    """Apply ``action`` to each id in turn, printing each result as it comes."""
    results = []
    for dead_letter_id in args.ids:
        result = await action(dead_letter_id)
        results.append(result)
        if not args.json:
            out.write(formatter(result) + "\n")
    if args.json:
        out.write(json.dumps(results, indent=2) + "\n")


def _print(out: TextIO, args: argparse.Namespace, data: Any, formatter: Any, *extra: Any) -> None:
    out.write((json.dumps(data, indent=2) if args.json else formatter(data, *extra)) + "\n")


def _progress(
    label: str, args: argparse.Namespace, err: TextIO, min_total: int
) -> ProgressDisplay | None:
    if not progress_wanted(args.progress, err):
        return None
    return ProgressDisplay(label, stream=err, min_total=min_total)


def _next_page_hint(args: argparse.Namespace) -> str:
    """The ``dagger dlq list`` of the next page (without its cursor), shell-quoted."""
    words = ["dagger", "dlq", "list"]
    if args.broker:
        words += ["--broker", args.broker]
    if args.topic != DEFAULT_DEAD_LETTER_TOPIC:
        words += ["--topic", args.topic]
    if args.limit is not None:
        words += ["--limit", str(args.limit)]
    return shlex.join(words)
