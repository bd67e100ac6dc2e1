"""`dagger broker`: run the embedded Kafka-protocol broker in the foreground."""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

from dagger.broker._embedded import EmbeddedBroker

__all__ = ["run_broker"]

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_LIVENESS_INTERVAL = 0.5


def run_broker(port: int | None = None) -> int:
    """Run an embedded broker until SIGINT or SIGTERM; return the exit code.

    Must be called from the main thread, which owns signal handling.

    Args:
        port: TCP port on 127.0.0.1 to listen on; a free one is picked when None.

    Returns:
        0 after a signal stopped the broker, 1 if the broker exited by itself.
    """
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop_requested.set()

    previous = {signum: signal.signal(signum, request_stop) for signum in _STOP_SIGNALS}
    try:
        with EmbeddedBroker(port) as broker:
            print(f"Embedded Kafka broker listening on {broker.url}", flush=True)
            while not stop_requested.wait(_LIVENESS_INTERVAL):
                if not broker.running and not stop_requested.is_set():
                    print("The embedded Kafka broker exited unexpectedly", file=sys.stderr)
                    return 1
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
    return 0
