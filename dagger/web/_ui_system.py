"""The dashboard's templates and workers pages.

A template's graph is drawn from a *preview*: the instance its template would build,
made in memory the way ``create_instance`` makes one, and never sent. The workers page
shows every worker of the group with the engine-topic partitions it owns (each other
worker asked for its ``GET /service/worker``) and the consumer group's lag on the engine
and listener topics.
"""

from __future__ import annotations

import random
from typing import Any

from aiohttp import web

from dagger.ops import BrokerUnavailableError, consumer_lag
from dagger.web._documents import instance_document
from dagger.web._engine_view import EngineView
from dagger.web._errors import ApiError
from dagger.web._instances import Caller, InstancesApi
from dagger.web._ui_graph import graph_of
from dagger.web._ui_render import render

PREVIEW_ID = "preview"


class SystemPages:
    """Handlers of the templates and workers pages."""

    def __init__(self, engine: EngineView, instances: InstancesApi, caller: Caller) -> None:
        self._engine = engine
        self._instances = instances
        self._caller = caller

    async def templates(self, request: web.Request) -> web.StreamResponse:
        """Every registered template, with its processes."""
        names = sorted(self._engine.template_dags)
        return render(request, "templates.html", {"names": names})

    async def template(self, request: web.Request) -> web.StreamResponse:
        """One template's graph, from a preview instance."""
        name = request.match_info["template"]
        template = self._engine.template_dags.get(name)
        if template is None:
            raise ApiError(404, f"no template named {name[:80]!r}")
        try:
            document = await preview(template)
            problem = ""
        except Exception as exc:  # a user's builder may need parameters we cannot give
            document = {"tasks": {}}
            problem = f"{type(exc).__name__}: {exc}"
        graph = graph_of(document.get("tasks") or {})
        context = {"name": name, "graph": graph, "problem": problem}
        return render(request, "template.html", context)

    async def workers(self, request: web.Request) -> web.StreamResponse:
        """Every worker of the group with its partitions, and the consumer lag."""
        settings = self._engine.settings
        app = self._engine.faust_app
        own_url = str(app.conf.canonical_url).rstrip("/")
        own = self._instances.worker(own_url, settings.tasks_topic).body
        peers = await self._instances.peer_workers(self._caller)
        try:
            lag = await consumer_lag(
                settings.bootstrap_servers, str(app.conf.id), subscribed_topics(app), timeout=5.0
            )
            lag_problem = ""
        except BrokerUnavailableError as exc:
            lag, lag_problem = [], str(exc)
        context = {
            "workers": [{**own, "own": True}, *sorted(peers, key=lambda peer: peer["url"])],
            "tasks_topic": settings.tasks_topic,
            "group": str(app.conf.id),
            "lag": lag,
            "lag_problem": lag_problem,
        }
        return render(request, "workers.html", context)


def subscribed_topics(app: Any) -> list[str]:
    """The topics the faust app's agents read: the engine's and the listeners' topics."""
    names = {str(name) for channel in app.topics for name in getattr(channel, "topics", ())}
    return sorted(names)


async def preview(template: Any) -> dict[str, Any]:
    """The document of the instance ``template`` builds, made in memory and never sent.

    It follows what ``create_instance`` does before it sends: the root, then the root
    process and everything after it, with ids from a fixed seed.
    """
    instance = template.template_type(
        id=PREVIEW_ID,
        task_name=template.name,
        template_name=template.name,
        root_id=PREVIEW_ID,
        task_type="ROOT",
        runtime_parameters={},
        partition_key_lookup="",
    )
    process = await template.root_process_dag.create_instance(
        "preview-root",
        PREVIEW_ID,
        template.name,
        "",
        repartition=False,
        seed=random.Random(0),
        workflow_instance=instance,
    )
    instance.root_dag = process.id
    return instance_document(instance)
