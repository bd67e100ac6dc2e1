"""The instance endpoints, apart from HTTP: list, show, stop, retry and rerun, across workers.

Each request is answered from this worker's partitions and, unless it came from a peer
(:data:`~dagger.web._peers.SCOPE_HEADER`), from every other worker's: a list merges their
pages in the listing order; show, stop, retry and rerun take the answer of the worker that
owns the instance (the others say 404). Stop, retry and rerun are events sent to the
instance's owner partition by the worker that holds it, so they are applied like any
other event.
A peer that cannot be asked makes the answer 503: a 404 or a short list would be wrong.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from dagger.core import _flow as flow
from dagger.core import _rerun as rerun
from dagger.core import _retry as retry
from dagger.exceptions.exceptions import UndecodableInstanceError
from dagger.tasks._base import ITemplateDAGInstance
from dagger.web._documents import instance_document
from dagger.web._engine_view import InstanceControl
from dagger.web._errors import ApiError, Reply
from dagger.web._local import LocalInstances
from dagger.web._peers import STATUS_COUNTS_HEADER, PeerClient, PeerDirectory, PeerUnreachable
from dagger.web._query import MAX_LIMIT, MAX_WINDOW, check_id, encode_cursor, parse_list_query
from dagger.web._rerun_request import parse_rerun

NOT_READY = (
    "this worker is not ready: it is joining its group or recovering its state; "
    "try again in a few seconds"
)


@dataclass(frozen=True)
class Caller:
    """Who asks: a peer wants this worker's own answer; the token goes on to the peers."""

    local_only: bool = False
    authorization: str | None = None


