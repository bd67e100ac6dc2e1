"""RetryPolicy: checked on creation, its waits, when it retries, its stored form."""

from __future__ import annotations

from typing import Any

import pytest

from dagger.tasks.task import RetryPolicy


def test_the_default_policy_is_one_attempt() -> None:
    policy = RetryPolicy()

    assert policy.max_attempts == 1
    assert policy.retries(1, ("ValueError",)) is False


def test_waits_grow_by_the_multiplier_up_to_the_maximum() -> None:
    policy = RetryPolicy(max_attempts=6, initial_backoff=1.0, multiplier=3.0, max_backoff=20.0)

    assert [policy.backoff(failed) for failed in range(1, 6)] == [1.0, 3.0, 9.0, 20.0, 20.0]


def test_it_retries_until_the_last_attempt() -> None:
    policy = RetryPolicy(max_attempts=3)

    assert [policy.retries(failed, ("OSError",)) for failed in (1, 2, 3)] == [True, True, False]


def test_a_non_retryable_exception_or_subclass_fails_at_once() -> None:
    policy = RetryPolicy(max_attempts=5, non_retryable=(LookupError, "PermissionError"))

    assert policy.non_retryable == ("LookupError", "PermissionError")
    assert policy.retries(1, ("KeyError", "LookupError", "Exception")) is False
    assert policy.retries(1, ("PermissionError", "OSError")) is False
    assert policy.retries(1, ("ConnectionError", "OSError", "Exception")) is True


def test_the_stored_form_round_trips() -> None:
    policy = RetryPolicy(
        max_attempts=4,
        initial_backoff=0.5,
        multiplier=1.5,
        max_backoff=9.0,
        non_retryable=(KeyError,),
    )

    assert RetryPolicy.from_document(policy.to_document()) == policy
    assert policy.to_document() == {
        "max_attempts": 4,
        "initial_backoff": 0.5,
        "multiplier": 1.5,
        "max_backoff": 9.0,
        "non_retryable": ["KeyError"],
    }


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"max_attempts": 0}, "max_attempts must be at least 1"),
        ({"max_attempts": 2.5}, "max_attempts must be an int"),
        ({"max_attempts": True}, "max_attempts must be an int"),
        ({"initial_backoff": -1}, "initial_backoff must be a finite number >= 0"),
        ({"max_backoff": float("inf")}, "max_backoff must be a finite number >= 0"),
        ({"multiplier": "2"}, "multiplier must be a number of seconds"),
        ({"multiplier": 0.5}, "multiplier must be at least 1"),
        ({"initial_backoff": 10, "max_backoff": 5}, "max_backoff .5. is below initial_backoff"),
        ({"non_retryable": (42,)}, "non_retryable takes exception classes or their names"),
        ({"non_retryable": (dict,)}, "non_retryable takes exception classes or their names"),
    ],
)
def test_bad_settings_are_refused_with_the_reason(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetryPolicy(**arguments)
