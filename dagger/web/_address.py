"""The URL other workers reach this worker's API at: faust's ``canonical_url``.

faust advertises ``http://<web_host>:<web_port>`` to the group, with the machine's host
name as ``web_host``. A worker bound to one address (127.0.0.1 by default) is not
reachable at its host name, which may resolve elsewhere, so unless the operator names
the host (``web_host``, ``WEB_HOST``, ``dagger worker --web-host``) or the URL
(``canonical_url``, ``NODE_CANONICAL_URL``), the bind address is advertised.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

_ALL_INTERFACES = frozenset({"", "0.0.0.0", "::"})


def advertise(conf: Any, faust_settings: Mapping[str, Any], *, web_host: str | None) -> str:
    """Set ``conf.canonical_url`` for the current bind address and port; return it."""
    if web_host is not None:
        conf.web_host = web_host
    if "canonical_url" in faust_settings or os.environ.get("NODE_CANONICAL_URL"):
        return str(conf.canonical_url)
    host = str(conf.web_host)
    host_named = web_host is not None or "web_host" in faust_settings or os.environ.get("WEB_HOST")
    if not host_named and str(conf.web_bind) not in _ALL_INTERFACES:
        host = str(conf.web_bind)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    url = f"http://{host}:{conf.web_port}"
    conf.canonical_url = url
    return url
