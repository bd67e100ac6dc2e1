"""The checked shape of a workflow file: workflows, params, jobs and stages.

:func:`check` walks a parsed :class:`~dagger.declarative._yaml.Source` and returns the
workflows it defines, recording a problem (with its path and line) for everything that
does not fit the format; nothing is compiled from a file with problems.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from dagger.core._needs import check_graph
from dagger.declarative import _bash as bash
from dagger.declarative import _functions as functions
from dagger.declarative import _templating as templating
from dagger.declarative._errors import Path
from dagger.declarative._params import RESERVED, TYPES, Param, coerce, missing
from dagger.declarative._schedule import On, check_on
from dagger.declarative._strategy import Strategy, check_strategy
from dagger.declarative._yaml import Source
from dagger.tasks._needs import TriggerRule

STAGE_KINDS = (
    "call",
    "raise",
    "send",
    "wait",
    "sleep",
    "until",
    "case",
    "parallel",
    "foreach",
    "bash",
    "trigger",
)
"""The stage kinds, each named by the key that holds its body."""

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_STAGE_KEYS = {
    "call": {"call", "with"},
    "raise": {"raise"},
    "send": {"send"},
    "wait": {"wait"},
    "sleep": {"sleep"},
    "until": {"until"},
    "case": {"case", "match"},
    "parallel": {"parallel"},
    "foreach": {"foreach", "stages", "max-parallel", "fail-fast"},
    "bash": {"bash"},
    "trigger": {"trigger", "params"},
}
_COMMON_KEYS = {"name", "id", "if"}


@dataclass
class Stage:
    """One stage: its kind, id, body and, for ``case`` and ``parallel``, its branches."""

    kind: str
    id: str
    body: dict[str, Any]
    path: Path
    branches: list[tuple[Any, list[Stage]]] = field(default_factory=list)
    """``case``: (label, stages) per match, ``"_"`` the default; ``parallel``: (name, stages)."""


@dataclass
class Job:
    """One job: a process of the workflow."""

    name: str
    needs: list[str]
    trigger_rule: TriggerRule
    condition: str | None
    stages: list[Stage]
    path: Path
    strategy: Strategy | None = None
    """Its ``strategy.matrix``: the job runs once per combination (None: once)."""


@dataclass
class Workflow:
    """One workflow of a file."""

    name: str
    desc: str
    params: dict[str, Param]
    jobs: dict[str, Job]
    file: str
    line: int | None
    on: On | None = None
    """Its schedule (``on:``), if it has one."""


def check(source: Source) -> list[Workflow]:
    """The workflows of ``source``; problems go to ``source.problems``."""
    data = source.data
    if source.problems and data is None:
        return []
    if not isinstance(data, dict) or not data:
        source.problem((), "a workflow file is a mapping of workflow names to workflows")
        return []
    found: list[Workflow] = []
    for name, body in data.items():
        name = str(name)
        path: Path = (name,)
        if not _NAME.match(name):
            source.problem(path, f"{name!r} is not a workflow name (letters, digits, - and _)")
            continue
        if not isinstance(body, dict):
            source.problem(path, "a workflow is a mapping with type: Workflow")
            continue
        workflow = _workflow(source, name, body, path)
        if workflow is not None:
            found.append(workflow)
    return found


def _workflow(source: Source, name: str, body: dict[Any, Any], path: Path) -> Workflow | None:
    if body.get("type") != "Workflow":
        source.problem((*path, "type"), f"must be Workflow, got {body.get('type')!r}")
    for key in body:
        if key not in {"type", "desc", "params", "jobs", True, "on"}:
            source.problem((*path, str(key)), "unknown field (type, desc, params, jobs, on)")
    desc = body.get("desc", "")
    if not isinstance(desc, str):
        source.problem((*path, "desc"), "must be text")
        desc = ""
    params = _params(source, body.get("params") or {}, (*path, "params"))
    jobs_body = body.get("jobs")
    if not isinstance(jobs_body, dict) or not jobs_body:
        source.problem((*path, "jobs"), "a workflow needs jobs: a mapping of job names to jobs")
        return None
    jobs: dict[str, Job] = {}
    for job_name, job_body in jobs_body.items():
        job = _job(source, str(job_name), job_body, (*path, "jobs", str(job_name)))
        if job is not None:
            jobs[job.name] = job
    _check_needs(source, jobs, path)
    on = _on(source, body, path, params)
    return Workflow(name, desc, params, jobs, source.file, source.line_of(path), on)


def _on(source: Source, body: dict[Any, Any], path: Path, params: dict[str, Param]) -> On | None:
    """The workflow's ``on:`` (YAML 1.1 reads a bare ``on`` key as True)."""
    given = body.get("on", body.get(True))
    return None if given is None else check_on(source, given, (*path, "on"), params)


