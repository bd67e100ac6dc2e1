"""Trace-context headers for commands sent by other means than the engine's topics."""

from __future__ import annotations


def trace_headers() -> dict[str, bytes]:
    """Return the W3C headers (``traceparent``) of the current span, as Kafka headers.

    Inside a task hook the current span is the hook's, so a reply that carries these
    headers back joins the instance's trace. Commands sent with ``await
    engine.topics[name].send(...)`` from a hook get them without this call; use it for
    messages sent another way (another producer, ``send_soon``, ``stream_publish_on_commit``).
    Returns an empty dict when OpenTelemetry is not installed or no span is current.

    Examples:
        >>> headers = list(trace_headers().items())  # doctest: +SKIP
        >>> await producer.send(topic, value, headers=headers)  # doctest: +SKIP
    """
    try:
        from dagger.observability._otel import context_headers
    except ImportError:
        return {}
    return {key: value.encode() for key, value in context_headers().items()}
