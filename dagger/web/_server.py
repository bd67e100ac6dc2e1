"""The worker's HTTP API on faust's web server: its views, bearer-token check and JSON errors.

The dashboard (:mod:`dagger.web._ui`) is installed beside it, under ``/ui/``.

The routes are faust views, added to faust's aiohttp web server as it starts. An aiohttp
middleware in front of every route (faust's own pages included) checks the bearer token,
when one is configured, on everything but readiness, and turns any error into
``{"error": message, "status": code}``.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web as aiohttp_web
from faust.web import Request, Response, View

from dagger import __version__
from dagger.core._codec import dumps
from dagger.web import _docs_page, _ui_render
from dagger.web._dead_letter_endpoints import DeadLetterAdmin, DeadLettersApi
from dagger.web._engine_view import EngineView
from dagger.web._errors import ApiError, Reply
from dagger.web._instances import Caller, InstancesApi
from dagger.web._local import LocalInstances, WorkerView
from dagger.web._openapi import openapi_document
from dagger.web._peers import SCOPE_HEADER, AssignmentPeers, PeerClient, PeerDirectory
from dagger.web._releases import ReleasesApi
from dagger.web._starts import StartsApi
from dagger.web._ui import Dashboard
from dagger.web._workflows import WorkflowsApi

logger = logging.getLogger(__name__)

OPEN_PATHS = frozenset(
    {"/service/ready", "/service/ready/", _docs_page.DOCS_PATH, _ui_render.UI_PATH}
)
"""Paths answered without the bearer token: readiness (probes carry none), the docs page,
and the dashboard, which asks for the token on its login form (a session cookie)."""
_OPEN_PREFIXES = (_docs_page.DOCS_PATH + "/", _ui_render.UI_PATH + "/")
"""Paths under these are open too: the docs page's assets, which hold no data, and the
dashboard's pages, each checking its session cookie itself."""
_JSON = "application/json"


class WebApi:
    """The HTTP API one worker serves; :meth:`install` adds it to faust's web server.

    Args:
        engine: The engine whose instances are served.
        view: This worker's store and partitions (default: the engine's worker).
        peers: Where the other workers are (default: the engine's consumer group).
        dead_letters: What answers the dead-letter endpoints (default: none, 501).
        token: The bearer token required on everything but readiness (default: the
            engine's ``api_token`` setting; None: no token required).
    """

    def __init__(
        self,
        engine: EngineView,
        *,
        view: WorkerView | None = None,
        peers: PeerDirectory | None = None,
        dead_letters: DeadLetterAdmin | None = None,
        token: str | None = None,
    ) -> None:
        self.engine = engine
        self._client = PeerClient()
        self.instances = InstancesApi(
            engine,
            LocalInstances(view or engine.worker_view()),
            peers or AssignmentPeers(engine.faust_app),
            self._client,
            deletes_on_complete=engine.settings.delete_workflow_on_complete,
        )
        self.starts = StartsApi(engine, self.instances)
        self.workflows = WorkflowsApi(engine, self.starts)
        self.releases = ReleasesApi(engine, self.instances, view or engine.worker_view())
        self.dead_letters = DeadLettersApi(dead_letters)
        self.token = token if token is not None else engine.settings.api_token
        self.dashboard = Dashboard(engine, self.instances, self.dead_letters, self.token)

    def install(self, web: Any) -> None:
        """Add the routes and the middleware to faust's aiohttp web server, before it starts."""
        web_app: aiohttp_web.Application = web.web_app
        web_app.middlewares.append(self._middleware())
        web_app.on_cleanup.append(self._close)
        self.dashboard.install(web_app)
        for path, view in _views(self):
            view.view_name = f"dagger_api.{view.__name__}"
            view.view_path = path
            web.add_view(view)

    def openapi(self) -> Reply:
        """The OpenAPI document of this API."""
        return Reply(200, openapi_document(__version__, token_required=self.token is not None))

    async def _close(self, _: aiohttp_web.Application) -> None:
        await self._client.close()

    def _middleware(self) -> Any:
        @aiohttp_web.middleware
        async def guard(
            request: aiohttp_web.Request,
            handler: Callable[[aiohttp_web.Request], Awaitable[aiohttp_web.StreamResponse]],
        ) -> aiohttp_web.StreamResponse:
            if self.token is not None and not _is_open(request.path):
                refused = _check_token(request.headers.get("Authorization"), self.token)
                if refused is not None:
                    return _json_response(refused.reply())
            try:
                return await handler(request)
            except aiohttp_web.HTTPException as exc:
                if exc.status < 400:
                    raise
                message = f"{exc.reason}: {request.method} {request.path}"
                if exc.status == 404:
                    message += " (the endpoints are listed at GET /openapi.json)"
                headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else {}
                return _json_response(ApiError(exc.status, message, headers).reply())
            except Exception as exc:
                logger.exception("%s %s failed", request.method, request.path)
                message = f"internal error ({type(exc).__name__}); the worker's log has details"
                return _json_response(ApiError(500, message).reply())

        return guard


