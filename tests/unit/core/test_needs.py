"""Graphs of needs through ``step``: order, concurrency, every trigger rule, skips, retries.

The workflows are built with the public builders (``set_needs``, ``set_trigger_rule``,
``add_task``, ``add_process``) and run by ``step`` alone: each test applies hook outcomes
by hand, or lets :func:`drive` run the hooks, and reads the effects and statuses.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from dagger.core._effects import InstanceFinished, RunTask
from dagger.core._events import InstanceSubmitted, RetryRequested, TaskFailed, TaskSucceeded
from dagger.core._graph import is_leaf
from dagger.core._needs import GraphError, Verdict, check_graph, verdict
from dagger.core._step import step as core_step
from dagger.modeler.definition import DefaultTemplateBuilder, ProcessTemplateDagBuilder
from dagger.service.services import Dagger
from dagger.tasks._needs import NEEDS_NOT_MET, TriggerRule
from dagger.tasks.task import ExecutorTask, ITask, ITemplateDAGInstance
from dagger.templates.template import DefaultTaskTemplateBuilder, ITemplateDAG, TaskTemplate
from tests.unit._control_flow_workflows import drive, names_of, statuses
from tests.unit._listener_workflows import unique
from tests.unit._workflows import FailingTask, RecordingTask, round_trip

NOW = 1_000.0


class FailsOnce(ExecutorTask[str, Any]):
    """Raises the first time it runs in an instance, then records that it ran."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None = None,
    ) -> None:
        tried = runtime_parameters.setdefault("tried", [])
        if self.task_name not in tried:
            tried.append(self.task_name)
            raise RuntimeError("first try fails")
        runtime_parameters.setdefault("ran", []).append(self.task_name)


def task(
    engine: Dagger,
    name: str,
    needs: list[str] | None = None,
    rule: str | None = None,
    task_type: type[ITask[Any, Any]] = RecordingTask,
    after: TaskTemplate | None = None,
) -> TaskTemplate:
    builder = DefaultTaskTemplateBuilder(engine).set_name(name).set_type(task_type)
    if needs is not None:
        builder.set_needs(needs)
    if rule is not None:
        builder.set_trigger_rule(rule)
    if after is not None:
        builder.set_next(after)
    return builder.build()


def graph_workflow(engine: Dagger, *nodes: TaskTemplate) -> ITemplateDAG:
    """One process named ``P`` whose tasks are ``nodes``, run by their needs."""
    builder = ProcessTemplateDagBuilder(engine).set_name("P").set_root_task(nodes[0])
    for node in nodes[1:]:
        builder.add_task(node)
    return (
        DefaultTemplateBuilder(engine).set_name(unique("graph")).set_root(builder.build()).build()
    )


async def submitted(template: ITemplateDAG) -> tuple[ITemplateDAGInstance[Any, Any], list[Any]]:
    instance = await template.create_instance("instance-1", seed=random.Random(0))
    instance.owner_partition = 0
    instance = round_trip(instance)
    return instance, core_step(instance, InstanceSubmitted("e-1", "instance-1"), NOW).effects


def named(instance: ITemplateDAGInstance[Any, Any], name: str) -> ITask[Any, Any]:
    """The task (not a process of the same name) called ``name``."""
    return next(
        task for task in instance.tasks.values() if task.task_name == name and is_leaf(task)
    )


def succeed(instance: ITemplateDAGInstance[Any, Any], name: str) -> list[str]:
    return names_of(
        instance, core_step(instance, TaskSucceeded(named(instance, name).id), NOW).effects
    )


# -- the rules, judged alone --------------------------------------------------------------

S, F, K, X = "COMPLETED", "FAILURE", "SKIPPED", "STOPPED"

VERDICTS = {
    # rule: (needs outcomes -> verdict) for [S, S], [S, F], [F, F], [S, K], [S, None], [F, None]
    TriggerRule.ALL_SUCCESS: ["run", "skip", "skip", "skip", "wait", "skip"],
    TriggerRule.ALL_DONE: ["run", "run", "run", "run", "wait", "wait"],
    TriggerRule.ONE_SUCCESS: ["run", "run", "skip", "run", "run", "wait"],
    TriggerRule.ALL_FAILED: ["skip", "skip", "run", "skip", "skip", "wait"],
    TriggerRule.ONE_FAILED: ["skip", "run", "run", "skip", "wait", "run"],
    TriggerRule.NONE_FAILED: ["run", "skip", "skip", "run", "wait", "skip"],
    TriggerRule.NONE_SKIPPED: ["run", "run", "run", "skip", "wait", "wait"],
}
OUTCOMES: list[list[str | None]] = [[S, S], [S, F], [F, F], [S, K], [S, None], [F, None]]


