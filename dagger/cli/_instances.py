"""``dagger instances list|show|stop|retry|rerun``: see and steer instances through the API.

Any worker of the engine answers for every instance (it asks the others), so ``--url``
names any one of them. Tables are for people; ``--json`` prints JSON for scripts.
Exit status: 0 when everything asked was done, 1 when some ids were refused or not
found, 2 when the command could not run (bad arguments, unreachable worker, bad token).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from typing import Any

from dagger.cli._api_client import DEFAULT_URL, ApiClient, ApiResponse, instance_path
from dagger.cli._errors import CommandError
from dagger.cli._output import (
    Progress,
    add_progress_option,
    progress_wanted,
    table,
    waits_text,
    when,
)
from dagger.cli._start_command import add_start_action, parse_params, run_start

FINISHED = frozenset({"COMPLETED", "FAILURE", "SKIPPED", "STOPPED"})
DEFAULT_LIMIT = 100
SORTS = ("partition", "updated")
"""``--sort`` values: the API's ``order`` parameter."""
POLL_EVERY = 0.5
"""Seconds between two looks at the instances ``--wait`` waits for."""


def add_instances_command(commands: Any) -> None:
    """Add ``dagger instances`` and its actions to the ``dagger`` command's subparsers."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url",
        default=None,
        help=f"any worker's API (default: DAGGER_API_URL, or {DEFAULT_URL})",
    )
    common.add_argument("--token", default=None, help="bearer token (default: DAGGER_API_TOKEN)")
    common.add_argument("--json", action="store_true", help="print JSON, for scripts")
    add_progress_option(common)
    instances = commands.add_parser(
        "instances",
        help="start, list, show, stop, retry and rerun workflow instances through a worker's API",
    )
    actions = instances.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", parents=[common], help="list instances, a page at a time")
    listing.add_argument("--status", help="only these statuses, comma-separated (FAILURE,STOPPED)")
    listing.add_argument("--template", help="only instances of this template")
    listing.add_argument(
        "--partition-key", metavar="VALUE", help="only instances whose partition-key value is this"
    )
    listing.add_argument(
        "--sort",
        choices=SORTS,
        default=SORTS[0],
        help="partition: (owner partition, id), the default; updated: newest update first",
    )
    listing.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        help=f"instances per page (1-1000, {DEFAULT_LIMIT})",
    )
    paging = listing.add_mutually_exclusive_group()
    paging.add_argument("--cursor", help="start after this cursor (printed under a page)")
    paging.add_argument("--offset", type=int, default=None, help="skip this many instances")
    listing.add_argument("--all", action="store_true", help="every page, following the cursors")
    add_start_action(actions, common)
    show = actions.add_parser("show", parents=[common], help="one instance and its tasks")
    show.add_argument("id", help="the instance id")
    for action, what in (
        ("stop", "stop unfinished instances"),
        ("retry", "retry FAILURE instances"),
        ("rerun", "rerun finished instances from a task, with edited parameters"),
    ):
        parser = actions.add_parser(action, parents=[common], help=what)
        parser.add_argument("ids", nargs="+", metavar="ID", help="instance ids")
        if action == "rerun":
            parser.add_argument(
                "--from",
                dest="node",
                required=True,
                metavar="NODE",
                help="the task or process to rerun from (its id, or its name when unique); "
                "it and what depends on it run again, the rest keeps its results",
            )
            parser.add_argument(
                "--param",
                action="append",
                default=[],
                metavar="NAME=VALUE",
                help="set a runtime parameter first (repeatable); VALUE is JSON when it "
                "parses, else a string",
            )
        parser.add_argument(
            "--wait", action="store_true", help="wait until each instance has finished again"
        )
        parser.add_argument(
            "--timeout", type=float, default=300.0, help="seconds --wait waits at most (300)"
        )


def run_instances(args: argparse.Namespace) -> int:
    """Run ``dagger instances <action>``; return the exit status."""
    url = args.url or os.environ.get("DAGGER_API_URL") or DEFAULT_URL
    client = ApiClient(url, args.token or os.environ.get("DAGGER_API_TOKEN") or None)
    show_progress = progress_wanted(args.progress, sys.stderr)
    if args.action == "list":
        return _list(client, args, show_progress)
    if args.action == "show":
        return _show(client, args)
    if args.action == "start":
        return run_start(client, args)
    return _act(client, args, show_progress)


def _list(client: ApiClient, args: argparse.Namespace, show_progress: bool) -> int:
    params = {"limit": str(args.limit)}
    if args.status:
        params["status"] = args.status
    if args.template:
        params["template"] = args.template
    if args.partition_key is not None:
        params["partition_key"] = args.partition_key
    if args.sort != SORTS[0]:
        params["order"] = args.sort
    if args.offset is not None:
        params["offset"] = str(args.offset)
    cursor: str | None = args.cursor
    documents: list[dict[str, Any]] = []
    total = 0
    progress = Progress(sys.stderr, "listing instances", None, enabled=show_progress and args.all)
    while True:
        if cursor:
            params["cursor"] = cursor
            params.pop("offset", None)
        response = client.get("/tasks/instances", params)
        if response.status != 200:
            raise CommandError(f"cannot list instances: {response.error} (HTTP {response.status})")
        documents.extend(response.body)
        total = int(response.headers.get("x-total-count", len(documents)))
        cursor = response.headers.get("x-next-cursor")
        progress.update(len(documents), total)
        if not (args.all and cursor):
            break
    progress.close()
    if args.json:
        _print_json({"instances": documents, "total": total, "next_cursor": cursor})
        return 0
    rows = [
        (
            doc["id"],
            doc.get("template_name"),
            doc["status"]["code"],
            doc.get("owner_partition"),
            when(doc.get("time_created")),
            when(doc.get("lastupdated")),
            waits_text(doc.get("waiting_for")),
            _undecodable(doc) or _error(doc),
        )
        for doc in documents
    ]
    headers = (
        "ID",
        "TEMPLATE",
        "STATUS",
        "PARTITION",
        "CREATED (UTC)",
        "UPDATED (UTC)",
        "WAITING FOR",
        "ERROR",
    )
    print(table(headers, rows))
    print(f"\n{len(documents)} of {total} instance(s)")
    broken = sum(1 for doc in documents if doc.get("undecodable"))
    if broken:
        print(
            f"{broken} instance(s) cannot be decoded: a task class they name is gone. Bring it "
            "back or alias it (@register_alias, docs/versioning.md), restart the workers, then "
            "reinject their undecodable_instance dead letters (dagger dlq)"
        )
    if cursor:
        print(f"more: {next_page_command(args, cursor)} (or --all)")
        if args.token:
            print("(pass your --token again, or export DAGGER_API_TOKEN: it is not shown here)")
    return 0


def next_page_command(args: argparse.Namespace, cursor: str) -> str:
    """The ``dagger instances list`` that shows the next page: same worker, filters, size.

    Values are shell-quoted, so the line works when pasted. A ``--token`` given on the
    command line is left out, so that the hint never prints a secret.
    """
    words = ["dagger", "instances", "list"]
    if args.url:
        words += ["--url", args.url]
    for option, value in (
        ("--status", args.status),
        ("--template", args.template),
        ("--partition-key", args.partition_key),
    ):
        if value is not None:
            words += [option, value]
    if args.sort != SORTS[0]:
        words += ["--sort", args.sort]
    if args.limit != DEFAULT_LIMIT:
        words += ["--limit", str(args.limit)]
    words += ["--cursor", cursor]
    return shlex.join(words)


def _show(client: ApiClient, args: argparse.Namespace) -> int:
    response = client.get(instance_path(args.id))
    if response.status != 200:
        raise CommandError(f"{response.error} (HTTP {response.status})")
    document: dict[str, Any] = response.body
    if args.json:
        _print_json(document)
        return 0
    parameters = document.get("runtime_parameters") or {}
    details = [
        ("id", document["id"]),
        ("template", document.get("template_name")),
        ("status", document["status"]["code"]),
        ("partition key", parameters.get(document.get("partition_key_lookup") or "")),
        ("owner partition", document.get("owner_partition")),
        ("created (UTC)", when(document.get("time_created"))),
        ("submitted (UTC)", when(document.get("time_submitted"))),
        ("completed (UTC)", when(document.get("time_completed"))),
        ("waiting for", waits_text(document.get("waiting_for"))),
        ("error", _error(document)),
    ]
    width = max(len(name) for name, _ in details)
    for name, value in details:
        print(f"{name.ljust(width)}  {'-' if value in (None, '') else value}")
    print(f"{'parameters'.ljust(width)}  {json.dumps(parameters, sort_keys=True, default=str)}")
    tasks = list((document.get("tasks") or {}).values())
    rows = [
        (
            task.get("task_name"),
            task.get("task_type"),
            task.get("process_name"),
            task["status"]["code"],
            when(task.get("time_submitted")),
            when(task.get("time_completed")),
            _error(task),
        )
        for task in tasks
    ]
    print()
    headers = ("TASK", "TYPE", "PROCESS", "STATUS", "STARTED (UTC)", "COMPLETED (UTC)", "ERROR")
    print(table(headers, rows))
    _print_attempts_and_tracebacks(tasks)
    return 0


def _print_attempts_and_tracebacks(tasks: list[dict[str, Any]]) -> None:
    """Each retried task's attempts, and the traceback of each task that failed."""
    for task in tasks:
        attempts = task.get("attempts") or []
        if attempts:
            print(f"\nattempts of {task.get('task_name')}:")
            rows = [
                (
                    attempt.get("number"),
                    when(attempt.get("started")),
                    when(attempt.get("ended")),
                    _error(attempt) or "succeeded",
                    when(attempt.get("retry_at")),
                )
                for attempt in attempts
            ]
            headers = ("ATTEMPT", "STARTED (UTC)", "ENDED (UTC)", "OUTCOME", "NEXT ATTEMPT (UTC)")
            print(table(headers, rows))
        if task.get("error_traceback"):
            print(f"\ntraceback of {task.get('task_name')}:\n{task['error_traceback'].rstrip()}")


