"""``GET /workflows`` and ``POST /workflows/{name}/execute``: the declarative workflows.

A declarative workflow is a registered template with a ``workflow`` (its checked YAML
definition, from ``dagger.declarative``, which this layer sees only through the
attributes it reads). Executing one starts an instance as ``POST /templates/{name}/instances``
does (same body, same id rules, the params checked by the template) and answers 202 with
the instance's id: the run goes on at the instance's owner.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from dagger.web._errors import ApiError, Reply
from dagger.web._instances import Caller
from dagger.web._starts import StartsApi

__all__ = ["WorkflowsApi"]


class TemplateRegistry(Protocol):
    """The registered templates (``Dagger.template_dags``)."""

    template_dags: dict[str, Any]


class WorkflowsApi:
    """Answers the ``/workflows`` endpoints for one worker."""

    def __init__(self, engine: TemplateRegistry, starts: StartsApi) -> None:
        self._engine = engine
        self._starts = starts

    def list(self) -> Reply:
        """Every declarative workflow: its params and jobs."""
        workflows = [
            _describe(template.workflow)
            for _, template in sorted(self._engine.template_dags.items())
            if getattr(template, "workflow", None) is not None
        ]
        return Reply(200, {"workflows": workflows})

    async def execute(self, name: str, body: bytes, caller: Caller) -> Reply:
        """Start an instance of the workflow ``name``: 202 with its id (200: it existed)."""
        template = self._engine.template_dags.get(name)
        if getattr(template, "workflow", None) is None:
            known = sorted(
                n for n, t in self._engine.template_dags.items() if hasattr(t, "workflow")
            )
            raise ApiError(404, f"no declarative workflow named {name!r}; workflows: {known}")
        started = await self._starts.start(
            name, body or json.dumps({"params": {}}).encode(), caller
        )
        document = started.body if isinstance(started.body, dict) else {}
        answer = {
            "id": document.get("id"),
            "workflow": name,
            "status": (document.get("status") or {}).get("code"),
            "existing": started.status == 200,
        }
        return Reply(202 if started.status == 201 else started.status, answer, started.headers)


def _describe(workflow: Any) -> dict[str, Any]:
    params = {}
    for param in workflow.params.values():
        shown: dict[str, Any] = {
            "type": param.type,
            "required": bool(param.required and not param.has_default),
            "description": param.description,
        }
        if param.has_default:
            shown["default"] = param.default
        if param.choices:
            shown["choices"] = list(param.choices)
        params[param.name] = shown
    jobs = {
        job.name: {
            "needs": list(job.needs),
            "trigger_rule": job.trigger_rule.value,
            "if": job.condition,
            "stages": [{"id": stage.id, "kind": stage.kind} for stage in job.stages],
        }
        for job in workflow.jobs.values()
    }
    return {"name": workflow.name, "desc": workflow.desc, "params": params, "jobs": jobs}