def _is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(_OPEN_PREFIXES)


def _check_token(header: str | None, token: str) -> ApiError | None:
    challenge = {"WWW-Authenticate": 'Bearer realm="dagger"'}
    if header is None or not header.startswith("Bearer "):
        return ApiError(
            401, "a bearer token is required: send 'Authorization: Bearer <token>'", challenge
        )
    given = header.removeprefix("Bearer ").strip().encode()
    if not hmac.compare_digest(given, token.encode()):
        return ApiError(401, "the bearer token is not valid", challenge)
    return None


def _json_response(reply: Reply) -> aiohttp_web.Response:
    return aiohttp_web.Response(
        body=dumps(reply.body), status=reply.status, headers=reply.headers, content_type=_JSON
    )


def _caller(request: Request) -> Caller:
    return Caller(
        local_only=request.headers.get(SCOPE_HEADER) == "local",
        authorization=request.headers.get("Authorization"),
    )


def _params(request: Request) -> dict[str, str]:
    query = request.query
    return {name: str(query[name]) for name in query}


async def _answer(view: View, pending: Awaitable[Reply] | Reply) -> Response:
    try:
        reply = pending if isinstance(pending, Reply) else await pending
    except ApiError as exc:
        reply = exc.reply()
    return view.bytes(
        dumps(reply.body), content_type=_JSON, status=reply.status, headers=reply.headers
    )


