"""The embedded broker `dagger worker` starts when no broker is configured."""

from __future__ import annotations

import atexit
import sys
from typing import Any

_enabled = False
_broker: Any = None


def enable_on_demand() -> None:
    """Let the next engine without a configured broker start an embedded one."""
    global _enabled
    _enabled = True


def broker_url() -> str | None:
    """Return the URL of the on-demand embedded broker, starting it on first use."""
    global _broker
    if not _enabled:
        return None
    if _broker is None:
        from dagger.broker._embedded import EmbeddedBroker

        _broker = EmbeddedBroker()
        _broker.start()
        atexit.register(_broker.stop)
        print(
            f"No broker configured: started an embedded Kafka broker at {_broker.url} "
            "(its data lives in memory and is gone when this worker stops)",
            file=sys.stderr,
            flush=True,
        )
    url: str = _broker.url
    return url