def _params(source: Source, body: Any, path: Path) -> dict[str, Param]:
    if not isinstance(body, dict):
        source.problem(path, "params is a mapping of parameter names to types")
        return {}
    params: dict[str, Param] = {}
    for name, spec in body.items():
        name = str(name)
        where = (*path, name)
        if name in RESERVED:
            source.problem(where, f"{name!r} is reserved for the stages' outputs")
            continue
        if isinstance(spec, str):
            spec = {"type": spec}
        if not isinstance(spec, dict):
            source.problem(where, f"a parameter is a type ({', '.join(TYPES)}) or a mapping")
            continue
        unknown = set(map(str, spec)) - {"type", "default", "required", "description", "choices"}
        for key in sorted(unknown):
            source.problem(
                (*where, key), "unknown field (type, default, required, description, choices)"
            )
        kind = spec.get("type")
        if kind not in TYPES:
            source.problem((*where, "type"), f"must be one of {', '.join(TYPES)}, got {kind!r}")
            continue
        choices = spec.get("choices", [])
        if kind == "choice" and (not isinstance(choices, list) or not choices):
            source.problem((*where, "choices"), "a choice parameter needs a list of choices")
            continue
        param = Param(
            name,
            kind,
            required=bool(spec.get("required", "default" not in spec)),
            description=str(spec.get("description", "")),
            choices=tuple(choices) if isinstance(choices, list) else (),
        )
        if "default" in spec and spec["default"] is not None:
            try:
                default = coerce(param, spec["default"])
            except ValueError as exc:
                source.problem((*where, "default"), str(exc))
                continue
            param = Param(name, kind, param.required, default, param.description, param.choices)
        elif "default" in spec:
            param = Param(name, kind, False, None, param.description, param.choices)
        else:
            param = Param(name, kind, param.required, missing(), param.description, param.choices)
        params[name] = param
    return params


def _job(source: Source, name: str, body: Any, path: Path) -> Job | None:
    if not _NAME.match(name):
        source.problem(path, f"{name!r} is not a job name (letters, digits, - and _)")
        return None
    if not isinstance(body, dict):
        source.problem(path, "a job is a mapping with stages")
        return None
    for key in body:
        if str(key) not in {"needs", "trigger-rule", "if", "stages", "desc", "strategy"}:
            source.problem(
                (*path, str(key)),
                "unknown field (needs, trigger-rule, if, stages, desc, strategy)",
            )
    needs = body.get("needs", [])
    if isinstance(needs, str):
        needs = [needs]
    if not isinstance(needs, list) or not all(isinstance(need, str) for need in needs):
        source.problem((*path, "needs"), "needs is a list of job names")
        needs = []
    rule = TriggerRule.ALL_SUCCESS
    if "trigger-rule" in body:
        try:
            rule = TriggerRule.of(body["trigger-rule"])
        except ValueError as exc:
            source.problem((*path, "trigger-rule"), str(exc))
    condition = body.get("if")
    if condition is not None:
        if not isinstance(condition, str):
            source.problem((*path, "if"), "if is an expression, such as ${{ params.full }}")
            condition = None
        else:
            _check_expressions(source, condition, (*path, "if"))
    stages = _stages(source, body.get("stages"), (*path, "stages"), set())
    if stages is None:
        return None
    strategy = _job_strategy(source, body, stages, path)
    return Job(name, list(needs), rule, condition, stages, path, strategy)


