"""The faust app's default value codec: the original's raw values, and JSON for the rest.

The original engine created its faust app with ``value_serializer="raw"``, so a topic
that declared no codec carried values as they were: a listener received the message's
bytes (its README does ``json.loads(payload)``) and a command sent the string its task
built with ``json.dumps``. This codec keeps that: bytes and strings pass through, and
decoding gives the bytes back. Where raw could not carry a value (a dict, a list, a
number), the original failed the send; this codec writes it as JSON instead.
"""

from __future__ import annotations

from typing import Any

from faust.serializers import codecs
from faust.serializers.codecs import Codec

from dagger import _faust_internals as faust_internals

__all__ = ["PASSTHROUGH", "PassThroughCodec", "register_passthrough"]

PASSTHROUGH = "dagger_passthrough"
"""The codec's registered name, the engine's faust app ``value_serializer``."""


class PassThroughCodec(Codec):
    """bytes and str as they are (str as UTF-8); any other value as JSON; loads gives bytes."""

    def _dumps(self, obj: Any) -> bytes:
        if isinstance(obj, bytes):
            return obj
        if isinstance(obj, str):
            return obj.encode()
        encoded: bytes = codecs.dumps("json", obj)
        return encoded

    def _loads(self, s: bytes) -> bytes:
        return s


def register_passthrough() -> str:
    """Register the codec with faust (once) and return its name."""
    if not faust_internals.codec_registered(PASSTHROUGH):
        codecs.register(PASSTHROUGH, PassThroughCodec())
    return PASSTHROUGH


# Registered on import, so every module naming the codec finds it in faust's registry.
register_passthrough()