def _act(client: ApiClient, args: argparse.Namespace, show_progress: bool) -> int:
    action: str = args.action
    ids: list[str] = list(dict.fromkeys(args.ids))
    several = len(ids) > 1
    progress = Progress(
        sys.stderr, f"{action} requests", len(ids), enabled=show_progress and several
    )
    body = None
    if action == "rerun":
        body = {"from": args.node, "parameters": parse_params(args.param)}
    answers: dict[str, ApiResponse] = {}
    for done, instance_id in enumerate(ids, start=1):
        path = instance_path(instance_id, action)
        answers[instance_id] = client.post(path) if body is None else client.post_json(path, body)
        progress.update(done)
    progress.close()
    accepted = {key: answer for key, answer in answers.items() if answer.status == 202}
    finals: dict[str, str | None] = {}
    if args.wait and accepted:
        finals = _wait(client, accepted, args.timeout, show_progress)
    results = []
    for instance_id, answer in answers.items():
        result: dict[str, Any] = {
            "id": instance_id,
            "accepted": answer.status == 202,
            "http_status": answer.status,
            "message": answer.body.get("message") if answer.status == 202 else answer.error,
        }
        if args.wait and answer.status == 202:
            result["final_status"] = finals.get(instance_id)
        results.append(result)
    if args.json:
        _print_json(results)
    else:
        headers = ["ID", "RESULT", "DETAIL"] + (["FINAL STATUS"] if args.wait else [])
        rows = [
            [
                result["id"],
                "accepted" if result["accepted"] else _refusal(result["http_status"]),
                result["message"],
                *([result.get("final_status") or "not finished"] if args.wait else []),
            ]
            for result in results
        ]
        print(table(headers, rows))
    all_done = all(result["accepted"] for result in results) and all(
        final is not None for final in finals.values()
    )
    return 0 if all_done else 1


