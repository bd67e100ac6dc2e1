"""What the dashboard's pages show, computed from the API's documents: no I/O here.

The listing's form (:class:`ListForm`) turns the page's query into the API's list
parameters; the rest shapes an instance document for its page: the header, the task
panel, the Gantt timeline of task spans.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from dagger.tasks._status import TaskStatusEnum
from dagger.web._errors import ApiError

STATUSES = [status.name for status in TaskStatusEnum]
TERMINAL = frozenset({"COMPLETED", "FAILURE", "SKIPPED", "STOPPED"})
PAGE_SIZES = (10, 25, 50, 100)
DEFAULT_PAGE_SIZE = 25
TIME_FIELDS = ("created_after", "created_before", "updated_after", "updated_before")
_FORM_FIELDS = ("status", "template", "q", "limit", "cursor", "page", *TIME_FIELDS)
GANTT_WIDTH = 720
_TASK_SHOWN = frozenset(
    {
        "id",
        "task_name",
        "status",
        "time_created",
        "time_submitted",
        "time_completed",
        "lastupdated",
        "error_type",
        "error_message",
        "error_traceback",
        "attempts",
        "parameter_changes",
    }
)
"""Task fields the panel shows in their own place; the others are listed as its fields."""


def format_time(value: Any) -> str:
    """Epoch seconds as ``YYYY-MM-DD HH:MM:SS`` UTC; a dash when unset."""
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        return "-"
    return datetime.fromtimestamp(value, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def to_json(value: Any) -> str:
    """Pretty JSON for a ``<pre>``; Jinja escapes it when it is rendered."""
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def _epoch(name: str, text: str) -> float:
    """A ``datetime-local`` field (``YYYY-MM-DDTHH:MM``, taken as UTC) in epoch seconds."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ApiError(400, f"{name} must be a date and time like 2025-01-31T13:45") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


@dataclass
class ListForm:
    """The listing's filters and page, as the page's query string gives them."""

    statuses: list[str] = field(default_factory=list)
    template: str = ""
    q: str = ""
    limit: int = DEFAULT_PAGE_SIZE
    cursor: str = ""
    page: int = 1
    times: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, query: Mapping[str, str], statuses: list[str]) -> ListForm:
        """Read the form; ApiError 400 for a value the API would refuse too."""
        wrong = sorted(set(query) - set(_FORM_FIELDS))
        if wrong:
            raise ApiError(400, f"unknown parameter(s) {', '.join(wrong)}")
        chosen = [name.strip().upper() for raw in statuses for name in raw.split(",")]
        limit_text = query.get("limit") or str(DEFAULT_PAGE_SIZE)
        page_text = query.get("page") or "1"
        if not limit_text.isdigit() or int(limit_text) not in PAGE_SIZES:
            raise ApiError(400, f"limit must be one of {', '.join(map(str, PAGE_SIZES))}")
        if not page_text.isdigit() or int(page_text) < 1:
            raise ApiError(400, "page must be a number from 1")
        times = {name: query[name] for name in TIME_FIELDS if query.get(name)}
        for name, text in times.items():
            _epoch(name, text)
        return cls(
            statuses=[name for name in chosen if name],
            template=query.get("template", "").strip(),
            q=query.get("q", "").strip(),
            limit=int(limit_text),
            cursor=query.get("cursor", ""),
            page=int(page_text),
            times=times,
        )

    def api_params(self) -> dict[str, str]:
        """The ``GET /tasks/instances`` parameters of this page, newest update first."""
        params = {"order": "updated", "limit": str(self.limit)}
        if self.statuses:
            params["status"] = ",".join(self.statuses)
        if self.template:
            params["template"] = self.template
        if self.q:
            params["partition_key"] = self.q
        if self.cursor:
            params["cursor"] = self.cursor
        for name, text in self.times.items():
            params[name] = repr(_epoch(name, text))
        return params

    def filters(self) -> dict[str, str]:
        """The filters alone (no page), as the query string of a link."""
        params: dict[str, str] = {}
        if self.statuses:
            params["status"] = ",".join(self.statuses)
        if self.template:
            params["template"] = self.template
        if self.q:
            params["q"] = self.q
        params.update(self.times)
        if self.limit != DEFAULT_PAGE_SIZE:
            params["limit"] = str(self.limit)
        return params

    def link(self, **changes: str) -> str:
        """This form's query string with ``changes`` (an empty value drops the parameter)."""
        params = {**self.filters(), **changes}
        return urlencode({name: value for name, value in params.items() if value})

    def with_status(self, status: str) -> str:
        """The query string that shows only ``status`` with the other filters kept."""
        return self.link(status=status)


def summary(document: Mapping[str, Any]) -> dict[str, Any]:
    """A listing row of an instance document."""
    status = document.get("status") or {}
    waits = document.get("waiting_for") or []
    return {
        "id": document.get("id"),
        "template": document.get("template_name"),
        "status": status.get("code") if isinstance(status, Mapping) else status,
        "created": format_time(document.get("time_created")),
        "updated": format_time(document.get("lastupdated")),
        "partition": document.get("owner_partition"),
        "partition_key": partition_key_of(document),
        "waiting": ", ".join(
            f"{wait.get('topic')} {wait.get('key')}={wait.get('value')}"
            if wait.get("kind") == "message"
            else f"timer {format_time(wait.get('due'))}"
            for wait in waits
        ),
        "undecodable": bool(document.get("undecodable")),
    }


