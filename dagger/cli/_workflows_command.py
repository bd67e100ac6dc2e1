"""``dagger workflows validate|list|show|run``: declarative workflow files from the shell.

``validate``, ``list`` and ``show`` read the files here, with no broker: ``-A module``
imports the module that registers the functions the ``call`` stages run first.
``run`` starts an instance through a worker's API (``POST /templates/{name}/instances``);
with ``--workflows`` its params are checked here first, and ``--dry-run`` only checks
them and prints what would start. Exit status: 0 fine, 1 problems found or refused,
2 the command could not run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from typing import Any

from dagger.cli._api_client import DEFAULT_URL, ApiClient
from dagger.cli._errors import CommandError
from dagger.cli._start_command import parse_params, run_start

__all__ = ["add_workflows_command", "run_workflows"]


def add_workflows_command(commands: Any) -> None:
    """Add ``dagger workflows`` and its actions to the ``dagger`` command's subparsers."""
    files = argparse.ArgumentParser(add_help=False)
    files.add_argument(
        "-A", "--app", help="module to import first: it registers the functions call stages run"
    )
    workflows = commands.add_parser("workflows", help="check, show and run declarative workflows")
    actions = workflows.add_subparsers(dest="action", required=True)
    validate = actions.add_parser("validate", parents=[files], help="check workflow files")
    validate.add_argument("files", nargs="+", help="workflow files, globs or folders")
    listing = actions.add_parser("list", parents=[files], help="the workflows of the files")
    listing.add_argument("files", nargs="+", help="workflow files, globs or folders")
    listing.add_argument("--json", action="store_true", help="print JSON, for scripts")
    show = actions.add_parser("show", parents=[files], help="one workflow: params and DAG")
    show.add_argument("name", help="the workflow's name")
    show.add_argument("files", nargs="+", help="workflow files, globs or folders")
    run = actions.add_parser("run", parents=[files], help="start a workflow through the API")
    run.add_argument("template", metavar="name", help="the workflow's name")
    run.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a parameter (repeatable); VALUE is JSON when it parses, else a string",
    )
    run.add_argument(
        "--workflows", action="append", default=[], help="files to check the params against"
    )
    run.add_argument("--dry-run", action="store_true", help="check and print; start nothing")
    run.add_argument("--id", help="the instance id (default: a new UUID)")
    run.add_argument("--partition-key", help="the parameter whose value picks the partition")
    run.add_argument("--url", default=None, help=f"any worker's API (default: {DEFAULT_URL})")
    run.add_argument("--token", default=None, help="bearer token (default: DAGGER_API_TOKEN)")
    run.add_argument("--json", action="store_true", help="print JSON, for scripts")


def run_workflows(args: argparse.Namespace) -> int:
    """Run ``dagger workflows <action>``; return the exit status."""
    from dagger import declarative

    if args.app:
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        try:
            importlib.import_module(args.app)
        except ImportError as exc:
            raise CommandError(f"cannot import {args.app!r}: {exc}") from exc
    patterns = args.workflows if args.action == "run" else args.files
    try:
        found = declarative.check_files(patterns) if patterns else []
    except declarative.DeclarativeError as exc:
        for problem in exc.problems:
            print(problem)
        print(f"{len(exc.problems)} problem(s) found", file=sys.stderr)
        return 1
    by_name = {workflow.name: workflow for workflow in found}
    if args.action == "validate":
        print(f"ok: {len(found)} workflow(s): {', '.join(by_name)}")
        return 0
    if args.action == "list":
        return _list(found, args.json)
    if args.action == "show":
        workflow = _named(by_name, args.name)
        print(declarative.describe(workflow))
        return 0
    return _run(args, by_name)


def _named(by_name: dict[str, Any], name: str) -> Any:
    if name not in by_name:
        raise CommandError(f"no workflow named {name!r} in the files; found: {sorted(by_name)}")
    return by_name[name]


def _list(found: list[Any], as_json: bool) -> int:
    if as_json:
        rows = [
            {"name": w.name, "desc": w.desc, "params": list(w.params), "jobs": list(w.jobs)}
            for w in found
        ]
        print(json.dumps(rows, indent=2))
        return 0
    for workflow in found:
        params = ", ".join(workflow.params) or "-"
        print(f"{workflow.name}\tjobs: {len(workflow.jobs)}\tparams: {params}\t{workflow.desc}")
    return 0


def _run(args: argparse.Namespace, by_name: dict[str, Any]) -> int:
    from dagger import declarative

    params = parse_params(args.param)
    if by_name:
        workflow = _named(by_name, args.template)
        values, errors = declarative.validate_params(workflow, params)
        if errors:
            for field, message in errors.items():
                print(f"{field}: {message}")
            return 1
        params = values
        if args.dry_run:
            print(f"would start {workflow.name} with {json.dumps(params, sort_keys=True)}")
            print(f"jobs in order: {', '.join(declarative.job_order(workflow))}")
            return 0
    elif args.dry_run:
        raise CommandError("--dry-run checks the params against files: give --workflows FILE")
    args.param = [f"{name}={json.dumps(value)}" for name, value in params.items()]
    url = args.url or os.environ.get("DAGGER_API_URL") or DEFAULT_URL
    client = ApiClient(url, args.token or os.environ.get("DAGGER_API_TOKEN") or None)
    return run_start(client, args)