def _views(api: WebApi) -> list[tuple[str, type[View]]]:
    """The API's views, bound to ``api``, with their paths."""
    instances, letters = api.instances, api.dead_letters

    class Ready(View):
        """``{"is_ready": bool}``: true once partitions are assigned and state recovered."""

        async def get(self, request: Request) -> Response:
            return await _answer(self, instances.ready())

    class Worker(View):
        """This worker: its URL, readiness and the engine-topic partitions it owns."""

        async def get(self, request: Request) -> Response:
            url = str(api.engine.faust_app.conf.canonical_url).rstrip("/")
            return await _answer(self, instances.worker(url, api.engine.settings.tasks_topic))

    class OpenApi(View):
        """The OpenAPI document."""

        async def get(self, request: Request) -> Response:
            return await _answer(self, api.openapi())

    class Docs(View):
        """The Swagger UI page over the OpenAPI document."""

        async def get(self, request: Request) -> Response:
            return self.html(_docs_page.page())

    class DocsAsset(View):
        """A Swagger UI file the docs page loads."""

        async def get(self, request: Request, asset: str) -> Response:
            found = _docs_page.asset(asset)
            if found is None:
                return await _answer(self, ApiError(404, f"no such docs asset: {asset!r}").reply())
            return self.bytes(
                found.body,
                content_type=found.content_type,
                headers={"Cache-Control": "public, max-age=3600"},
            )

    class Instances(View):
        """A page of instances."""

        async def get(self, request: Request) -> Response:
            return await _answer(self, instances.page(_params(request), _caller(request)))

    class Instance(View):
        """One instance."""

        async def get(self, request: Request, instance_id: str) -> Response:
            return await _answer(self, instances.show(instance_id, _caller(request)))

    class Stop(View):
        """Stop an instance."""

        async def post(self, request: Request, instance_id: str) -> Response:
            return await _answer(self, instances.stop(instance_id, _caller(request)))

    class Retry(View):
        """Retry a FAILURE instance."""

        async def post(self, request: Request, instance_id: str) -> Response:
            return await _answer(self, instances.retry(instance_id, _caller(request)))

    class Rerun(View):
        """Rerun a finished instance from a node, with edited parameters."""

        async def post(self, request: Request, instance_id: str) -> Response:
            body = await request.read()
            return await _answer(self, instances.rerun(instance_id, body, _caller(request)))

    class StartInstance(View):
        """Start an instance of a template (201), or name the existing one (200)."""

        async def post(self, request: Request, template: str) -> Response:
            body = await request.read()
            return await _answer(self, api.starts.start(template, body, _caller(request)))

    class Workflows(View):
        """The declarative workflows."""

        async def get(self, request: Request) -> Response:
            return await _answer(self, api.workflows.list())

    class ExecuteWorkflow(View):
        """Start a declarative workflow (202 with the instance id)."""

        async def post(self, request: Request, name: str) -> Response:
            body = await request.read()
            return await _answer(self, api.workflows.execute(name, body, _caller(request)))

    class Releases(View):
        """The audit of a declarative workflow's releases; a manual release (202)."""

        async def get(self, request: Request, name: str) -> Response:
            return await _answer(self, api.releases.releases(name, _caller(request)))

        async def post(self, request: Request, name: str) -> Response:
            body = await request.read()
            return await _answer(self, api.releases.release(name, body, _caller(request)))

    class Schedules(View):
        """Every schedule and its next fire."""

        async def get(self, request: Request) -> Response:
            now = api.engine.settings.clock()
            return await _answer(self, api.releases.schedules(now, _caller(request)))

    class DeadLetterWriter(View):
        """A page of dead letters."""

        async def get(self, request: Request) -> Response:
            return await _answer(self, letters.page(_params(request)))

    class DeadLetter(View):
        """One dead letter: show it, or purge it."""

        async def get(self, request: Request, letter_id: str) -> Response:
            return await _answer(self, letters.show(letter_id))

        async def delete(self, request: Request, letter_id: str) -> Response:
            return await _answer(self, letters.purge(letter_id))

    class Reinject(View):
        """Reinject a dead letter into its original topic."""

        async def post(self, request: Request, letter_id: str) -> Response:
            return await _answer(self, letters.reinject(letter_id))

    return [
        ("/service/ready", Ready),
        ("/service/worker", Worker),
        ("/openapi.json", OpenApi),
        (_docs_page.DOCS_PATH, Docs),
        (_docs_page.DOCS_PATH + "/{asset}", DocsAsset),
        ("/tasks/instances", Instances),
        ("/tasks/instance/{instance_id}", Instance),
        ("/tasks/instance/{instance_id}/stop", Stop),
        ("/tasks/instance/{instance_id}/retry", Retry),
        ("/tasks/instance/{instance_id}/rerun", Rerun),
        ("/templates/{template}/instances", StartInstance),
        ("/workflows", Workflows),
        ("/workflows/{name}/execute", ExecuteWorkflow),
        ("/workflows/{name}/releases", Releases),
        ("/schedules", Schedules),
        ("/dead-letters", DeadLetterWriter),
        ("/dead-letters/{letter_id}", DeadLetter),
        ("/dead-letters/{letter_id}/reinject", Reinject),
    ]
