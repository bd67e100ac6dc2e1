"""Crash the owner's batch commit at every point; what it leaves must agree with itself.

Hypothesis chooses the workflows' shapes (executors, a listener keyed like its instance,
a listener keyed on another partition, a trigger, in any order), the input (creations,
replies, replies a listener agent reads twice, clock ticks, held-message sweeps), how
records are batched and when faust commits the acked offsets, and before which step
each batch commit is killed: the flush of the
sends, any one table write, the callbacks, the ack (:mod:`tests.unit.runtime._crash_world`
runs the real owners and staging area). After the crashes the worker recovers from the
changelog and applies the records not acked, and then the rule holds:

- the correlation index holds exactly the listeners the stored instances say wait;
- the timer table, and the timer index in memory, hold exactly the pending timers;
- no held message is one a listener has handled, nor waits under a key a listener
  waits on;

and once every listener got its reply and every timer fell due, every instance has
COMPLETED with each reply handled once and each task run once in its state, as the
model says (:mod:`tests.unit.runtime._crash_scenarios`), and nothing of it is left in
the index or the timers.

The examples run for a few seconds in the unit suite; ``DAGGER_CRASH_EXAMPLES=5000``
runs many more (docs/testing.md).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.runtime._crash_scenarios import LONGEST_DELAY, PARTITIONS, SHAPES, run_scenario

EXAMPLES = int(os.environ.get("DAGGER_CRASH_EXAMPLES", "150"))
"""How many runs Hypothesis makes; a few seconds' worth unless asked for more."""
MAX_CRASHES = 3
"""The most crashes in one run."""

# -- the input ---------------------------------------------------------------------------
KINDS = ("reply", "batch", "commit", "tick", "sweep")


@st.composite
def scenarios(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    """Steps of a few shapes and of some kinds of input only ("swarm testing").

    Runs that stick to a few shapes and kinds reach deeper into each than runs where
    every kind dilutes every other; across runs every combination comes up.
    """
    shapes = draw(st.lists(st.sampled_from(SHAPES), min_size=1, max_size=3, unique=True))
    kinds = draw(st.sets(st.sampled_from(KINDS))) | {"batch"}
    options = {
        "reply": st.tuples(st.just("reply"), st.integers(0, 50), st.integers(0, 1), st.booleans()),
        "batch": st.tuples(st.just("batch"), st.integers(0, PARTITIONS - 1), st.integers(1, 6)),
        "commit": st.tuples(st.just("commit")),
        "tick": st.tuples(st.just("tick"), st.integers(1, LONGEST_DELAY // 2)),
        "sweep": st.tuples(st.just("sweep")),
    }
    creates = st.tuples(st.just("create"), st.sampled_from(shapes), st.integers(0, LONGEST_DELAY))
    chosen = st.one_of(creates, *(options[kind] for kind in sorted(kinds)))
    return draw(st.lists(chosen, max_size=40))


@pytest.mark.timeout(30 + EXAMPLES / 5)  # more than the unit tests' 10 s: many runs
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chosen=scenarios(), delete_on_complete=st.booleans(), data=st.data())
def test_a_crash_at_any_point_of_a_commit_leaves_state_that_agrees_with_itself(
    chosen: list[tuple[Any, ...]], delete_on_complete: bool, data: st.DataObject
) -> None:
    crashes_left = [MAX_CRASHES]

    def choose_crash(commit_steps: int) -> int | None:
        if not crashes_left[0]:
            return None
        chosen_step: int | None = data.draw(
            st.none() | st.integers(0, commit_steps - 1), label="crash before commit step"
        )
        crashes_left[0] -= chosen_step is not None
        return chosen_step

    asyncio.run(run_scenario(chosen, delete_on_complete, choose_crash))