def _job_strategy(
    source: Source, body: dict[Any, Any], stages: list[Stage], path: Path
) -> Strategy | None:
    """The job's checked ``strategy``, if it has one; stages a matrix cannot run refused."""
    if "strategy" not in body:
        return None
    strategy = check_strategy(source, body["strategy"], (*path, "strategy"))
    for inner in _walk_stages(stages):
        if inner.kind in {"foreach", "wait"}:
            source.problem(
                inner.path, f"a {inner.kind} stage in a job with a matrix is not supported yet"
            )
    return strategy


def _stages(source: Source, body: Any, path: Path, ids: set[str]) -> list[Stage] | None:
    if not isinstance(body, list) or not body:
        source.problem(path, "stages is a non-empty list of stages")
        return None
    stages: list[Stage] = []
    for index, item in enumerate(body):
        stage = _stage(source, item, (*path, index), ids, index)
        if stage is not None:
            stages.append(stage)
    return stages


def _stage(source: Source, body: Any, path: Path, ids: set[str], index: int) -> Stage | None:
    if not isinstance(body, dict):
        source.problem(path, f"a stage is a mapping with one of {', '.join(STAGE_KINDS)}")
        return None
    kinds = [kind for kind in STAGE_KINDS if kind in body]
    if len(kinds) != 1:
        shown = ", ".join(kinds) if kinds else "none"
        source.problem(path, f"a stage has exactly one of {', '.join(STAGE_KINDS)} (found {shown})")
        return None
    kind = kinds[0]
    for key in body:
        if str(key) not in _STAGE_KEYS[kind] | _COMMON_KEYS:
            allowed = ", ".join(sorted(_STAGE_KEYS[kind] | _COMMON_KEYS))
            source.problem((*path, str(key)), f"unknown field of a {kind} stage ({allowed})")
    stage_id = str(body.get("id") or _slug(body.get("name")) or f"stage-{index}")
    if not _NAME.match(stage_id):
        source.problem((*path, "id"), f"{stage_id!r} is not a stage id (letters, digits, - and _)")
    elif stage_id in ids:
        source.problem((*path, "id"), f"stage id {stage_id!r} is used twice in this job")
    ids.add(stage_id)
    stage = Stage(kind, stage_id, dict(body), path)
    if "if" in body:
        if not isinstance(body["if"], str):
            source.problem((*path, "if"), "if is an expression, such as ${{ params.full }}")
            return None
        _check_expressions(source, body["if"], (*path, "if"))
    checker = _KIND_CHECKS[kind]
    if not checker(source, stage, ids):
        return None
    return stage


def _slug(name: Any) -> str:
    if not isinstance(name, str):
        return ""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name.strip()).strip("-").lower()


def _check_expressions(source: Source, value: Any, path: Path) -> None:
    for expression in templating.expressions(value):
        error = templating.check(expression)
        if error is not None:
            source.problem(path, f"${{{{ {expression} }}}} does not parse: {error}")


def _check_call(source: Source, stage: Stage, ids: set[str]) -> bool:
    return _check_function(source, stage.body, stage.path)


def _check_function(source: Source, body: dict[str, Any], path: Path) -> bool:
    """``call`` and ``with`` of ``body`` (a stage, or an ``until``) against the function."""
    name = body["call"]
    arguments = body.get("with", {}) or {}
    if not isinstance(arguments, dict):
        source.problem((*path, "with"), "with is a mapping of argument names to values")
        return False
    if not isinstance(name, str) or name not in functions.registered():
        known = ", ".join(functions.registered()) or "none"
        source.problem(
            (*path, "call"),
            f"no function is registered as {name!r} (registered: {known}); "
            "decorate it with @dagger.declarative.task(name) before loading",
        )
        return False
    for argument, message in functions.check_arguments(name, arguments):
        where = (*path, "with", argument) if argument else (*path, "with")
        source.problem(where, message)
    _check_expressions(source, arguments, (*path, "with"))
    return True


