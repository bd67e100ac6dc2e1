"""Stores the engine keeps its state in, besides the faust tables (``aerospike://``)."""
