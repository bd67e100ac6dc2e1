"""The dashboard under ``/ui/``: server-rendered pages over the HTTP API's own calls.

Every page reads what the API serves, through the API's objects (:class:`InstancesApi`,
:class:`DeadLettersApi`), so any worker shows any instance by asking its peers as the
API does, and the listing's filters and paging are the API's. Pages are Jinja2
templates rendered with autoescape on: instances and messages are untrusted input.
htmx (vendored under ``/ui/static/``, no CDN) refreshes the listing, opens a task's panel
and polls a bulk action's progress.

Access (:mod:`dagger.web._ui_access`): with ``api_token`` set, a login form and an
HttpOnly session cookie; every form that changes something carries a CSRF token.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Mapping
from importlib import resources
from typing import Any
from urllib.parse import quote

from aiohttp import web

from dagger.web import _ui_access as access
from dagger.web import _ui_bulk as bulk
from dagger.web import _ui_views as views
from dagger.web._dead_letter_endpoints import DeadLettersApi
from dagger.web._engine_view import EngineView
from dagger.web._errors import ApiError, Reply
from dagger.web._instances import Caller, InstancesApi, status_counts
from dagger.web._peers import STATUS_COUNTS_HEADER
from dagger.web._query import check_id
from dagger.web._ui_graph import STATUS_COLOURS, Node, graph_of
from dagger.web._ui_letters import LetterPages
from dagger.web._ui_render import CSRF, UI_PATH, render
from dagger.web._ui_system import SystemPages

_STATIC_TYPES = {
    "htmx.min.js": "text/javascript",
    "dashboard.css": "text/css",
    "dashboard.js": "text/javascript",
}

SLOW_LISTING = 1.0
"""Seconds of listing past which the page starts with its auto-refresh paused: every
refresh scans every worker's instance table (docs/dashboard.md, "What a page costs")."""

