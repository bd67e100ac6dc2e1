"""The options each ``rocksdb://`` table partition is opened with, bounded for memory.

faust opens one RocksDB database per table and partition (four tables, so four per
partition) with a 64 MiB write buffer (up to three of them) and a 2 GiB block cache,
each. A worker holding waiting instances keeps them in those write buffers until one
fills: 100,000 waiting instances cost 2.6 KB of RSS each. The engine's defaults bound
every database to a few MiB; the data still reaches disk, where it costs less than 1 KB
per waiting instance. Each option can be set with ``Dagger(rocksdb_options={...})``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagger.exceptions.exceptions import ConfigurationError

_MIB = 1024 * 1024

DEFAULT_ROCKSDB_OPTIONS: Mapping[str, int] = {
    "write_buffer_size": 4 * _MIB,
    "max_write_buffer_number": 2,
    "target_file_size_base": 16 * _MIB,
    "block_cache_size": 8 * _MIB,
    "bloom_filter_size": 3,
    "max_open_files": 256,
}
"""Per database (one per table and partition). Worst case in memory: the write buffers
(2 x 4 MiB) and the block cache (8 MiB), 16 MiB per database."""


def resolve_rocksdb_options(given: Mapping[str, Any] | None) -> dict[str, int]:
    """Return the engine's defaults updated with ``given``; unknown names are an error."""
    options = dict(DEFAULT_ROCKSDB_OPTIONS)
    if given is None:
        return options
    if not isinstance(given, Mapping):
        raise ConfigurationError(
            f"rocksdb_options must be a mapping of option names to integers, got {given!r}"
        )
    for name, value in given.items():
        if name not in DEFAULT_ROCKSDB_OPTIONS:
            raise ConfigurationError(
                f"rocksdb_options: unknown option {name!r}; "
                f"known: {', '.join(sorted(DEFAULT_ROCKSDB_OPTIONS))}"
            )
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConfigurationError(
                f"rocksdb_options[{name!r}] must be a positive integer, got {value!r}"
            )
        options[name] = value
    return options
