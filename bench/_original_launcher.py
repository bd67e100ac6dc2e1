"""Runs a program on the original engine (wf-dagger 0.2.6) with the one fix it needs here.

``python bench/_original_launcher.py APP.py ARGS...`` runs ``APP.py`` as ``__main__`` after
one change to faust's codec registry, in the original's process only.

Why: the original's ``rocksdb://`` store cannot store anything on the faust-streaming it
runs on. Its tasks, triggers and correlation entries are faust Records declared with
``serializer="raw"``, and its tables use the ``raw`` codec, which passes a Record's dict
through untouched: rocksdict then refuses it (``ValueError: raw mode only support bytes``)
and the agent crashes on the first instance. (Its users ran ``aerospike://``, whose client
takes dicts.) Here ``raw`` keeps bytes as they are and pickles anything else, and unpickles
what it pickled, so the original's tables round-trip its Records and it runs at all. A
pickle per table write is about what its Aerospike client paid to encode a dict.
"""

from __future__ import annotations

import pickle
import runpy
import sys
from typing import Any

from faust.serializers import codecs

PICKLED = b"\x80"
"""The first byte of every pickle of protocol 2 or later."""


class RawOrPickle(codecs.Codec):
    """Bytes as they are; any other value pickled (and unpickled on the way back)."""

    def _dumps(self, value: Any) -> bytes:
        if isinstance(value, bytes):
            return value
        if isinstance(value, str):
            return value.encode()
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)

    def _loads(self, data: bytes) -> Any:
        if data[:1] == PICKLED:
            return pickle.loads(data)
        return data


def main() -> None:
    codecs.register("raw", RawOrPickle())
    app, *arguments = sys.argv[1:]
    sys.argv = [app, *arguments]
    runpy.run_path(app, run_name="__main__")


if __name__ == "__main__":
    main()
