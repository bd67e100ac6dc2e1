"""What a stage's task needs when it runs: its stage, job and workflow, found by reference.

Compiling a workflow records a :class:`Run` per stage under a reference
(``workflow/job/stage``); each task instance stores only that reference, so instance
documents stay small and stored bytes never carry expressions or code. A task runs the
stage as currently loaded: reloading changed YAML changes what waiting instances do next.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from dagger.declarative._model import Stage, Workflow
from dagger.declarative._params import typed
from dagger.exceptions.exceptions import DaggerError

Item = Mapping[str, Any]
"""The item a task runs for: ``{"foreach": <stage id>, "index": n, "value": v}`` in a
``foreach``, ``{"matrix": <job>, "index": n, "value": {<key>: <value>, ...}}`` in a job
with a matrix."""

OUTPUTS_KEY = "jobs"
"""The runtime parameter holding every stage's outputs: ``jobs.<job>.stages.<id>.outputs``."""


@dataclass(frozen=True)
class Run:
    """A stage (or a job's ``if``, with ``stage`` None) as its task runs it."""

    workflow: Workflow
    job: str
    stage: Stage | None

    @property
    def ref(self) -> str:
        """The reference its tasks store."""
        return reference(self.workflow.name, self.job, self.stage.id if self.stage else ":if")

    def parameter(self, purpose: str, item: Item | None = None) -> str:
        """The runtime parameter where this stage keeps a value it works out (``wait:...``).

        Inside a ``foreach`` each item has its own (``wait:<ref>[<index>]``).
        """
        suffix = f"[{item['index']}]" if item else ""
        return f"{purpose}:{self.ref}{suffix}"

    def context(
        self, runtime_parameters: Mapping[str, Any], item: Item | None = None
    ) -> dict[str, Any]:
        """What its expressions see: ``params`` (typed), ``jobs`` (the outputs so far) and,
        inside a ``foreach``, ``item`` and ``index``; in a job with a matrix, ``matrix``."""
        context = {
            "params": typed(self.workflow.params, runtime_parameters),
            "jobs": runtime_parameters.get(OUTPUTS_KEY, {}),
        }
        if item and "matrix" in item:
            context["matrix"] = item["value"]
        elif item:
            context["item"], context["index"] = item["value"], item["index"]
        return context

    def record(
        self,
        runtime_parameters: dict[str, Any],
        outputs: Mapping[str, Any],
        item: Item | None = None,
    ) -> None:
        """Keep the stage's outputs with the instance.

        At ``jobs.<job>.stages.<id>.outputs``; inside a ``foreach``, at
        ``jobs.<job>.stages.<foreach>.items.<index>.stages.<id>.outputs``; in a job with a
        matrix, at ``jobs.<job>.strategies.<index>.stages.<id>.outputs``.
        """
        assert self.stage is not None
        self._stages(runtime_parameters, item)[self.stage.id] = {"outputs": dict(outputs)}

    def outputs(self, runtime_parameters: dict[str, Any], item: Item | None = None) -> Any:
        """The outputs the stage recorded (for ``item``), or None."""
        assert self.stage is not None
        return self._stages(runtime_parameters, item).get(self.stage.id, {}).get("outputs")

    def _stages(self, runtime_parameters: dict[str, Any], item: Item | None) -> dict[str, Any]:
        """The mapping of stage ids to outputs the stage's outputs (for ``item``) go to."""
        if item and "matrix" in item:
            found: dict[str, Any] = strategy_entry(runtime_parameters, item)
            return found.setdefault("stages", {})  # type: ignore[no-any-return]
        jobs = runtime_parameters.setdefault(OUTPUTS_KEY, {})
        stages: dict[str, Any] = jobs.setdefault(self.job, {}).setdefault("stages", {})
        if item:
            items = stages.setdefault(item["foreach"], {}).setdefault("items", {})
            entry = items.setdefault(str(item["index"]), {"item": item["value"]})
            stages = entry.setdefault("stages", {})
        return stages


def strategy_entry(runtime_parameters: dict[str, Any], item: Item) -> dict[str, Any]:
    """Where a matrix combination keeps its ``matrix``, ``status`` and ``stages``:
    ``jobs.<job>.strategies.<index>``."""
    jobs = runtime_parameters.setdefault(OUTPUTS_KEY, {})
    strategies = jobs.setdefault(item["matrix"], {}).setdefault("strategies", {})
    entry: dict[str, Any] = strategies.setdefault(
        str(item["index"]), {"matrix": dict(item["value"])}
    )
    return entry


_RUNS: dict[str, Run] = {}


def reference(workflow: str, job: str, stage: str) -> str:
    """The reference of a stage."""
    return f"{workflow}/{job}/{stage}"


def add(run: Run) -> str:
    """Record ``run`` (replacing an earlier load of the same stage); return its reference."""
    _RUNS[run.ref] = run
    return run.ref


def run_of(ref: str | None) -> Run:
    """The run recorded under ``ref``."""
    found = _RUNS.get(ref or "")
    if found is None:
        raise DaggerError(
            f"no loaded workflow has the stage {ref!r}: load its YAML file in this worker "
            "(Dagger(workflows=[...]))"
        )
    return found


def runs() -> Iterator[Run]:
    """Every recorded run."""
    return iter(list(_RUNS.values()))
