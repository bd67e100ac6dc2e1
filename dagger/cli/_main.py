"""Argument parsing and dispatch for the ``dagger`` command."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

from dagger import __version__
from dagger.cli._errors import CommandError
from dagger.cli._instances import add_instances_command, run_instances
from dagger.cli._reachable import check_broker_reachable
from dagger.exceptions.exceptions import DaggerError

_LOG_LEVELS = ("critical", "error", "warning", "warn", "info", "debug")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dagger", description="Dagger workflow engine")
    parser.add_argument("--version", action="version", version=f"dagger {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    worker = commands.add_parser("worker", help="run a worker for the engine defined in a module")
    worker.add_argument(
        "-A",
        "--app",
        required=True,
        help="module that creates the Dagger instance (pkg.module, or pkg.module:attribute)",
    )
    worker.add_argument("-l", "--loglevel", default="info", choices=_LOG_LEVELS)
    worker.add_argument(
        "--workflows",
        action="append",
        default=[],
        metavar="PATH",
        help="declarative workflow files, globs or folders to load (repeatable)",
    )
    worker.add_argument(
        "--web-port", type=int, default=None, help="port of the worker's web server and API"
    )
    worker.add_argument(
        "--web-bind",
        default=None,
        help="address the web server binds (default 127.0.0.1; 0.0.0.0 for every interface)",
    )
    worker.add_argument(
        "--web-host",
        default=None,
        help="host name the other workers reach this one at (default: the bind address)",
    )
    broker = commands.add_parser("broker", help="run an embedded Kafka-protocol broker (Tansu)")
    broker.add_argument(
        "--port", type=int, default=None, help="port on 127.0.0.1 (default: a free one)"
    )
    from dagger.cli._dlq_command import add_dlq_parser

    add_dlq_parser(commands)
    add_instances_command(commands)
    from dagger.cli._workflows_command import add_workflows_command

    add_workflows_command(commands)
    from dagger.cli._releases_command import add_schedule_commands

    add_schedule_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``dagger`` command; return its exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "broker":
            return _broker(args.port)
        if args.command == "dlq":
            from dagger.cli._dlq_command import run_dlq

            return run_dlq(args)
        if args.command == "instances":
            return run_instances(args)
        if args.command == "workflows":
            from dagger.cli._workflows_command import run_workflows

            return run_workflows(args)
        if args.command in ("schedules", "releases"):
            from dagger.cli._releases_command import run_releases, run_schedules

            return run_schedules(args) if args.command == "schedules" else run_releases(args)
        return _worker(args)
    except CommandError as exc:
        print(f"dagger: error: {exc}", file=sys.stderr)
        return 2


def _broker(port: int | None) -> int:
    from dagger.broker._embedded import EmbeddedBrokerError
    from dagger.cli._broker_command import run_broker

    try:
        return run_broker(port)
    except EmbeddedBrokerError as exc:
        raise CommandError(str(exc)) from exc


def _worker(args: argparse.Namespace) -> int:
    from dagger.runtime import _embedded_default
    from dagger.service._worker import run_worker
    from dagger.web._address import WebPortError

    _embedded_default.enable_on_demand()
    engine = find_engine(args.app)
    if args.workflows:
        _load_workflows(engine, args.workflows)
    conf = engine.faust_app.conf
    # A TLS listener would take the plain Kafka request for a bad handshake: connect only.
    plain = conf.broker_credentials is None and conf.ssl_context is None
    check_broker_reachable(engine.settings.bootstrap_servers, kafka_protocol=plain)
    try:
        run_worker(
            engine,
            loglevel=args.loglevel,
            web_port=args.web_port,
            web_bind=args.web_bind,
            web_host=args.web_host,
        )
    except WebPortError as exc:  # raised before the worker starts
        raise CommandError(str(exc)) from exc
    return 0


def _load_workflows(engine: Any, patterns: list[str]) -> None:
    """Load declarative workflow files onto the worker's engine (``--workflows``)."""
    from dagger import declarative

    try:
        declarative.load(engine, patterns)
    except declarative.DeclarativeError as exc:
        raise CommandError(f"cannot load the workflows:\n{exc}") from exc


def find_engine(app: str):  # type: ignore[no-untyped-def]
    """Import the module ``app`` names and return its Dagger instance.

    ``app`` is ``pkg.module`` (the module must define exactly one Dagger instance) or
    ``pkg.module:attribute`` (the instance is that attribute), as faust's ``-A`` takes.
    """
    from dagger.service._dagger import Dagger

    module_name, _, attribute = app.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except DaggerError as exc:
        raise CommandError(f"{module_name}: {exc}") from exc
    except ImportError as exc:
        raise CommandError(f"cannot import {module_name!r}: {exc}") from exc
    if attribute:
        engine = getattr(module, attribute, None)
        if not isinstance(engine, Dagger):
            found = "nothing" if engine is None else f"a {type(engine).__name__}"
            raise CommandError(
                f"{app}: {module_name}.{attribute} is {found}, not a Dagger instance"
            )
        return engine
    engines = [value for value in vars(module).values() if isinstance(value, Dagger)]
    if not engines:
        raise CommandError(f"module {module_name!r} defines no Dagger instance")
    if len(engines) > 1:
        raise CommandError(
            f"module {module_name!r} defines {len(engines)} Dagger instances; "
            f"name one with -A {module_name}:<attribute>"
        )
    return engines[0]
