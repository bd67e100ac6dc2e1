"""Checking an ``AerospikeConfig`` for the ``aerospike://`` store, once, with clear errors.

``AerospikeConfig`` keeps the original's fields. ``KWARGS`` carries the extras, each
optional:

- ``"client"``: a ready client object (``aerospike.client(config).connect()`` made by the
  application, or :class:`dagger.testing.FakeAerospikeClient`). The engine then creates no
  client, so ``HOSTS``, ``POLICIES``, ``USERNAME`` and ``PASSWORD`` must be empty.
- ``"set_prefix"``: prepended to each table's set name; default ``"<application_name>_"``,
  so engines with different application names can share a namespace.
- ``"client_config"``: further entries of the ``aerospike.client`` config dict (``tls``,
  ``timeout``, ``cluster_name``, ...).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from dagger.exceptions.exceptions import ConfigurationError
from dagger.stores._kinds import AerospikeConfig

TABLE_NAMES = ("dagger_instances", "dagger_correlation", "dagger_early_messages", "dagger_timers")
"""The engine's tables; each is one set of the namespace."""

_MAX_SET_NAME = 63
_MAX_NAMESPACE = 31
_HOST_PORT = re.compile(r"^(?P<host>[^\s:/;,]+):(?P<port>\d{1,5})$")
_KWARGS = frozenset({"client", "set_prefix", "client_config"})
_ENGINE_CLIENT_KEYS = frozenset({"hosts", "policies", "user", "password"})
_CLIENT_CALLS = ("get", "exists", "operate", "remove", "query")

Host = tuple[Any, ...]


@dataclass(frozen=True)
class AerospikeSettings:
    """The checked settings of the ``aerospike://`` store."""

    namespace: str
    set_prefix: str
    ttl: int
    hosts: tuple[Host, ...]
    client_config: dict[str, Any] = field(default_factory=dict, repr=False)
    client: Any = None
    """A ready client given in ``KWARGS["client"]``, or None to create one from the config."""

    def set_name(self, table: str) -> str:
        """The set holding ``table``'s records."""
        return f"{self.set_prefix}{table}"


def import_client_package() -> ModuleType:
    """Return the ``aerospike`` module, or raise a ConfigurationError saying how to install it."""
    try:
        import aerospike
    except ImportError as exc:
        raise ConfigurationError(
            "store='aerospike://' needs the Aerospike client package: "
            "pip install 'dagger-workflows[aerospike]'"
        ) from exc
    return aerospike


def resolve_aerospike(config: Any, application_name: str) -> AerospikeSettings:
    """Check ``config`` (an ``AerospikeConfig``) and return the store's settings."""
    if config is None:
        raise ConfigurationError(
            "store='aerospike://' needs aerospike_config=AerospikeConfig("
            "HOSTS=[('host', 3000)], POLICIES=None, NAMESPACE='...', USERNAME=None, "
            "PASSWORD=None, TTL=-1, KWARGS={}); or pass store='rocksdb://' or 'memory://'"
        )
    if not isinstance(config, AerospikeConfig):
        raise ConfigurationError(
            "aerospike_config must be a dagger.service.engineconfig.AerospikeConfig, "
            f"got {type(config).__name__}"
        )
    import_client_package()
    kwargs = _check_kwargs(config.KWARGS)
    client = kwargs.get("client")
    namespace = _check_namespace(config.NAMESPACE)
    ttl = _check_ttl(config.TTL)
    prefix = _check_set_prefix(kwargs.get("set_prefix", f"{application_name}_"))
    if client is not None:
        _check_client(client, config)
        return AerospikeSettings(namespace, prefix, ttl, (), {}, client)
    hosts = _check_hosts(config.HOSTS)
    client_config: dict[str, Any] = dict(_check_client_config(kwargs.get("client_config", {})))
    client_config["hosts"] = list(hosts)
    if config.POLICIES is not None:
        if not isinstance(config.POLICIES, Mapping):
            raise ConfigurationError(
                "AerospikeConfig.POLICIES must be a dict of client policies (or None), "
                f"got {config.POLICIES!r}"
            )
        client_config["policies"] = dict(config.POLICIES)
    user, password = _check_credentials(config.USERNAME, config.PASSWORD)
    if user is not None:
        client_config["user"] = user
        client_config["password"] = password
    return AerospikeSettings(namespace, prefix, ttl, hosts, client_config, None)


