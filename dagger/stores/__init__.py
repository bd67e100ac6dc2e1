"""Stores the engine keeps its state in: ``aerospike://`` and the options of ``rocksdb://``."""

from dagger.stores._rocksdb_options import DEFAULT_ROCKSDB_OPTIONS

__all__ = ["DEFAULT_ROCKSDB_OPTIONS"]
