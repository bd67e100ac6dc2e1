"""``dagger instances start TEMPLATE --param k=v [--id ID]``: start an instance over the API.

A ``--param`` value is read as JSON when it is JSON (``n=3``, ``ok=true``,
``items=[1,2]``, ``name='"007"'``) and as a string otherwise (``order_id=o-1``). The
command says whether the instance was started (HTTP 201) or already existed with these
params (200); an id in use with other params is refused (409, exit status 1).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from dagger.cli._api_client import ApiClient
from dagger.cli._errors import CommandError

__all__ = ["add_start_action", "parse_params", "run_start"]


def add_start_action(actions: Any, common: argparse.ArgumentParser) -> None:
    """Add ``start`` to the ``dagger instances`` actions."""
    start = actions.add_parser(
        "start", parents=[common], help="start an instance of a template (submitted at once)"
    )
    start.add_argument("template", help="the registered template's name")
    start.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a runtime parameter (repeatable); VALUE is JSON when it parses, else a string",
    )
    start.add_argument("--id", help="the instance id (default: a new UUID)")
    start.add_argument(
        "--partition-key", help="the parameter whose value picks the owner partition"
    )


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """The ``--param NAME=VALUE`` pairs as a dict; CommandError for one without ``=``."""
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise CommandError(f"--param takes NAME=VALUE, got {pair!r}")
        try:
            params[name] = json.loads(text)
        except ValueError:
            params[name] = text
    return params


def run_start(client: ApiClient, args: argparse.Namespace) -> int:
    """Start the instance; 0 when started or already there, 1 when refused."""
    body: dict[str, Any] = {"params": parse_params(args.param)}
    if args.id:
        body["id"] = args.id
    if args.partition_key:
        body["partition_key"] = args.partition_key
    response = client.post_json(f"/templates/{args.template}/instances", body)
    outcome = {201: "started", 200: "existing"}.get(response.status)
    if args.json:
        document = response.body if outcome else None
        error = None if outcome else response.error
        print(
            json.dumps(
                {
                    "outcome": outcome or "refused",
                    "http_status": response.status,
                    "instance": document,
                    "error": error,
                },
                indent=2,
                sort_keys=True,
                default=str,
            )
        )
    elif outcome == "started":
        print(f"started instance {response.body['id']} of {args.template}")
    elif outcome == "existing":
        status = response.body["status"]["code"]
        print(
            f"instance {response.body['id']} already exists with these params ({status}); "
            "nothing started"
        )
    else:
        print(f"refused (HTTP {response.status}): {response.error}")
    if outcome is None and response.status not in (400, 404, 409, 422):
        raise CommandError(f"cannot start an instance: {response.error} (HTTP {response.status})")
    return 0 if outcome else 1