@pytest.mark.parametrize("rule", list(TriggerRule))
def test_each_trigger_rule_runs_waits_or_skips_by_how_its_needs_ended(rule: TriggerRule) -> None:
    found = [verdict(rule, outcomes).value for outcomes in OUTCOMES]
    assert found == VERDICTS[rule]


def test_a_stopped_need_counts_as_failed_and_no_needs_runs_at_once() -> None:
    assert verdict(TriggerRule.ONE_FAILED, [X, None]) is Verdict.RUN
    assert verdict(TriggerRule.ALL_SUCCESS, [X]) is Verdict.SKIP
    for rule in TriggerRule:
        assert verdict(rule, []) is Verdict.RUN


def test_an_unknown_trigger_rule_lists_the_rules(engine: Dagger) -> None:
    with pytest.raises(ValueError, match="unknown trigger rule 'all_succes'; use one of: all_s"):
        DefaultTaskTemplateBuilder(engine).set_trigger_rule("all_succes")


# -- graph checks when a template is built ------------------------------------------------


def test_graph_check_names_unknown_repeated_and_duplicated_nodes() -> None:
    problems = check_graph([("a", []), ("b", ["a", "zz", "a"]), ("a", [])], "job")
    found = [(p.node, p.need_index, p.message) for p in problems]
    assert found == [
        ("a", None, "is the name of two jobs: rename one"),
        ("b", 1, "unknown job 'zz'"),
        ("b", 2, "names 'a' twice"),
    ]


def test_graph_check_names_a_cycle_and_what_only_a_cycle_leads_to() -> None:
    problems = check_graph(
        [("root", []), ("a", ["c"]), ("b", ["a"]), ("c", ["b"]), ("d", ["b", "root"]), ("e", ["e"])]
    )
    messages = [f"{p.node}: {p.message}" for p in problems]
    assert messages == [
        "a: is on a cycle of needs: 'a' -> 'c' -> 'b' -> 'a'",
        "e: is on a cycle of needs: 'e' -> 'e'",
        "d: is unreachable: it needs 'b', which can only run after a cycle, so no node can "
        "start it",
    ]


def test_building_a_process_with_an_unknown_need_raises_naming_it(engine: Dagger) -> None:
    builder = (
        ProcessTemplateDagBuilder(engine)
        .set_name("P")
        .set_root_task(task(engine, "extract"))
        .add_task(task(engine, "report", ["extrat"]))
    )
    with pytest.raises(GraphError, match=r"the tasks of 'P': 'report' needs\[0\]: unknown task"):
        builder.build()


def test_building_a_template_with_a_cycle_of_processes_raises_naming_them(
    engine: Dagger,
) -> None:
    def proc(name: str, needs: list[str]) -> Any:
        return (
            ProcessTemplateDagBuilder(engine)
            .set_name(name)
            .set_root_task(task(engine, f"{name}-t"))
            .set_needs(needs)
            .build()
        )

    builder = (
        DefaultTemplateBuilder(engine)
        .set_name(unique("cyclic"))
        .set_root(proc("a", []))
        .add_process(proc("b", ["c"]))
        .add_process(proc("c", ["b"]))
    )
    with pytest.raises(GraphError, match="'b' is on a cycle of needs: 'b' -> 'c' -> 'b'"):
        builder.build()


def test_needs_on_a_task_linked_with_set_next_are_refused(engine: Dagger) -> None:
    follower = task(engine, "second", ["first"])
    builder = (
        ProcessTemplateDagBuilder(engine)
        .set_name("P")
        .set_root_task(task(engine, "first", after=follower))
    )
    with pytest.raises(GraphError, match="'second' declares needs but follows another"):
        builder.build()


def test_set_needs_takes_a_list_of_names(engine: Dagger) -> None:
    with pytest.raises(TypeError, match="a list of names"):
        DefaultTaskTemplateBuilder(engine).set_needs("a")  # type: ignore[arg-type]


# -- running a graph ----------------------------------------------------------------------


async def test_a_diamond_runs_both_middles_at_once_and_the_join_after_both(
    engine: Dagger,
) -> None:
    template = graph_workflow(
        engine,
        task(engine, "a"),
        task(engine, "b", ["a"]),
        task(engine, "c", ["a"]),
        task(engine, "d", ["b", "c"]),
    )
    instance, effects = await submitted(template)
    assert names_of(instance, effects) == ["RunTask:a"]
    assert succeed(instance, "a") == ["RunTask:b", "RunTask:c"]
    assert statuses(instance)["b"] == statuses(instance)["c"] == "EXECUTING"
    assert succeed(instance, "c") == []
    assert statuses(instance)["d"] == "NOT_STARTED"
    assert succeed(instance, "b") == ["RunTask:d"]
    assert succeed(instance, "d")[-1] == "InstanceFinished:COMPLETED"


