"""Where the worker's API listens: a check that its port is free, and the URL it advertises.

faust binds its web server only once the worker runs, and a port in use then ends in a
traceback; :func:`check_web_port` says so in one line before anything starts.

The advertised URL is faust's ``canonical_url``.

faust advertises ``http://<web_host>:<web_port>`` to the group, with the machine's host
name as ``web_host``. A worker bound to one address (127.0.0.1 by default) is not
reachable at its host name, which may resolve elsewhere, so unless the operator names
the host (``web_host``, ``WEB_HOST``, ``dagger worker --web-host``) or the URL
(``canonical_url``, ``NODE_CANONICAL_URL``), the bind address is advertised.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Mapping
from typing import Any

from dagger.exceptions.exceptions import ConfigurationError

_ALL_INTERFACES = frozenset({"", "0.0.0.0", "::"})


class WebPortError(ConfigurationError):
    """The web server cannot listen where it is configured to: the port is taken, say."""


def check_web_port(conf: Any) -> None:
    """Raise WebPortError unless faust's web server can bind ``conf.web_bind:web_port``.

    The check binds a socket as aiohttp will (with ``SO_REUSEADDR``, so a port left in
    TIME_WAIT by a worker that just stopped passes) and releases it at once.
    """
    if not conf.web_enabled or conf.web_transport.scheme != "tcp" or not conf.web_port:
        return
    host, port = str(conf.web_bind), int(conf.web_port)
    hint = "pass --web-port with a free one, or set WEB_PORT"
    try:
        addresses = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise WebPortError(
            f"web bind address {host!r} is not an address of this machine ({exc.strerror}); "
            "pass --web-bind 127.0.0.1, or another address of this machine"
        ) from exc
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise WebPortError(f"web port {port} on {host} is in use; {hint}") from exc
                raise WebPortError(
                    f"web port {port} on {host} cannot be bound ({exc.strerror}); {hint}, "
                    "or --web-bind with an address of this machine"
                ) from exc


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
