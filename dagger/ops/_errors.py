"""Errors of the dead-letter tools; each carries what a caller needs to report it."""

from __future__ import annotations

from dagger.exceptions.exceptions import DaggerError

__all__ = [
    "BrokerUnavailableError",
    "DeadLetterError",
    "DeadLetterNotFoundError",
    "InvalidDeadLetterIdError",
    "NotReinjectableError",
    "UnknownTopicError",
]


class DeadLetterError(DaggerError):
    """Base class of the errors raised by :class:`~dagger.ops.DeadLetterService`."""


class InvalidDeadLetterIdError(DeadLetterError, ValueError):
    """A dead-letter id or cursor is not ``partition:offset`` (an HTTP API answers 400)."""

    def __init__(self, text: object, what: str = "dead-letter id") -> None:
        super().__init__(
            f"{what} must look like 'partition:offset' (two integers >= 0), got {text!r}"
        )
        self.text = text


class DeadLetterNotFoundError(DeadLetterError, LookupError):
    """No dead letter has this id in the topic (an HTTP API answers 404)."""

    def __init__(self, topic: str, dead_letter_id: str, why: str) -> None:
        super().__init__(f"no dead letter {dead_letter_id} in topic {topic!r}: {why}")
        self.topic = topic
        self.dead_letter_id = dead_letter_id


class UnknownTopicError(DeadLetterError, LookupError):
    """A topic the operation needs does not exist on the broker."""

    def __init__(self, topic: str, role: str = "topic") -> None:
        super().__init__(
            f"{role} {topic!r} does not exist on the broker; check the name"
            " (topics are not created by these tools)"
        )
        self.topic = topic


class NotReinjectableError(DeadLetterError):
    """The dead letter cannot be re-sent: it is purged or does not say where it came from."""

    def __init__(self, dead_letter_id: str, why: str) -> None:
        super().__init__(f"dead letter {dead_letter_id} cannot be reinjected: {why}")
        self.dead_letter_id = dead_letter_id


class BrokerUnavailableError(DeadLetterError):
    """The Kafka broker did not answer."""
