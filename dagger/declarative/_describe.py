"""A workflow as text: its params, and its jobs in an order that respects their needs."""

from __future__ import annotations

from dagger.core._needs import topological_order
from dagger.declarative._model import Stage, Workflow
from dagger.declarative._strategy import Strategy
from dagger.tasks._needs import TriggerRule


def job_order(workflow: Workflow) -> list[str]:
    """The job names in an order where each comes after what it needs."""
    return topological_order({name: job.needs for name, job in workflow.jobs.items()})


def describe(workflow: Workflow) -> str:
    """The workflow's params and its DAG of jobs and stages, one line each."""
    lines = [f"{workflow.name}: {workflow.desc}" if workflow.desc else workflow.name]
    if workflow.params:
        lines.append("  params:")
        for param in workflow.params.values():
            default = f" = {param.default!r}" if param.has_default else ""
            flag = " (required)" if param.required and not param.has_default else ""
            lines.append(f"    {param.name}: {param.type}{default}{flag}")
    lines.append("  jobs:")
    for name in job_order(workflow):
        job = workflow.jobs[name]
        needs = f" <- {', '.join(job.needs)}" if job.needs else ""
        rule = (
            f" [{job.trigger_rule.value}]"
            if job.trigger_rule is not TriggerRule.ALL_SUCCESS
            else ""
        )
        condition = f" if {job.condition}" if job.condition else ""
        lines.append(f"    {name}{needs}{rule}{condition}")
        if job.strategy is not None:
            lines.append(f"      {_matrix(job.strategy)}")
        lines.extend(_stages(job.stages, "      "))
    return "\n".join(lines)


def _matrix(strategy: Strategy) -> str:
    """``matrix: table x part, at most 2 at a time, fail-fast``."""
    keys = " x ".join(strategy.matrix)
    fast = ", fail-fast" if strategy.fail_fast else ""
    return f"matrix: {keys}, at most {strategy.max_parallel} at a time{fast}"


def _stages(stages: list[Stage], indent: str) -> list[str]:
    lines: list[str] = []
    for stage in stages:
        detail = _detail(stage)
        condition = f" if {stage.body['if']}" if "if" in stage.body else ""
        lines.append(f"{indent}- {stage.id}: {stage.kind} {detail}{condition}")
        for label, branch in stage.branches:
            lines.append(f"{indent}    {label}:")
            lines.extend(_stages(branch, indent + "      "))
    return lines


def _detail(stage: Stage) -> str:
    body = stage.body
    if stage.kind == "call":
        return str(body["call"])
    if stage.kind == "raise":
        return repr(body["raise"])
    if stage.kind == "send":
        return f"to {body['send']['topic']}"
    if stage.kind == "wait":
        timeout = body["wait"].get("timeout")
        within = f" within {timeout} s" if timeout is not None else ""
        return f"on {body['wait']['topic']} for {body['wait']['match']}{within}"
    if stage.kind == "sleep":
        return f"{body['sleep']} s"
    if stage.kind == "until":
        until = body["until"]
        return f"{until['call']} every {until['every']} s, at most {until['max-tries']} tries"
    if stage.kind == "foreach":
        window = body.get("max-parallel")
        bound = f", at most {window} at a time" if window else ""
        return f"over {body['foreach']}{bound}"
    if stage.kind == "bash":
        return "script"
    if stage.kind == "trigger":
        return f"workflow {body['trigger']}"
    if stage.kind == "case":
        return str(body["case"])
    return f"{len(stage.branches)} branches"