async def test_a_wider_dag_of_processes_starts_each_one_when_its_own_needs_are_met(
    engine: Dagger,
) -> None:
    """``transform`` needs both extracts while ``report`` needs only the first."""

    def proc(name: str, needs: list[str] | None = None) -> Any:
        builder = ProcessTemplateDagBuilder(engine).set_name(name)
        builder.set_root_task(task(engine, f"{name}-t"))
        return builder.set_needs(needs or []).build()

    template = (
        DefaultTemplateBuilder(engine)
        .set_name(unique("etl"))
        .set_root(proc("extract_a"))
        .add_process(proc("extract_b"))
        .add_process(proc("transform", ["extract_a", "extract_b"]))
        .add_process(proc("report", ["extract_a"]))
        .add_process(proc("load", ["transform"]))
        .build()
    )
    instance, effects = await submitted(template)
    assert names_of(instance, effects) == ["RunTask:extract_a-t", "RunTask:extract_b-t"]
    assert succeed(instance, "extract_a-t") == ["RunTask:report-t"]
    assert statuses(instance)["extract_b"] == "EXECUTING"
    assert succeed(instance, "report-t") == []
    assert succeed(instance, "extract_b-t") == ["RunTask:transform-t"]
    assert succeed(instance, "transform-t") == ["RunTask:load-t"]
    assert succeed(instance, "load-t")[-1] == "InstanceFinished:COMPLETED"
    assert set(statuses(instance).values()) == {"COMPLETED"}


async def test_a_node_is_its_whole_chain(engine: Dagger) -> None:
    """``c`` needs ``a``, which is followed by ``a2``: it waits for ``a2`` too."""
    template = graph_workflow(
        engine,
        task(engine, "a", after=task(engine, "a2")),
        task(engine, "b"),
        task(engine, "c", ["a"]),
    )
    instance, effects = await submitted(template)
    assert names_of(instance, effects) == ["RunTask:a", "RunTask:b"]
    assert succeed(instance, "a") == ["RunTask:a2"]
    assert succeed(instance, "a2") == ["RunTask:c"]


CASES = {
    "succeeded": ["ok", "ok2"],
    "one failed": ["ok", "bad"],
    "all failed": ["bad", "bad2"],
    "one skipped": ["ok", "gone"],
}
EXPECTED = {
    TriggerRule.ALL_SUCCESS: ["COMPLETED", "SKIPPED", "SKIPPED", "SKIPPED"],
    TriggerRule.ALL_DONE: ["COMPLETED", "COMPLETED", "COMPLETED", "COMPLETED"],
    TriggerRule.ONE_SUCCESS: ["COMPLETED", "COMPLETED", "SKIPPED", "COMPLETED"],
    TriggerRule.ALL_FAILED: ["SKIPPED", "SKIPPED", "COMPLETED", "SKIPPED"],
    TriggerRule.ONE_FAILED: ["SKIPPED", "COMPLETED", "COMPLETED", "SKIPPED"],
    TriggerRule.NONE_FAILED: ["COMPLETED", "SKIPPED", "SKIPPED", "COMPLETED"],
    TriggerRule.NONE_SKIPPED: ["COMPLETED", "COMPLETED", "COMPLETED", "SKIPPED"],
}


@pytest.mark.parametrize("rule", list(TriggerRule))
async def test_every_trigger_rule_in_a_running_workflow(engine: Dagger, rule: TriggerRule) -> None:
    found = []
    for needs in CASES.values():
        nodes = {
            "ok": task(engine, "ok"),
            "ok2": task(engine, "ok2"),
            "bad": task(engine, "bad", task_type=FailingTask),
            "bad2": task(engine, "bad2", task_type=FailingTask),
        }
        wanted = [*needs, "bad"] if "gone" in needs else needs
        chosen = [nodes[name] for name in dict.fromkeys(wanted) if name in nodes]
        if "gone" in needs:
            chosen.append(task(engine, "gone", ["bad"]))
        chosen.append(task(engine, "x", needs, rule.value))
        instance, effects = await submitted(graph_workflow(engine, *chosen))
        instance, _ = await drive(instance, effects, NOW)
        found.append(statuses(instance)["x"])
        failed = any(name.startswith("bad") for name in wanted)
        assert instance.status.code == ("FAILURE" if failed else "COMPLETED")
    assert found == EXPECTED[rule]