def _check_kwargs(kwargs: Any) -> Mapping[str, Any]:
    if kwargs is None:
        return {}
    if not isinstance(kwargs, Mapping):
        raise ConfigurationError(f"AerospikeConfig.KWARGS must be a dict, got {kwargs!r}")
    unknown = sorted(str(name) for name in set(kwargs) - _KWARGS)
    if unknown:
        raise ConfigurationError(
            f"unknown AerospikeConfig.KWARGS key(s): {', '.join(unknown)}; "
            f"known: {', '.join(sorted(_KWARGS))}"
        )
    return kwargs


def _check_namespace(namespace: Any) -> str:
    if not isinstance(namespace, str) or not 0 < len(namespace) <= _MAX_NAMESPACE:
        raise ConfigurationError(
            "AerospikeConfig.NAMESPACE must be the name of a namespace of the cluster "
            f"(1 to {_MAX_NAMESPACE} characters), got {namespace!r}"
        )
    return namespace


def _check_ttl(ttl: Any) -> int:
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < -1:
        raise ConfigurationError(
            "AerospikeConfig.TTL must be -1 (never expire; recommended: an expired record "
            "is a lost instance), 0 (the namespace's default-ttl) or seconds > 0, "
            f"got {ttl!r}"
        )
    return ttl


def _check_set_prefix(prefix: Any) -> str:
    longest = max(len(name) for name in TABLE_NAMES)
    if (
        not isinstance(prefix, str)
        or any(char in prefix for char in ":;\0")
        or len(prefix) + longest > _MAX_SET_NAME
    ):
        raise ConfigurationError(
            "AerospikeConfig.KWARGS['set_prefix'] must be a string without ':' or ';' of at "
            f"most {_MAX_SET_NAME - longest} characters (set names are limited to "
            f"{_MAX_SET_NAME}), got {prefix!r}; with the default prefix, shorten "
            "application_name or set KWARGS['set_prefix']"
        )
    return prefix


def _check_client(client: Any, config: AerospikeConfig) -> None:
    missing = [call for call in _CLIENT_CALLS if not callable(getattr(client, call, None))]
    if missing:
        raise ConfigurationError(
            "AerospikeConfig.KWARGS['client'] must be an Aerospike client "
            f"(it has no {', '.join(missing)}), got {type(client).__name__}"
        )
    unused = [
        name
        for name, value in (
            ("HOSTS", config.HOSTS),
            ("POLICIES", config.POLICIES),
            ("USERNAME", config.USERNAME),
            ("PASSWORD", config.PASSWORD),
        )
        if value
    ]
    if unused:
        raise ConfigurationError(
            f"AerospikeConfig.{', '.join(unused)} would be ignored: KWARGS['client'] is a "
            "ready client; configure that client instead and leave these empty"
        )


def _check_hosts(hosts: Any) -> tuple[Host, ...]:
    hint = (
        "AerospikeConfig.HOSTS must be a non-empty list of ('host', port) tuples "
        "(or 'host:port' strings)"
    )
    if isinstance(hosts, (str, bytes)) or not isinstance(hosts, (list, tuple)) or not hosts:
        raise ConfigurationError(f"{hint}, got {hosts!r}")
    checked: list[Host] = []
    for host in hosts:
        if isinstance(host, str):
            match = _HOST_PORT.match(host)
            if match is None:
                raise ConfigurationError(f"{hint}, got the entry {host!r}")
            host = (match["host"], int(match["port"]))
        if (
            not isinstance(host, tuple)
            or len(host) not in (2, 3)
            or not isinstance(host[0], str)
            or not host[0]
            or isinstance(host[1], bool)
            or not isinstance(host[1], int)
            or not 0 < host[1] < 65536
            or (len(host) == 3 and not isinstance(host[2], str))
        ):
            raise ConfigurationError(f"{hint}, got the entry {host!r}")
        checked.append(host)
    return tuple(checked)


def _check_client_config(extra: Any) -> Mapping[str, Any]:
    if not isinstance(extra, Mapping):
        raise ConfigurationError(
            f"AerospikeConfig.KWARGS['client_config'] must be a dict, got {extra!r}"
        )
    clashing = sorted(set(extra) & _ENGINE_CLIENT_KEYS)
    if clashing:
        raise ConfigurationError(
            f"AerospikeConfig.KWARGS['client_config'] must not set {', '.join(clashing)}: "
            "use HOSTS, POLICIES, USERNAME and PASSWORD"
        )
    return extra


def _check_credentials(user: Any, password: Any) -> tuple[str | None, str | None]:
    if user is None and password is None:
        return None, None
    if not isinstance(user, str) or not user or not isinstance(password, str):
        raise ConfigurationError(
            "AerospikeConfig.USERNAME and PASSWORD go together: both strings, or both None"
        )
    return user, password