def _check_until(source: Source, stage: Stage, ids: set[str]) -> bool:
    body = stage.body["until"]
    path = (*stage.path, "until")
    if not isinstance(body, dict):
        source.problem(path, "until is a mapping of call, with, every and max-tries")
        return False
    allowed = {"call", "with", "every", "max-tries"}
    for key in sorted(set(map(str, body)) - allowed):
        source.problem((*path, key), f"unknown field of until ({', '.join(sorted(allowed))})")
    for key in ("call", "every", "max-tries"):
        if key not in body:
            source.problem(path, f"until needs {key}")
            return False
    every, tries = body["every"], body["max-tries"]
    if isinstance(every, bool) or not isinstance(every, int | float) or every <= 0:
        source.problem((*path, "every"), f"every is a number of seconds > 0, got {every!r}")
        return False
    if isinstance(tries, bool) or not isinstance(tries, int) or tries < 1:
        source.problem((*path, "max-tries"), f"max-tries is an integer >= 1, got {tries!r}")
        return False
    return _check_function(source, body, path)


def _check_raise(source: Source, stage: Stage, ids: set[str]) -> bool:
    if not isinstance(stage.body["raise"], str) or not stage.body["raise"]:
        source.problem((*stage.path, "raise"), "raise takes the failure's message")
        return False
    _check_expressions(source, stage.body["raise"], (*stage.path, "raise"))
    return True


def _check_fields(
    source: Source, stage: Stage, required: set[str], optional: set[str]
) -> dict[str, Any] | None:
    path = (*stage.path, stage.kind)
    body = stage.body[stage.kind]
    if not isinstance(body, dict):
        source.problem(path, f"{stage.kind} is a mapping of {', '.join(sorted(required))}, ...")
        return None
    ok = True
    for key in sorted(required - set(body)):
        source.problem(path, f"{stage.kind} needs {key}")
        ok = False
    for key in body:
        if key not in required | optional:
            allowed = ", ".join(sorted(required | optional))
            source.problem((*path, str(key)), f"unknown field of {stage.kind} ({allowed})")
            ok = False
    topic = body.get("topic")
    if "topic" in required and not (
        isinstance(topic, str) and topic and not templating.has_expression(topic)
    ):
        source.problem((*path, "topic"), "topic is a topic name (not an expression)")
        ok = False
    _check_expressions(source, body, path)
    return body if ok else None


def _check_send(source: Source, stage: Stage, ids: set[str]) -> bool:
    return _check_fields(source, stage, {"topic", "value"}, {"key", "headers"}) is not None


def _check_wait(source: Source, stage: Stage, ids: set[str]) -> bool:
    body = _check_fields(source, stage, {"topic", "key", "match"}, {"timeout"})
    if body is None:
        return False
    if not isinstance(body["match"], str) or not body["match"]:
        source.problem(
            (*stage.path, "wait", "match"), "match names the field of the message to correlate on"
        )
        return False
    return _check_seconds(source, body.get("timeout"), (*stage.path, "wait", "timeout"))


def _check_seconds(source: Source, value: Any, path: Path) -> bool:
    if value is None or templating.has_expression(value):
        return True
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        source.problem(path, f"a number of seconds >= 0, or an expression; got {value!r}")
        return False
    return True


def _check_sleep(source: Source, stage: Stage, ids: set[str]) -> bool:
    _check_expressions(source, stage.body["sleep"], (*stage.path, "sleep"))
    return _check_seconds(source, stage.body["sleep"], (*stage.path, "sleep"))


def _check_case(source: Source, stage: Stage, ids: set[str]) -> bool:
    _check_expressions(source, stage.body["case"], (*stage.path, "case"))
    matches = stage.body.get("match")
    path = (*stage.path, "match")
    if not isinstance(matches, list) or not matches:
        source.problem(path, "a case stage needs match: a list of {case: value, stages: [...]}")
        return False
    labels: list[Any] = []
    for index, item in enumerate(matches):
        where = (*path, index)
        if not isinstance(item, dict) or "case" not in item or "stages" not in item:
            source.problem(
                where, "each match is {case: value, stages: [...]} (case: _ is the default)"
            )
            return False
        if item["case"] in labels:
            source.problem((*where, "case"), f"case {item['case']!r} is matched twice")
        labels.append(item["case"])
        stages = _stages(source, item["stages"], (*where, "stages"), ids)
        if stages is None:
            return False
        stage.branches.append((item["case"], stages))
    return True