class InstancesApi:
    """Answers the instance endpoints for one worker."""

    def __init__(
        self,
        engine: InstanceControl,
        local: LocalInstances,
        peers: PeerDirectory,
        client: PeerClient,
        *,
        deletes_on_complete: bool = False,
    ) -> None:
        self._engine = engine
        self._deletes_on_complete = deletes_on_complete
        self._local = local
        self._peers = peers
        self._client = client

    def worker(self, url: str, topic: str) -> Reply:
        """This worker: its URL, readiness and the partitions of ``topic`` it owns."""
        view = self._local.view
        return Reply(
            200,
            {
                "url": url,
                "ready": view.is_ready(),
                "topic": topic,
                "partitions": sorted(view.owned_partitions()),
            },
        )

    async def peer_workers(self, caller: Caller) -> list[dict[str, Any]]:
        """Each other worker's ``GET /service/worker``, or why it did not answer."""
        urls = self._peers.urls()
        results = await asyncio.gather(
            *(
                self._client.request(url, "GET", "/service/worker", None, caller.authorization)
                for url in urls
            ),
            return_exceptions=True,
        )
        workers: list[dict[str, Any]] = []
        for url, result in zip(urls, results, strict=True):
            if isinstance(result, Reply) and result.status == 200:
                workers.append(dict(result.body))
            elif isinstance(result, Reply):
                workers.append({"url": url, "error": str(_peer_failed(url, result))})
            elif isinstance(result, Exception):
                workers.append({"url": url, "error": str(result)})
            else:
                raise result
        return workers

    def ready(self) -> Reply:
        """``{"is_ready": bool}``: 200 when ready, 503 while not."""
        is_ready = self._local.view.is_ready()
        return Reply(200 if is_ready else 503, {"is_ready": is_ready})

    async def page(self, params: Mapping[str, str], caller: Caller) -> Reply:
        """A page of instance documents, with X-Total-Count and, if more follow, a cursor."""
        query = parse_list_query(
            params, max_limit=MAX_WINDOW + 1 if caller.local_only else MAX_LIMIT
        )
        self._require_ready()
        if caller.local_only:
            window = await self._local.window(query)
            page = window.documents[query.offset : query.window]
            return Reply(200, page, _count_headers(window.total, window.counts))
        widened = query.widened()
        local, answers = await asyncio.gather(
            self._local.window(widened),
            self._ask_peers("GET", "/tasks/instances", caller, widened.params()),
        )
        documents = list(local.documents)
        total = local.total
        counts = Counter(local.counts)
        for url, answer in answers:
            if answer.status != 200 or not isinstance(answer.body, list):
                raise _peer_failed(url, answer)
            documents.extend(answer.body)
            total += int(answer.headers.get("X-Total-Count", "0"))
            counts.update(status_counts(answer.headers.get(STATUS_COUNTS_HEADER)))
        documents.sort(key=query.key_of)
        page = documents[query.offset : query.window]
        headers = _count_headers(total, counts)
        if len(documents) > query.window:
            cursor = encode_cursor(query.key_of(page[-1]))
            headers["X-Next-Cursor"] = cursor
            following = {**widened.params(), "limit": str(query.limit), "cursor": cursor}
            following.pop("offset", None)
            headers["Link"] = f'</tasks/instances?{urlencode(following)}>; rel="next"'
        return Reply(200, page, headers)

    async def show(self, instance_id: str, caller: Caller) -> Reply:
        """One instance document, from whichever worker owns it; 404 if none does."""
        check_id(instance_id)
        self._require_ready()
        instance = self._load("show", instance_id)
        if instance is not None:
            return Reply(200, instance_document(instance))
        path = f"/tasks/instance/{quote(instance_id)}"
        return await self._owner_answer("GET", path, instance_id, caller)

    async def stop(self, instance_id: str, caller: Caller) -> Reply:
        """Ask the owner to stop the instance: 202, or 409 when it has finished."""
        check_id(instance_id)
        self._require_ready()
        instance = self._load("stop", instance_id)
        if instance is None:
            path = f"/tasks/instance/{quote(instance_id)}/stop"
            return await self._owner_answer("POST", path, instance_id, caller)
        if not flow.can_stop(instance, instance.id):
            raise ApiError(
                409,
                f"instance {instance.id} is {instance.status.code}: it has finished, so there "
                "is nothing to stop",
            )
        await self._engine.stop_instance(instance)
        return Reply(202, _accepted("stop", instance))

    async def retry(self, instance_id: str, caller: Caller) -> Reply:
        """Ask the owner to retry a FAILURE instance: 202, or 409 with why it cannot."""
        check_id(instance_id)
        self._require_ready()
        instance = self._load("retry", instance_id)
        if instance is None:
            path = f"/tasks/instance/{quote(instance_id)}/retry"
            return await self._owner_answer("POST", path, instance_id, caller)
        refused = retry.refusal(instance)
        if refused is not None:
            raise ApiError(409, refused)
        await self._engine.retry_instance(instance)
        return Reply(202, _accepted("retry", instance))

    async def rerun(self, instance_id: str, body: bytes, caller: Caller) -> Reply:
        """Ask the owner to rerun a finished instance from a node: 202, or 409 with why not.

        The body is ``{"from": node, "parameters"?: {...}}`` (:mod:`._rerun_request`).
        """
        check_id(instance_id)
        request = parse_rerun(body)
        self._require_ready()
        instance = self._load("rerun", instance_id)
        if instance is None:
            path = f"/tasks/instance/{quote(instance_id)}/rerun"
            try:
                return await self._owner_answer(
                    "POST", path, instance_id, caller, body=request.body()
                )
            except ApiError as exc:
                if exc.status == 404 and self._deletes_on_complete and not caller.local_only:
                    raise ApiError(
                        404,
                        f"{exc.message}; this engine runs with delete_workflow_on_complete=True, "
                        "so an instance that completed was removed and cannot be rerun",
                    ) from None
                raise
        refused = rerun.refusal(instance, request.node, request.parameters)
        if refused is not None:
            raise ApiError(409, refused)
        await self._engine.rerun_instance(instance, request.node, request.parameters)
        accepted = _accepted("rerun", instance)
        accepted["from"] = request.node
        return Reply(202, accepted)

    def _load(self, action: str, instance_id: str) -> ITemplateDAGInstance[Any, Any] | None:
        """This worker's instance ``instance_id``; ApiError 422 if it cannot be decoded."""
        try:
            return self._local.load(instance_id)
        except UndecodableInstanceError as exc:
            raise ApiError(422, undecodable_refusal(action, exc)) from exc

    def _require_ready(self) -> None:
        if not self._local.view.is_ready():
            raise ApiError(503, NOT_READY)

    async def _owner_answer(
        self, method: str, path: str, instance_id: str, caller: Caller, body: Any = None
    ) -> Reply:
        """The answer of the peer that owns the instance; 404 when no worker does."""
        if caller.local_only:
            raise ApiError(404, f"no instance {instance_id} on this worker")
        answers = await self._ask_peers(method, path, caller, body=body)
        for _, answer in answers:
            if answer.status != 404:
                return answer
        asked = len(answers) + 1
        raise ApiError(
            404, f"no instance with id {instance_id} (asked {asked} worker{'s' * (asked > 1)})"
        )

    async def ask_peers(
        self, method: str, path: str, caller: Caller, body: Any = None
    ) -> list[tuple[str, Reply]]:
        """Every other worker's answer to ``method path`` (503 if one cannot be reached)."""
        return await self._ask_peers(method, path, caller, body=body)

    async def _ask_peers(
        self,
        method: str,
        path: str,
        caller: Caller,
        params: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> list[tuple[str, Reply]]:
        urls = self._peers.urls()
        results = await asyncio.gather(
            *(
                self._client.request(url, method, path, params, caller.authorization, body)
                for url in urls
            ),
            return_exceptions=True,
        )
        answers: list[tuple[str, Reply]] = []
        for url, result in zip(urls, results, strict=True):
            if isinstance(result, PeerUnreachable):
                raise ApiError(503, f"{result}; the answer would be incomplete, try again")
            if isinstance(result, BaseException):
                raise result
            if result.status >= 500 or result.status in (401, 403):
                raise _peer_failed(url, result)
            answers.append((url, result))
        return answers


def _count_headers(total: int, counts: Mapping[str, int]) -> dict[str, str]:
    return {
        "X-Total-Count": str(total),
        STATUS_COUNTS_HEADER: json.dumps(dict(sorted(counts.items())), separators=(",", ":")),
    }


def status_counts(header: str | None) -> dict[str, int]:
    """The per-status counts of a listing's header; none when it has none."""
    if not header:
        return {}
    try:
        counts = json.loads(header)
    except ValueError:
        return {}
    if not isinstance(counts, dict):
        return {}
    return {str(name): int(count) for name, count in counts.items() if isinstance(count, int)}


def undecodable_refusal(action: str, error: UndecodableInstanceError) -> str:
    """Why ``action`` cannot be done to an undecodable instance, and how to fix it."""
    return (
        f"cannot {action} instance {error.instance_id}: {error}. Its events go to the dead "
        "letters as undecodable_instance; once the class is back or aliased "
        "(docs/versioning.md), restart the workers and reinject them with dagger dlq"
    )


def _peer_failed(url: str, answer: Reply) -> ApiError:
    detail = answer.body.get("error") if isinstance(answer.body, dict) else None
    status = 503 if answer.status >= 500 else 502
    return ApiError(
        status, f"worker {url} answered {answer.status}: {detail or 'no error message'}"
    )


def _accepted(action: str, instance: ITemplateDAGInstance[Any, Any]) -> dict[str, Any]:
    return {
        "id": instance.id,
        "action": action,
        "accepted": True,
        "status": instance.status.code,
        "lastupdated": instance.lastupdated,
        "message": f"{action} requested; the instance's owner applies it",
    }
