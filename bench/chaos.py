"""The chaos suite (issue 15): workers killed and rebalanced while instances run.

The scenarios (``kill-loop``, ``rebalance``) and how their criteria are checked are
described in :mod:`bench._chaos`.

Run: ``python -m bench.chaos kill-loop --instances 10000 --loop-seconds 120 --seed 1``,
``python -m bench.chaos rebalance --instances 5000``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the chaos suite: kills and rebalances")
    scenarios = parser.add_subparsers(dest="scenario", required=True)
    loop = scenarios.add_parser("kill-loop", help="SIGKILL the worker every 4-8 s")
    loop.add_argument("--instances", type=int, default=10_000)
    loop.add_argument("--loop-seconds", type=float, default=120.0)
    loop.add_argument("--seed", type=int, default=1)
    loop.add_argument("--baseline", type=int, default=1000, help="no-fault instances first")
    loop.add_argument(
        "--session-timeout",
        type=float,
        default=6.0,
        help="the workers' broker_session_timeout (s); a restart after a SIGKILL waits "
        "for the killed member's session to expire before the group rebalances",
    )
    moves = scenarios.add_parser("rebalance", help="two workers: SIGKILL one, SIGTERM the other")
    moves.add_argument("--instances", type=int, default=5000)
    moves.add_argument("--down-seconds", type=float, default=10.0)
    moves.add_argument("--kill-at", type=float, default=0.3, help="fraction done at the kill")
    arguments = parser.parse_args(argv)
    # faust reads sys.argv when it is imported and takes anything starting with --loop
    # (as --loop-seconds does) for its event-loop option: import it with the arguments read.
    sys.argv[1:] = []
    from bench._chaos import kill_loop, rebalance, report

    if arguments.scenario == "kill-loop":
        criteria, figures = asyncio.run(
            kill_loop(
                arguments.instances,
                arguments.loop_seconds,
                arguments.seed,
                arguments.baseline,
                session_timeout=arguments.session_timeout,
            )
        )
        return 0 if report("chaos_kill_loop", criteria, figures) else 1
    criteria, figures = asyncio.run(
        rebalance(arguments.instances, arguments.down_seconds, arguments.kill_at)
    )
    return 0 if report("chaos_rebalance", criteria, figures) else 1


if __name__ == "__main__":
    sys.exit(main())