def _check_parallel(source: Source, stage: Stage, ids: set[str]) -> bool:
    branches = stage.body["parallel"]
    path = (*stage.path, "parallel")
    if not isinstance(branches, dict) or not branches:
        source.problem(path, "parallel is a mapping of branch names to lists of stages")
        return False
    for name, body in branches.items():
        stages = _stages(source, body, (*path, str(name)), ids)
        if stages is None:
            return False
        stage.branches.append((str(name), stages))
    return True


def _check_foreach(source: Source, stage: Stage, ids: set[str]) -> bool:
    path = stage.path
    items = stage.body["foreach"]
    if not (isinstance(items, list) or templating.has_expression(items)):
        source.problem((*path, "foreach"), "foreach is a list of items or an expression giving one")
        return False
    _check_expressions(source, items, (*path, "foreach"))
    window = stage.body.get("max-parallel")
    if window is not None and (
        isinstance(window, bool) or not isinstance(window, int) or window < 1
    ):
        source.problem((*path, "max-parallel"), f"max-parallel is an integer >= 1, got {window!r}")
        return False
    if not isinstance(stage.body.get("fail-fast", False), bool):
        source.problem((*path, "fail-fast"), "fail-fast is true or false")
        return False
    stages = _stages(source, stage.body.get("stages"), (*path, "stages"), ids)
    if stages is None:
        return False
    for inner in _walk_stages(stages):
        if inner.kind in {"foreach", "wait"}:
            source.problem(
                inner.path, f"a {inner.kind} stage inside a foreach is not supported yet"
            )
            return False
    stage.branches.append(("items", stages))
    return True


def _walk_stages(stages: list[Stage]) -> list[Stage]:
    found: list[Stage] = []
    for stage in stages:
        found.append(stage)
        for _, branch in stage.branches:
            found.extend(_walk_stages(branch))
    return found


def _check_bash(source: Source, stage: Stage, ids: set[str]) -> bool:
    if not bash.allowed():
        source.problem((*stage.path, "bash"), bash.REFUSED)
        return False
    body = _check_fields(source, stage, {"run"}, {"env", "timeout"})
    if body is None:
        return False
    if not isinstance(body["run"], str) or templating.has_expression(body["run"]):
        source.problem(
            (*stage.path, "bash", "run"),
            "run is the script's literal text: pass values to it through env "
            "(env: {NAME: ${{ ... }}}, read as $NAME), never into the script itself",
        )
        return False
    if body.get("env") is not None and not isinstance(body["env"], dict):
        source.problem((*stage.path, "bash", "env"), "env is a mapping of variable names to values")
        return False
    return _check_seconds(source, body.get("timeout"), (*stage.path, "bash", "timeout"))


def _check_trigger(source: Source, stage: Stage, ids: set[str]) -> bool:
    name = stage.body["trigger"]
    path = stage.path
    if not isinstance(name, str) or not _NAME.match(name):
        source.problem(
            (*path, "trigger"),
            f"trigger names the workflow to start (not an expression), got {name!r}",
        )
        return False
    if name == path[0]:
        source.problem((*path, "trigger"), f"workflow {name!r} cannot trigger itself")
        return False
    params = stage.body.get("params", {})
    if not isinstance(params, dict):
        source.problem((*path, "params"), "params is a mapping of the child's params to values")
        return False
    _check_expressions(source, params, (*path, "params"))
    return True


_KIND_CHECKS = {
    "call": _check_call,
    "raise": _check_raise,
    "send": _check_send,
    "wait": _check_wait,
    "sleep": _check_sleep,
    "until": _check_until,
    "case": _check_case,
    "parallel": _check_parallel,
    "foreach": _check_foreach,
    "bash": _check_bash,
    "trigger": _check_trigger,
}


def _check_needs(source: Source, jobs: dict[str, Job], path: Path) -> None:
    """The jobs' needs, checked as the engine checks a graph, each problem at its path."""
    for problem in check_graph([(job.name, job.needs) for job in jobs.values()], "job"):
        where: Path = (*path, "jobs", problem.node)
        if problem.need_index is not None:
            where = (*where, "needs", problem.need_index)
        elif "cycle" in problem.message or "unreachable" in problem.message:
            where = (*where, "needs")
        source.problem(where, problem.message)
