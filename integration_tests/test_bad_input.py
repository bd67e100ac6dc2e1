"""The bad-input suite's short form: 3,000 malformed records of every kind beside 50 orders.

It runs ``bench.bad_input`` (one worker on ``rocksdb://`` and the embedded broker, the
simulated order service, a flooder) and asserts its verdicts, not its timings: the worker
stays alive and ready, every order completes, and every malformed record is in the
dead-letter topic with the reason its kind expects, or held as an early message, or
dropped and counted by reason, with nothing else dead-lettered. The long form with its
timings is ``python -m bench.bad_input`` (docs/reliability.md).
"""

from __future__ import annotations

import json

import pytest

from bench import bad_input

pytestmark = pytest.mark.integration


async def test_a_flood_of_malformed_records_is_accounted_for_and_orders_complete() -> None:
    criteria, figures = await bad_input.run(
        3000, 2000, 50, timings=False, progress=lambda line: None
    )

    failed = [criterion for criterion in criteria if not criterion.passed]
    assert not failed, bad_input.report(failed) + "\n" + json.dumps(figures, indent=1)
    # Every kind was sent, and each outcome is there to be checked.
    assert set(figures["sent_by_expected_outcome"]) == {
        "undecodable",
        "too_large",
        "key_extraction_failed",
        "malformed_engine_event",
        "held",
        "dropped:unknown_instance",
        "dropped:replayed",
    }
