"""``dagger schedules list`` and ``dagger releases list|force|rerun NAME``: through the API.

They ask a worker's HTTP API (``GET /schedules``, ``GET`` and ``POST
/workflows/{name}/releases``); any worker answers, asking the one that owns a workflow's
schedule when it is not it. Exit status: 0 fine, 2 the command could not run (no worker,
an unknown workflow or release key).
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any
from urllib.parse import quote

from dagger.cli._api_client import DEFAULT_URL, ApiClient
from dagger.cli._errors import CommandError
from dagger.cli._output import table

__all__ = ["add_schedule_commands", "run_releases", "run_schedules"]


def add_schedule_commands(commands: Any) -> None:
    """Add ``dagger schedules list`` and ``dagger releases list`` to the subparsers."""
    api = argparse.ArgumentParser(add_help=False)
    api.add_argument("--url", default=None, help=f"any worker's API (default: {DEFAULT_URL})")
    api.add_argument("--token", default=None, help="bearer token (default: DAGGER_API_TOKEN)")
    api.add_argument("--json", action="store_true", help="print JSON, for scripts")
    schedules = commands.add_parser("schedules", help="the workflows' schedules")
    schedule_actions = schedules.add_subparsers(dest="action", required=True)
    schedule_actions.add_parser("list", parents=[api], help="each schedule and its next fire")
    releases = commands.add_parser("releases", help="the audit of a workflow's releases")
    release_actions = releases.add_subparsers(dest="action", required=True)
    listing = release_actions.add_parser("list", parents=[api], help="a workflow's releases")
    listing.add_argument("name", help="the workflow's name")
    force = release_actions.add_parser(
        "force", parents=[api], help="release a scheduled workflow now, or for a given time"
    )
    force.add_argument("name", help="the workflow's name")
    force.add_argument(
        "--time",
        default=None,
        help="the logical time, ISO 8601; without an offset, in the schedule's timezone "
        "(default: now)",
    )
    force.add_argument(
        "--dry-run", action="store_true", help="audit what the release would be, start nothing"
    )
    rerun = release_actions.add_parser(
        "rerun", parents=[api], help="start a release again as a new instance"
    )
    rerun.add_argument("name", help="the workflow's name")
    rerun.add_argument("key", help="the release's key (dagger releases list NAME --json)")


def run_schedules(args: argparse.Namespace) -> int:
    """Run ``dagger schedules list``."""
    body = _get(args, "/schedules")
    if args.json:
        print(json.dumps(body["schedules"], indent=2))
        return 0
    rows = [
        (s["workflow"], s["cron"], s["timezone"], s["catchup"], s["last_release"], s["next_fire"])
        for s in body["schedules"]
    ]
    headers = ("WORKFLOW", "CRON", "TIMEZONE", "CATCHUP", "LAST RELEASE (UTC)", "NEXT FIRE (UTC)")
    print(table(headers, rows) if rows else "no schedules")
    return 0


def run_releases(args: argparse.Namespace) -> int:
    """Run ``dagger releases list|force|rerun NAME``."""
    if args.action != "list":
        return _request_release(args)
    body = _get(args, f"/workflows/{quote(args.name)}/releases")
    if args.json:
        print(json.dumps(body["releases"], indent=2))
        return 0
    rows = [
        (r["logical_time"], r["kind"], r["instance_id"] or r.get("error"), r["recorded_at"])
        for r in body["releases"]
    ]
    headers = ("LOGICAL TIME (UTC)", "KIND", "INSTANCE", "RECORDED (UTC)")
    print(table(headers, rows) if rows else f"no releases of {args.name} yet")
    return 0


def _request_release(args: argparse.Namespace) -> int:
    """``dagger releases force`` and ``rerun``: ask for a manual release, print its key."""
    if args.action == "rerun":
        request: dict[str, Any] = {"kind": "rerun", "key": args.key}
    else:
        request = {"kind": "dry-run" if args.dry_run else "force"}
        if args.time is not None:
            request["time"] = args.time
    response = _client(args).post_json(f"/workflows/{quote(args.name)}/releases", request)
    if response.status != 202:
        raise CommandError(f"{response.error} (HTTP {response.status})")
    body = response.body
    if args.json:
        print(json.dumps(body, indent=2))
        return 0
    if body["instance_id"] is None:
        print(f"{body['kind']} {body['key']}: audited, nothing started")
    elif body["existing"]:
        print(f"{body['kind']} {body['key']}: released already as {body['instance_id']}")
    else:
        print(f"{body['kind']} {body['key']}: starting {body['instance_id']}")
    return 0


def _client(args: argparse.Namespace) -> ApiClient:
    url = args.url or os.environ.get("DAGGER_API_URL") or DEFAULT_URL
    return ApiClient(url, args.token or os.environ.get("DAGGER_API_TOKEN") or None)


def _get(args: argparse.Namespace, path: str) -> Any:
    response = _client(args).get(path)
    if response.status != 200:
        raise CommandError(f"{response.error} (HTTP {response.status})")
    return response.body
