"""Asking the other workers of the group: who they are, and an HTTP client to ask them.

Instances belong to partitions chosen from their partition key, not from their id, so a
worker cannot tell from an id which worker owns an instance. It asks every other worker
of its consumer group at once, with :data:`SCOPE_HEADER` set to ``local``: each answers
for the partitions it owns, the owner with the instance, the others with 404. The
workers are known from faust's group assignment, which carries each member's
``canonical_url`` (see :func:`dagger.web._address.advertise`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Protocol

import aiohttp

from dagger import _faust_internals as faust_internals
from dagger.core._codec import loads
from dagger.exceptions.exceptions import DaggerError
from dagger.web._errors import Reply

SCOPE_HEADER = "X-Dagger-Scope"
"""Request header; ``local`` asks a worker to answer from its own partitions only."""
PEER_TIMEOUT = 10.0
"""Seconds a peer may take to answer."""
STATUS_COUNTS_HEADER = "X-Status-Counts"
"""Response header of a listing: ``{"STATUS": n}`` (JSON), the matches of each status when
the status filter is left out."""
FORWARDED_HEADERS = ("X-Total-Count", STATUS_COUNTS_HEADER)


class PeerDirectory(Protocol):
    """Where the other workers of the group can be reached."""

    def urls(self) -> list[str]:
        """The base URLs of the other workers (not this one)."""
        ...


class AssignmentPeers:
    """The other members of the engine's consumer group, from faust's assignment metadata."""

    def __init__(self, app: Any) -> None:
        self._app = app

    def urls(self) -> list[str]:
        """Every member's canonical URL except this worker's."""
        own = _normal(str(self._app.conf.canonical_url))
        members = {_normal(url) for url in faust_internals.group_member_urls(self._app)}
        return sorted(members - {own})


class StaticPeers:
    """A fixed list of peer URLs (tests, and workers outside one consumer group)."""

    def __init__(self, urls: list[str]) -> None:
        self._urls = [_normal(url) for url in urls]

    def urls(self) -> list[str]:
        """The configured URLs."""
        return list(self._urls)


class PeerUnreachable(DaggerError):
    """A peer did not answer, or not with JSON."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"worker {url} did not answer: {reason}")
        self.url = url


class PeerClient:
    """Sends one request to a peer and reads its JSON answer."""

    def __init__(self, timeout: float = PEER_TIMEOUT) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def request(
        self,
        base_url: str,
        method: str,
        path: str,
        params: Mapping[str, str] | None = None,
        authorization: str | None = None,
        body: Any = None,
    ) -> Reply:
        """Ask ``base_url`` for ``path`` with the local scope; raise PeerUnreachable.

        ``body``, when not None, goes as JSON (a request forwarded to the owner).
        """
        headers = {SCOPE_HEADER: "local"}
        if authorization is not None:
            headers["Authorization"] = authorization
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.request(
                method, base_url + path, params=dict(params or {}), headers=headers, json=body
            ) as response:
                raw = await response.read()
                body = loads(raw) if raw else None
                kept = {
                    name: response.headers[name]
                    for name in FORWARDED_HEADERS
                    if name in response.headers
                }
                return Reply(response.status, body, kept)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            raise PeerUnreachable(base_url, str(exc) or type(exc).__name__) from exc

    async def close(self) -> None:
        """Close the connections to the peers."""
        if self._session is not None:
            await self._session.close()
            self._session = None


def _normal(url: str) -> str:
    return url.rstrip("/")