def _wait(
    client: ApiClient, accepted: dict[str, ApiResponse], timeout: float, show_progress: bool
) -> dict[str, str | None]:
    """Poll until each instance has finished again; its final status (None: not yet)."""
    before = {key: answer.body.get("lastupdated") for key, answer in accepted.items()}
    finals: dict[str, str | None] = dict.fromkeys(accepted)
    progress = Progress(
        sys.stderr, "waiting for instances to finish", len(accepted), enabled=show_progress
    )
    deadline = time.monotonic() + timeout
    while True:
        for instance_id in [key for key, final in finals.items() if final is None]:
            response = client.get(instance_path(instance_id))
            if response.status != 200:
                continue
            status = response.body["status"]["code"]
            if status in FINISHED and response.body.get("lastupdated") != before[instance_id]:
                finals[instance_id] = status
        done = sum(final is not None for final in finals.values())
        progress.update(done)
        if done == len(finals) or time.monotonic() >= deadline:
            break
        time.sleep(POLL_EVERY)
    progress.close()
    return finals


def _error(document: dict[str, Any]) -> str | None:
    if not document.get("error_type"):
        return None
    return f"{document['error_type']}: {document.get('error_message') or ''}".rstrip(": ")


def _undecodable(document: dict[str, Any]) -> str | None:
    """The ERROR cell of an instance the worker cannot decode: which class is missing."""
    undecodable = document.get("undecodable")
    if not undecodable:
        return None
    missing = undecodable.get("missing_class")
    if missing:
        return f"UNDECODABLE: task class {missing} is not registered"
    return f"UNDECODABLE: {undecodable.get('reason')}"


def _refusal(status: int) -> str:
    refusals = {404: "not found", 409: "refused", 400: "bad id", 422: "undecodable"}
    return refusals.get(status, f"error {status}")


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True, default=str))