async def test_a_skip_propagates_until_a_rule_takes_it(engine: Dagger) -> None:
    # Declared after what needs them, so each skip is judged again in the same step.
    template = graph_workflow(
        engine,
        task(engine, "cleanup", ["c"], "all_done"),
        task(engine, "c", ["b"]),
        task(engine, "b", ["a"]),
        task(engine, "a", task_type=FailingTask),
    )
    instance, effects = await submitted(template)
    instance, _ = await drive(instance, effects, NOW)
    assert statuses(instance) == {
        "P": "FAILURE",
        "P_needs": "FAILURE",
        "a": "FAILURE",
        "b": "SKIPPED",
        "c": "SKIPPED",
        "cleanup": "COMPLETED",
    }
    b, c = named(instance, "b"), named(instance, "c")
    assert (b.error_type, b.error_message) == (
        NEEDS_NOT_MET,
        "trigger rule all_success not met: a FAILURE",
    )
    assert (c.error_type, c.error_message) == (
        NEEDS_NOT_MET,
        "trigger rule all_success not met: b SKIPPED",
    )
    assert instance.runtime_parameters["ran"] == ["cleanup"]
    # The workflow records the failed task's error as a chain of processes would.
    assert (instance.error_type, instance.error_message) == ("RuntimeError", "P: a: boom")


async def test_a_failed_node_does_not_stop_its_running_siblings(engine: Dagger) -> None:
    template = graph_workflow(
        engine,
        task(engine, "a", task_type=FailingTask),
        task(engine, "b"),
        task(engine, "c", ["b"]),
    )
    instance, effects = await submitted(template)
    assert names_of(instance, effects) == ["RunTask:a", "RunTask:b"]
    failed = core_step(instance, _failure(instance, "a"), NOW).effects
    assert failed == []
    assert statuses(instance)["b"] == "EXECUTING"
    assert succeed(instance, "b") == ["RunTask:c"]
    last = core_step(instance, TaskSucceeded(named(instance, "c").id), NOW).effects
    assert InstanceFinished("FAILURE") in last


def _failure(instance: ITemplateDAGInstance[Any, Any], name: str) -> TaskFailed:
    return TaskFailed(named(instance, name).id, "RuntimeError", "boom")


async def test_a_retry_runs_the_failed_node_again_and_then_what_it_skipped(
    engine: Dagger,
) -> None:
    template = graph_workflow(
        engine,
        task(engine, "a"),
        task(engine, "b", ["a"], task_type=FailsOnce),
        task(engine, "c", ["a"]),
        task(engine, "d", ["b", "c"]),
    )
    instance, effects = await submitted(template)
    instance, _ = await drive(instance, effects, NOW)
    assert instance.status.code == "FAILURE"
    assert statuses(instance)["d"] == "SKIPPED"
    retried = core_step(instance, RetryRequested("e-retry", instance.id), NOW + 10).effects
    assert [e for e in names_of(instance, retried) if e.startswith("RunTask")] == ["RunTask:b"]
    assert statuses(instance)["d"] == "NOT_STARTED"
    instance, _ = await drive(instance, retried, NOW + 10)
    assert instance.status.code == "COMPLETED"
    assert instance.runtime_parameters["ran"] == ["a", "c", "b", "d"]


async def test_a_plain_chain_is_built_as_before(engine: Dagger) -> None:
    """One root task without needs makes no graph: the process's root is the task."""
    template = graph_workflow(engine, task(engine, "only", after=task(engine, "next")))
    instance, effects = await submitted(template)
    assert [type(t).__name__ for t in instance.tasks.values()] == [
        "DefaultProcessTemplateDAGInstance",
        "RecordingTask",
        "RecordingTask",
    ]
    assert effects == [RunTask(named(instance, "only").id)]


async def test_task_templates_given_as_processes_keep_their_needs(engine: Dagger) -> None:
    """``add_process`` takes a task template as the original's builders did: a process of it."""
    template = (
        DefaultTemplateBuilder(engine)
        .set_name(unique("tasks-as-processes"))
        .set_root(task(engine, "first"))
        .add_process(task(engine, "second"))
        .add_process(task(engine, "join", ["first", "second"]))
        .build()
    )
    instance, effects = await submitted(template)
    assert names_of(instance, effects) == ["RunTask:first", "RunTask:second"]
    assert succeed(instance, "first") == []
    assert succeed(instance, "second") == ["RunTask:join"]
