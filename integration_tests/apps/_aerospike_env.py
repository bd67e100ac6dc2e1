"""Where the ``aerospike://`` integration tests keep state: a real server or a fake's file.

With ``AEROSPIKE_HOST`` (``host[:port]``; ``AEROSPIKE_NAMESPACE``, default ``dagger`` as in
docker-compose.yml) that server is used. Otherwise a FakeAerospikeClient on the SQLite
file ``TEST_AEROSPIKE_FAKE`` is handed to the engine through
``AerospikeConfig.KWARGS["client"]``, the documented way to give the engine a ready client,
and the test reads the state back from the same file.
"""

from __future__ import annotations

import os
from typing import Any

from dagger.service.engineconfig import AerospikeConfig
from dagger.testing import FakeAerospikeClient

NAMESPACE = os.environ.get("AEROSPIKE_NAMESPACE", "dagger")


def real_server_hosts() -> list[tuple[str, int]] | None:
    """The ``AEROSPIKE_HOST`` server, or None to use the fake."""
    address = os.environ.get("AEROSPIKE_HOST")
    if not address:
        return None
    host, _, port = address.partition(":")
    return [(host, int(port or 3000))]


def store_client() -> Any:
    """A client on the store the worker uses: the real server, or the fake's file."""
    hosts = real_server_hosts()
    if hosts is not None:
        import aerospike

        return aerospike.client({"hosts": hosts})
    return FakeAerospikeClient(os.environ["TEST_AEROSPIKE_FAKE"])


def aerospike_config() -> AerospikeConfig:
    """The worker's AerospikeConfig: HOSTS for a real server, else a fake client."""
    hosts = real_server_hosts()
    return AerospikeConfig(
        HOSTS=hosts or [],
        POLICIES=None,
        NAMESPACE=NAMESPACE,
        USERNAME=None,
        PASSWORD=None,
        TTL=-1,
        KWARGS={} if hosts else {"client": store_client()},
    )
