"""The faust sensor that puts the running hook's trace context on the messages it sends."""

from __future__ import annotations

from typing import Any

from faust.sensors.base import Sensor

from dagger.runtime._telemetry import Telemetry
from dagger.tasks._hook_context import hook_instance


class HookHeadersSensor(Sensor):
    """Lets the telemetry add its headers (``traceparent``) to messages sent from a hook.

    faust calls ``on_send_initiated`` in the sender's context before the producer sends
    the message, with the message's headers still open to change. Only messages sent
    while a task hook runs (commands) get headers; the engine's own records do not.
    """

    def __init__(self, telemetry: Telemetry, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.telemetry = telemetry

    def on_send_initiated(
        self, producer: Any, topic: str, message: Any, keysize: int, valsize: int
    ) -> Any:
        """Add the telemetry's headers when a hook is sending."""
        headers = message.headers
        if hook_instance() is not None and isinstance(headers, dict | list):
            self.telemetry.inject(headers)
        return None
