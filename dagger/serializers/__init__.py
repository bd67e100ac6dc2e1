"""Serializers for the keys and values of command and listener topics (``avro``: Avro)."""
