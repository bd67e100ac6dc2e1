"""The broker side of the engine: broker addresses, the embedded Tansu broker and its fix.

A low layer: it imports nothing of the engine above ``dagger.exceptions``, so the
runtime, ops, the CLI and ``dagger.testing`` (which re-exports
:class:`~dagger.broker._embedded.EmbeddedBroker`) all use it.
"""
