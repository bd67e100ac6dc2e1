"""An in-process API server on 127.0.0.1 (a free port) over a LocalEngine, for the web tests.

The server is faust's aiohttp web server with the API installed, as a worker runs it;
the instances come from a :class:`dagger.testing.LocalEngine`, so a stop or retry sent
through the API is applied at once. Nothing here talks to Kafka.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Mapping
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from faust.web.drivers.aiohttp import Web as AiohttpWeb

from dagger.runtime._listing_index import ListingIndex
from dagger.service.services import Dagger
from dagger.tasks.task import ExecutorTask, ITemplateDAGInstance
from dagger.templates.template import ITemplateDAG
from dagger.web._dead_letter_endpoints import DeadLetterAdmin
from dagger.web._local import WorkerView
from dagger.web._peers import PeerDirectory
from dagger.web._server import WebApi
from tests.unit._control_flow_workflows import process, step, wait, workflow

PARTITIONS = 4
"""Partitions of the engine topic the shared web test engine has."""


def free_port() -> int:
    """A port nothing listens on (bound and released on 127.0.0.1)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


OUTAGE: set[str] = set()
"""Names of the tasks whose service is down: they raise."""


class CallsService(ExecutorTask[str, Any]):
    """Raises while its name is in OUTAGE; appends its name to ``ran`` otherwise."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None = None,
    ) -> None:
        if self.task_name in OUTAGE:
            raise ConnectionError(f"{self.task_name}: service unavailable")
        runtime_parameters.setdefault("ran", []).append(self.task_name)


def orders(engine: Dagger, name: str = "orders") -> ITemplateDAG:
    """reserve -> charge, then ship: completes at once unless OUTAGE says otherwise."""

    def calls(task: str, *after: Any) -> Any:
        return step(engine, task, *after, task_type=CallsService)

    return workflow(
        engine,
        process(engine, "payment", calls("reserve", calls("charge"))),
        process(engine, "shipping", calls("ship")),
        name=name,
    )


def waiting(engine: Dagger, topic: str, name: str = "waiting") -> ITemplateDAG:
    """prepare, then a listener on ``topic``: stays EXECUTING until a message comes."""
    return workflow(
        engine,
        process(engine, "P", step(engine, "prepare", wait(engine, "reply", topic))),
        name=name,
    )


class SplitView:
    """A worker that owns only ``owned`` of the partitions of a shared store; its listing
    index is ``index`` (None: it scans the store)."""

    def __init__(
        self,
        store: Mapping[bytes, bytes],
        owned: Iterable[int],
        index: ListingIndex | None = None,
        ready: bool = True,
    ) -> None:
        self._store = store
        self.owned = frozenset(owned)
        self.index = index
        self.ready = ready
        self.generation = 0

    def store(self) -> Mapping[bytes, bytes]:
        return self._store

    def owned_partitions(self) -> frozenset[int]:
        return self.owned

    def is_ready(self) -> bool:
        return self.ready

    def listing_index(self) -> ListingIndex | None:
        return self.index

    def ownership_generation(self) -> int:
        return self.generation


class Answer:
    """A response: status, decoded JSON body, headers."""

    def __init__(self, status: int, body: Any, headers: Mapping[str, str]) -> None:
        self.status = status
        self.body = body
        self.headers = headers


class ApiServer:
    """An engine's API served on 127.0.0.1 on a free port, stopped on exit."""

    def __init__(
        self,
        engine: Dagger,
        *,
        token: str | None = None,
        view: WorkerView | None = None,
        peers: PeerDirectory | None = None,
        dead_letters: DeadLetterAdmin | None = None,
    ) -> None:
        self.web = AiohttpWeb(engine.faust_app)
        self.api = WebApi(engine, view=view, peers=peers, dead_letters=dead_letters, token=token)
        self.api.install(self.web)
        self.server = TestServer(self.web.web_app, host="127.0.0.1")
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    async def __aenter__(self) -> ApiServer:
        await self.server.start_server()
        self._session = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
        await self.server.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> Answer:
        assert self._session is not None
        async with self._session.request(
            method, self.url + path, params=params, headers=headers, json=json
        ) as response:
            assert response.content_type == "application/json", await response.text()
            return Answer(response.status, await response.json(), response.headers)

    async def get(self, path: str, **kwargs: Any) -> Answer:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> Answer:
        return await self.request("POST", path, **kwargs)