NOTICES = {
    "stop": "stop requested: the instance's owner applies it",
    "retry": "retry requested: the instance goes on from its failed task",
    "rerun": "rerun requested: the task and what depends on it run again",
    "deliver": "message sent to the listener's topic",
}
"""What a page says after an action, by the code its address carries (never free text from
the address, which anyone can write into a link)."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Dashboard:
    """The dashboard of one worker; :meth:`install` adds its routes to faust's aiohttp app.

    Args:
        engine: The engine the API serves (its templates, settings and faust app).
        instances: The API's instance calls.
        dead_letters: The API's dead-letter calls.
        token: The API token (None: no login).
    """

    def __init__(
        self,
        engine: EngineView,
        instances: InstancesApi,
        dead_letters: DeadLettersApi,
        token: str | None,
    ) -> None:
        self._engine = engine
        self._instances = instances
        self.token = token
        self._caller = Caller(authorization=None if token is None else f"Bearer {token}")
        self._jobs = bulk.BulkJobs()
        self._letters = LetterPages(dead_letters)
        self._system = SystemPages(engine, instances, self._caller)

    def install(self, app: web.Application) -> None:
        """Add the dashboard's routes and its template environment to ``app``."""
        # Jinja2 is imported when a web server installs the dashboard, not whenever the
        # engine is imported (the CLI, a client that only sends): it costs ~0.2 s.
        import aiohttp_jinja2
        import jinja2

        environment = aiohttp_jinja2.setup(
            app,
            loader=jinja2.PackageLoader("dagger.web", "_ui_templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        environment.filters["time"] = views.format_time
        environment.filters["json"] = views.to_json
        environment.globals["quote"] = functools.partial(quote, safe="")
        environment.globals["colours"] = STATUS_COLOURS
        environment.globals["login_required"] = self.token is not None
        app.on_cleanup.append(self._close)
        routes: list[tuple[str, str, Handler, bool]] = [
            ("GET", "", self._to_root, False),
            ("GET", "/", self.instances_page, True),
            ("GET", "/instances/rows", self.instance_rows, True),
            ("GET", "/instance/{instance_id}", self.instance_page, True),
            ("GET", "/instance/{instance_id}/task/{task_id}", self.task_fragment, True),
            ("POST", "/instance/{instance_id}/stop", self.stop, True),
            ("POST", "/instance/{instance_id}/retry", self.retry, True),
            ("POST", "/instance/{instance_id}/rerun", self.rerun, True),
            ("POST", "/instance/{instance_id}/deliver", self.deliver, True),
            ("POST", "/bulk", self.start_bulk, True),
            ("GET", "/bulk/{job_id}", self.bulk_progress, True),
            ("GET", "/dead-letters", self._letters.inbox, True),
            ("GET", "/dead-letters/{letter_id}", self._letters.letter, True),
            ("POST", "/dead-letters/{letter_id}/reinject", self._letters.reinject, True),
            ("POST", "/dead-letters/{letter_id}/purge", self._letters.purge, True),
            ("GET", "/templates", self._system.templates, True),
            ("GET", "/templates/{template}", self._system.template, True),
            ("GET", "/workers", self._system.workers, True),
            ("GET", "/login", self.login_page, False),
            ("POST", "/login", self.login, False),
            ("POST", "/logout", self.logout, False),
            ("GET", "/static/{name}", self.static, False),
        ]
        for method, path, handler, guarded in routes:
            app.router.add_route(method, UI_PATH + path, self._wrap(handler, guarded))

    async def _close(self, _: web.Application) -> None:
        await self._jobs.close()

    # -- access ------------------------------------------------------------------------
    def _wrap(self, handler: Handler, guarded: bool) -> Handler:
        """Check the session (when guarded) and the CSRF token (on POST); render errors."""

        async def wrapped(request: web.Request) -> web.StreamResponse:
            if guarded and not self._signed_in(request):
                return _to_login(request)
            csrf = request.cookies.get(access.CSRF_COOKIE) or access.new_csrf()
            CSRF.set(csrf)
            try:
                if request.method == "POST":
                    await self._check_csrf(request)
                response = await handler(request)
            except ApiError as exc:
                response = render(request, "error.html", {"error": exc}, status=exc.status)
            if access.CSRF_COOKIE not in request.cookies:
                response.set_cookie(
                    access.CSRF_COOKIE, csrf, path=UI_PATH, samesite="Strict", httponly=True
                )
            return response

        return wrapped

    def _signed_in(self, request: web.Request) -> bool:
        if self.token is None:
            return True
        return access.session_valid(self.token, request.cookies.get(access.SESSION_COOKIE))

    async def _check_csrf(self, request: web.Request) -> None:
        sent = request.headers.get(access.CSRF_HEADER)
        if sent is None:
            form = await request.post()
            field = form.get(access.CSRF_FIELD)
            sent = field if isinstance(field, str) else None
        if not access.csrf_valid(request.cookies.get(access.CSRF_COOKIE), sent):
            raise ApiError(
                403,
                "this form's CSRF token is missing or stale: reload the page and try again",
            )

    async def login_page(self, request: web.Request) -> web.StreamResponse:
        """The login form; with no token configured there is nothing to log in to."""
        if self.token is None:
            raise web.HTTPSeeOther(UI_PATH + "/")
        return render(request, "login.html", {"next": _next_of(request), "failed": False})

    async def login(self, request: web.Request) -> web.StreamResponse:
        """Check the token; on success set the session cookie and go where the user was."""
        if self.token is None:
            raise web.HTTPSeeOther(UI_PATH + "/")
        form = await request.post()
        given = form.get("token")
        target = _next_of(request, form.get("next"))
        if not isinstance(given, str) or not access.token_matches(self.token, given):
            context = {"next": target, "failed": True}
            return render(request, "login.html", context, status=401)
        response = web.HTTPSeeOther(target)
        response.set_cookie(
            access.SESSION_COOKIE,
            access.new_session(self.token),
            path=UI_PATH,
            httponly=True,
            samesite="Strict",
            secure=request.secure,
            max_age=access.SESSION_SECONDS,
        )
        raise response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        """Forget the session cookie."""
        response = web.HTTPSeeOther(UI_PATH + "/login")
        response.del_cookie(access.SESSION_COOKIE, path=UI_PATH)
        raise response

    async def static(self, request: web.Request) -> web.StreamResponse:
        """A vendored asset: htmx, the stylesheet, the page script."""
        name = request.match_info["name"]
        content_type = _STATIC_TYPES.get(name)
        if content_type is None:
            raise ApiError(404, f"no such dashboard asset: {name[:80]!r}")
        return web.Response(
            body=_static(name),
            content_type=content_type,
            headers={"Cache-Control": "public, max-age=3600"},
        )

    async def _to_root(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(UI_PATH + "/")

    # -- instances ---------------------------------------------------------------------
    async def instances_page(self, request: web.Request) -> web.StreamResponse:
        """The listing with its filters, counts, paging and auto-refresh."""
        return render(request, "instances.html", await self._listing(request))

    async def instance_rows(self, request: web.Request) -> web.StreamResponse:
        """The listing's table alone, for the auto-refresh."""
        return render(request, "_instance_rows.html", await self._listing(request))

    async def _listing(self, request: web.Request) -> dict[str, Any]:
        form = views.ListForm.parse(_single(request.query), request.query.getall("status", []))
        started = time.monotonic()
        reply = _ok(await self._instances.page(form.api_params(), self._caller))
        took = time.monotonic() - started
        documents = list(reply.body)
        total = int(reply.headers.get("X-Total-Count", "0"))
        if form.q and not form.cursor:
            found = await self._by_id(form.q)
            if found is not None and all(doc.get("id") != found.get("id") for doc in documents):
                documents.insert(0, found)
                total += 1
        counts = status_counts(reply.headers.get(STATUS_COUNTS_HEADER))
        cursor = reply.headers.get("X-Next-Cursor")
        return {
            "form": form,
            "rows": [views.summary(document) for document in documents],
            "total": total,
            "counts": counts,
            "count_total": sum(counts.values()),
            "statuses": views.STATUSES,
            "templates": sorted(self._engine.template_dags),
            "page_sizes": views.PAGE_SIZES,
            "next_link": form.link(cursor=cursor, page=str(form.page + 1)) if cursor else None,
            "first_link": form.link() if form.cursor else None,
            "took": took,
            "slow": took > SLOW_LISTING,
        }

    async def _by_id(self, text: str) -> dict[str, Any] | None:
        try:
            check_id(text)
            reply = await self._instances.show(text, self._caller)
        except ApiError:
            return None
        return dict(reply.body) if reply.status == 200 else None

    async def _document(self, instance_id: str) -> dict[str, Any]:
        return dict(_ok(await self._instances.show(instance_id, self._caller)).body)

    async def instance_page(self, request: web.Request) -> web.StreamResponse:
        """One instance: header, graph, task panel, timeline, parameters, actions."""
        document = await self._document(request.match_info["instance_id"])
        chosen = request.query.get("task") or views.default_task(document)
        panel = None
        if chosen is not None and chosen in (document.get("tasks") or {}):
            panel = views.task_panel(document, chosen)
        status = (document.get("status") or {}).get("code")
        base = f"{UI_PATH}/instance/{quote(str(document.get('id')), safe='')}"

        def task_link(node: Node, fragment: bool = False) -> str:
            task = quote(node.id, safe="")
            return f"{base}/task/{task}" if fragment else f"{base}?task={task}"

        context = {
            "task_link": task_link,
            "doc": document,
            "status": status,
            "partition_key": views.partition_key_of(document),
            "error": views.error_of(document),
            "graph": graph_of(document.get("tasks") or {}, document.get("waiting_for") or []),
            "panel": panel,
            "gantt": views.gantt(document),
            "waits": [w for w in document.get("waiting_for") or [] if w.get("kind") == "message"],
            "can_stop": status not in views.TERMINAL,
            "can_retry": status == "FAILURE",
            "notice": NOTICES.get(request.query.get("done", ""), ""),
        }
        return render(request, "instance.html", context)

    async def task_fragment(self, request: web.Request) -> web.StreamResponse:
        """The task panel of one task, for htmx to swap in."""
        document = await self._document(request.match_info["instance_id"])
        panel = views.task_panel(document, request.match_info["task_id"])
        return render(request, "_task_panel.html", {"doc": document, "panel": panel})

    async def stop(self, request: web.Request) -> web.StreamResponse:
        """Stop the instance (the API's stop), then show it."""
        instance_id = request.match_info["instance_id"]
        await self._instances.stop(instance_id, self._caller)
        raise _back_to(instance_id, "stop")

    async def retry(self, request: web.Request) -> web.StreamResponse:
        """Retry the instance from its failed task (the API's retry), then show it."""
        instance_id = request.match_info["instance_id"]
        await self._instances.retry(instance_id, self._caller)
        raise _back_to(instance_id, "retry")

    async def rerun(self, request: web.Request) -> web.StreamResponse:
        """Rerun the instance from the panel's task (the API's rerun), then show it."""
        instance_id = request.match_info["instance_id"]
        form = await request.post()
        body = views.rerun_body(str(form.get("from", "")), str(form.get("parameters", "")))
        await self._instances.rerun(instance_id, body, self._caller)
        raise _back_to(instance_id, "rerun")

    async def deliver(self, request: web.Request) -> web.StreamResponse:
        """Send a message a listener of the instance waits for to the listener's topic."""
        instance_id = request.match_info["instance_id"]
        document = await self._document(instance_id)
        form = await request.post()
        task_id = str(form.get("task_id", ""))
        wait = next(
            (
                wait
                for wait in document.get("waiting_for") or []
                if wait.get("kind") == "message" and wait.get("task_id") == task_id
            ),
            None,
        )
        if wait is None:
            raise ApiError(409, f"task {task_id[:80]!r} of {instance_id} waits for no message")
        key = str(form.get("key", "")).encode()
        value = str(form.get("value", "")).encode()
        await self._engine.faust_app.producer.send_and_wait(
            str(wait["topic"]), key or None, value, None, None, None
        )
        raise _back_to(instance_id, "deliver")

    async def start_bulk(self, request: web.Request) -> web.StreamResponse:
        """Start a bulk stop or retry of the listing's current filter."""
        form = await request.post()
        action = str(form.get("action", ""))
        filters = {
            name: str(value)
            for name, value in form.items()
            if name in ("template", "q", *views.TIME_FIELDS)
        }
        listing = views.ListForm.parse(filters, [str(v) for v in form.getall("status", [])])
        # The default order, (owner partition, id), visits every match exactly once even
        # while instances change; newest-update-first could miss one updated meanwhile.
        params = {k: v for k, v in listing.api_params().items() if k not in ("cursor", "order")}
        act = self._instances.stop if action == "stop" else self._instances.retry

        async def lister(query: Mapping[str, str]) -> Reply:
            return await self._instances.page(query, self._caller)

        job = self._jobs.start(
            action, params, lister, lambda instance_id: act(instance_id, self._caller)
        )
        return render(request, "_bulk.html", {"job": bulk.summary(job)})

    async def bulk_progress(self, request: web.Request) -> web.StreamResponse:
        """A bulk job's progress, polled by the page while it runs."""
        job = self._jobs.get(request.match_info["job_id"])
        if job is None:
            raise ApiError(404, "no such bulk action on this worker (it may have been forgotten)")
        return render(request, "_bulk.html", {"job": bulk.summary(job)})


def _ok(reply: Reply) -> Reply:
    """The reply when it is a success; its error as ApiError otherwise."""
    if reply.status >= 400:
        body = reply.body if isinstance(reply.body, Mapping) else {}
        raise ApiError(reply.status, str(body.get("error") or f"answered {reply.status}"))
    return reply


def _single(query: Mapping[str, str]) -> dict[str, str]:
    return {name: str(query[name]) for name in query if name != "status"}


def _back_to(instance_id: str, done: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"{UI_PATH}/instance/{quote(instance_id, safe='')}?done={done}")


def _next_of(request: web.Request, given: Any = None) -> str:
    """Where to go after login: a dashboard path only (no open redirect)."""
    target = given if isinstance(given, str) else request.query.get("next", "")
    if target.startswith(UI_PATH + "/") and not target.startswith("//"):
        return target
    return UI_PATH + "/"


def _to_login(request: web.Request) -> web.StreamResponse:
    """Send a request without a session to the login form (htmx: through HX-Redirect)."""
    target = UI_PATH + "/login"
    if request.method == "GET":
        target += "?next=" + quote(request.path_qs, safe="")
    if request.headers.get("HX-Request"):
        return web.Response(status=401, headers={"HX-Redirect": target})
    return web.Response(status=303, headers={"Location": target})


@functools.lru_cache(maxsize=len(_STATIC_TYPES))
def _static(name: str) -> bytes:
    return resources.files("dagger.web").joinpath("_ui_static").joinpath(name).read_bytes()
