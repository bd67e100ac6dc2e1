"""Operating a running engine: the dead-letter tools behind ``dagger dlq``, consumer lag."""

from __future__ import annotations

from dagger.ops._dead_letter_service import (
    DEFAULT_DEAD_LETTER_TOPIC,
    REINJECTED_HEADER,
    DeadLetterService,
)
from dagger.ops._errors import (
    BrokerUnavailableError,
    DeadLetterError,
    DeadLetterNotFoundError,
    InvalidDeadLetterIdError,
    NotReinjectableError,
    UnknownTopicError,
)
from dagger.ops._lag import consumer_lag

__all__ = [
    "DEFAULT_DEAD_LETTER_TOPIC",
    "REINJECTED_HEADER",
    "BrokerUnavailableError",
    "DeadLetterError",
    "DeadLetterNotFoundError",
    "DeadLetterService",
    "InvalidDeadLetterIdError",
    "NotReinjectableError",
    "UnknownTopicError",
    "consumer_lag",
]
