"""Bulk stop or retry of every instance a listing's filter matches, with its progress.

A bulk action is a job on the worker the browser asked: it pages through the listing
with the API's own query (every worker's instances, by cursor), then sends stop or retry
for each instance, one after the other, through the API's own calls (the owner applies
each). The page polls the job for its progress. Jobs live in this worker's memory; the
last :data:`KEPT_JOBS` are kept to be looked at.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dagger.web._errors import ApiError, Reply

ACTIONS = ("stop", "retry")
MAX_BULK = 10_000
"""The most instances one bulk action acts on."""
KEPT_JOBS = 20
_PAGE = 1000

Lister = Callable[[Mapping[str, str]], Awaitable[Reply]]
Act = Callable[[str], Awaitable[Reply]]


@dataclass
class BulkJob:
    """One bulk action's progress: how many were found, done, refused and failed."""

    id: str
    action: str
    found: int = 0
    done: int = 0
    refused: int = 0
    failed: int = 0
    listing: bool = True
    finished: bool = False
    errors: list[str] = field(default_factory=list)
    """The first few errors, for the page."""

    @property
    def handled(self) -> int:
        """Instances acted on so far, whatever the answer."""
        return self.done + self.refused + self.failed

    @property
    def percent(self) -> int:
        """How far the job is, 0 to 100."""
        if self.finished:
            return 100
        return int(100 * self.handled / self.found) if self.found else 0


class BulkJobs:
    """Starts bulk jobs and keeps the last few."""

    def __init__(self) -> None:
        self._jobs: dict[str, BulkJob] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def get(self, job_id: str) -> BulkJob | None:
        """The job ``job_id``, if it is still kept."""
        return self._jobs.get(job_id)

    def start(self, action: str, params: Mapping[str, str], lister: Lister, act: Act) -> BulkJob:
        """Start ``action`` on every instance the list ``params`` match; return its job."""
        if action not in ACTIONS:
            raise ApiError(400, f"unknown bulk action {action[:20]!r}; use stop or retry")
        job = BulkJob(secrets.token_hex(8), action)
        self._jobs[job.id] = job
        while len(self._jobs) > KEPT_JOBS:
            del self._jobs[next(iter(self._jobs))]
        task = asyncio.create_task(self._run(job, dict(params), lister, act))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    async def close(self) -> None:
        """Cancel the jobs still running (the worker stops)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(self, job: BulkJob, params: dict[str, str], lister: Lister, act: Act) -> None:
        try:
            ids = await _matching_ids(job, params, lister)
            job.listing = False
            for instance_id in ids:
                try:
                    await act(instance_id)
                    job.done += 1
                except ApiError as exc:
                    if exc.status in (404, 409):
                        job.refused += 1
                    else:
                        job.failed += 1
                        _note(job, f"{instance_id}: {exc.message}")
        except ApiError as exc:
            _note(job, exc.message)
        finally:
            job.listing = False
            job.finished = True


async def _matching_ids(job: BulkJob, params: dict[str, str], lister: Lister) -> list[str]:
    """Every matching instance's id, read page by page with the listing's cursor."""
    query = {**params, "limit": str(_PAGE)}
    query.pop("cursor", None)
    ids: list[str] = []
    while len(ids) < MAX_BULK:
        reply = await lister(query)
        if reply.status != 200:
            raise ApiError(reply.status, str((reply.body or {}).get("error")))
        ids.extend(str(document["id"]) for document in reply.body)
        job.found = min(len(ids), MAX_BULK)
        cursor = reply.headers.get("X-Next-Cursor")
        if not cursor:
            break
        query["cursor"] = cursor
    if len(ids) >= MAX_BULK:
        _note(job, f"only the first {MAX_BULK} matching instances are acted on")
    return ids[:MAX_BULK]


def _note(job: BulkJob, error: str) -> None:
    if len(job.errors) < 5:
        job.errors.append(error)


def summary(job: BulkJob) -> dict[str, Any]:
    """The job as the page shows it."""
    return {
        "id": job.id,
        "action": job.action,
        "found": job.found,
        "done": job.done,
        "refused": job.refused,
        "failed": job.failed,
        "handled": job.handled,
        "percent": job.percent,
        "listing": job.listing,
        "finished": job.finished,
        "errors": job.errors,
    }