def partition_key_of(document: Mapping[str, Any]) -> str:
    """The instance's partition-key value: a runtime parameter's, or its id."""
    lookup = document.get("partition_key_lookup")
    parameters = document.get("runtime_parameters") or {}
    if lookup and isinstance(parameters, Mapping) and lookup in parameters:
        return f"{lookup}={parameters[lookup]}"
    return str(document.get("id"))


def failed_task(document: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The instance's failed leaf task (the one a retry starts from), if any."""
    failed = [
        task
        for task in (document.get("tasks") or {}).values()
        if (task.get("status") or {}).get("code") == "FAILURE"
        and task.get("task_type") not in ("ROOT", "SUB_DAG", "PARALLEL_COMPOSITE")
    ]
    return failed[0] if failed else None


def error_of(document: Mapping[str, Any]) -> str:
    """The instance's error: its own, or its failed task's, or why it cannot be decoded."""
    undecodable = document.get("undecodable")
    if isinstance(undecodable, Mapping):
        return str(undecodable.get("reason"))
    for task in (document, failed_task(document) or {}):
        if task.get("error_message") or task.get("error_type"):
            return f"{task.get('error_type') or 'Error'}: {task.get('error_message') or ''}"
    return ""


def default_task(document: Mapping[str, Any]) -> str | None:
    """The task the panel opens on: the failed one, else an executing leaf, else none."""
    failed = failed_task(document)
    if failed is not None:
        return str(failed.get("id"))
    for wait in document.get("waiting_for") or []:
        return str(wait.get("task_id"))
    return None


def task_panel(document: Mapping[str, Any], task_id: str) -> dict[str, Any]:
    """What the task panel shows of ``task_id``; ApiError 404 when the instance has none."""
    task = (document.get("tasks") or {}).get(task_id)
    if task is None:
        raise ApiError(404, f"instance {document.get('id')} has no task {task_id}")
    status = task.get("status") or {}
    fields = {name: value for name, value in task.items() if name not in _TASK_SHOWN}
    attempts = [
        {
            "number": attempt.get("number"),
            "started": format_time(attempt.get("started")),
            "ended": format_time(attempt.get("ended")),
            "error": (
                f"{attempt.get('error_type')}: {attempt.get('error_message')}"
                if attempt.get("error_type")
                else ""
            ),
            "traceback": attempt.get("traceback") or "",
        }
        for attempt in task.get("attempts") or []
        if isinstance(attempt, Mapping)
    ]
    return {
        "id": task_id,
        "name": task.get("task_name"),
        "status": status.get("code"),
        "times": [
            ("created", format_time(task.get("time_created"))),
            ("submitted", format_time(task.get("time_submitted"))),
            ("completed", format_time(task.get("time_completed"))),
            ("last updated", format_time(task.get("lastupdated"))),
        ],
        "error": (
            f"{task.get('error_type') or 'Error'}: {task.get('error_message') or ''}"
            if task.get("error_type") or task.get("error_message")
            else ""
        ),
        "traceback": task.get("error_traceback") or "",
        "attempts": attempts,
        "fields_json": to_json(fields),
        "can_rerun": (document.get("status") or {}).get("code") in TERMINAL,
        "parameter_changes": parameter_changes(task),
    }


def parameter_changes(task: Mapping[str, Any]) -> list[dict[str, str]]:
    """The runtime parameters ``task`` changed, each as its key, before and after (JSON)."""
    changes = task.get("parameter_changes")
    if not isinstance(changes, Mapping):
        return []
    return [
        {
            "key": str(key),
            "before": to_json(change["before"]) if "before" in change else "(not set)",
            "after": to_json(change["after"]) if "after" in change else "(removed)",
        }
        for key, change in sorted(changes.items(), key=lambda item: str(item[0]))
        if isinstance(change, Mapping)
    ]


def rerun_body(node: str, parameters: str) -> bytes:
    """The API's rerun body from the task panel's form; ApiError 400 for bad JSON."""
    try:
        edited = json.loads(parameters.strip() or "{}")
    except ValueError as exc:
        raise ApiError(400, f"the edited parameters are not JSON: {exc}") from None
    return json.dumps({"from": node, "parameters": edited}).encode()


def gantt(document: Mapping[str, Any], now: float | None = None) -> dict[str, Any]:
    """The bars of the timeline: each started task from submission to completion (or now)."""
    current = time.time() if now is None else now
    spans = []
    for task_id, task in (document.get("tasks") or {}).items():
        if task.get("task_type") == "ROOT":
            continue
        start = task.get("time_submitted") or 0.0
        if not start:
            continue
        end = task.get("time_completed") or 0.0
        code = (task.get("status") or {}).get("code")
        if not end or end < start:
            end = current if code not in TERMINAL else start
        spans.append((float(start), float(end), task_id, task, str(code)))
    if not spans:
        return {"bars": [], "width": GANTT_WIDTH, "height": 0, "span": 0.0}
    spans.sort(key=lambda span: (span[0], span[1]))
    first = min(span[0] for span in spans)
    last = max(span[1] for span in spans)
    total = max(last - first, 1e-3)
    scale = (GANTT_WIDTH - 200) / total
    bars = []
    for row, (start, end, task_id, task, code) in enumerate(spans):
        bars.append(
            {
                "id": task_id,
                "name": task.get("task_name"),
                "status": code,
                "x": 200 + int((start - first) * scale),
                "y": 4 + row * 22,
                "width": max(3, int((end - start) * scale)),
                "seconds": f"{end - start:.3f}s",
            }
        )
    return {"bars": bars, "width": GANTT_WIDTH, "height": 8 + len(bars) * 22, "span": total}
