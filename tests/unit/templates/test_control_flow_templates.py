"""Builders of decisions, parallel composites and dynamic processes, and the shapes they create.

The processes chosen for dynamic and parallel processes belong to the asyncio task that
chose them and are read when ``create_instance`` is called, so instances created side by
side with different shapes never cross.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from dagger.modeler.builder_helper import DAGBuilderHelper
from dagger.modeler.definition import (
    DefaultTemplateBuilder,
    DynamicProcessTemplateDAG,
    DynamicProcessTemplateDagBuilder,
    ParallelCompositeProcessTemplateDAG,
    ParallelCompositeProcessTemplateDagBuilder,
)
from dagger.service.services import Dagger
from dagger.tasks.task import (
    DecisionTask,
    DefaultProcessTemplateDAGInstance,
    ITemplateDAGInstance,
    ParallelCompositeTask,
    TaskOperator,
)
from dagger.templates.template import (
    DecisionTaskTemplateBuilder,
    DefaultTaskTemplateBuilder,
    ITemplateDAG,
    ParallelCompositeTaskTemplateBuilder,
)
from tests.unit._control_flow_workflows import (
    Fanout,
    Route,
    chain,
    decide,
    one_process,
    parallel,
    process,
    step,
    workflow,
)
from tests.unit._workflows import OfflineEngine, RecordingTask


async def _create(template: ITemplateDAG, **params: Any) -> ITemplateDAGInstance[Any, Any]:
    params.setdefault("order_id", "o-1")
    return await template.create_instance("i-1", "order_id", seed=random.Random(0), **params)


def _named(instance: ITemplateDAGInstance[Any, Any], name: str) -> list[Any]:
    return [task for task in instance.tasks.values() if task.task_name == name]


def _one(instance: ITemplateDAGInstance[Any, Any], name: str) -> Any:
    [task] = _named(instance, name)
    return task


def _process_order(instance: ITemplateDAGInstance[Any, Any]) -> list[str]:
    """Names of the top-level processes, following next_dags from the root."""
    order: list[str] = []
    current = instance.root_dag
    while current is not None:
        node = instance.get_task(current)
        order.append(node.task_name)
        current = node.next_dags[0] if node.next_dags else None
    return order


# -- decision builder --------------------------------------------------------------------


def test_a_decision_builder_takes_only_decision_classes(engine: Dagger) -> None:
    builder = DecisionTaskTemplateBuilder(engine).set_name("route")
    with pytest.raises(TypeError, match="subclass of DecisionTask"):
        builder.set_type(RecordingTask)
    with pytest.raises(TypeError, match="implement evaluate"):
        builder.set_type(DecisionTask)  # type: ignore[type-abstract]


def test_a_decision_needs_a_branch(engine: Dagger) -> None:
    builder = DecisionTaskTemplateBuilder(engine).set_name("route").set_type(Route)
    with pytest.raises(ValueError, match="'route' needs at least one branch"):
        builder.build()


def test_decision_branches_need_distinct_first_task_names(engine: Dagger) -> None:
    builder = (
        DecisionTaskTemplateBuilder(engine)
        .set_name("route")
        .set_type(Route)
        .set_next(step(engine, "x"))
        .set_next(step(engine, "y"))
        .set_next(chain(engine, "x", "x2"))
    )
    with pytest.raises(ValueError, match=r"same task name \['x'\]"):
        builder.build()


def test_a_decision_needs_a_name_and_a_type(engine: Dagger) -> None:
    builder = DecisionTaskTemplateBuilder(engine).set_next(step(engine, "x"))
    with pytest.raises(ValueError, match="set_name"):
        builder.build()


async def test_each_instance_gets_its_own_branch_ids(engine: Dagger) -> None:
    template = one_process(
        engine, decide(engine, "route", step(engine, "x"), step(engine, "y"), step(engine, "z"))
    )
    first = await _create(template)
    second = await template.create_instance("i-2", "order_id", order_id="o-2")

    one, two = _one(first, "route"), _one(second, "route")
    assert list(one.branch_names) == ["x", "y", "z"]
    assert one.branch_names["y"] == _one(first, "y").id
    assert two.branch_names["y"] == _one(second, "y").id
    assert one.branch_names["y"] != two.branch_names["y"]
    assert one.next_dags == list(one.branch_names.values())
    assert all(_one(first, name).parent_id == _one(first, "P").id for name in "xyz")


# -- parallel composite of tasks ---------------------------------------------------------


def test_a_parallel_task_builder_checks_what_it_is_given(engine: Dagger) -> None:
    a = step(engine, "a")
    with pytest.raises(ValueError, match="set_name"):
        ParallelCompositeTaskTemplateBuilder(engine).add_parallel_task(a).build()
    with pytest.raises(ValueError, match="'par' has no branches"):
        ParallelCompositeTaskTemplateBuilder(engine).set_name("par").build()
    with pytest.raises(TypeError, match="subclass of ParallelCompositeTask"):
        ParallelCompositeTaskTemplateBuilder(engine).set_type(RecordingTask)
    with pytest.raises(TypeError, match="JOIN_ALL"):
        ParallelCompositeTaskTemplateBuilder(engine).set_task_operator("JOIN_ALL")  # type: ignore[arg-type]
    unbuilt = DefaultTaskTemplateBuilder(engine).set_name("b").set_type(RecordingTask)
    with pytest.raises(TypeError, match=r"\.build\(\)"):
        ParallelCompositeTaskTemplateBuilder(engine).add_parallel_task(unbuilt)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=">= 0"):
        ParallelCompositeTaskTemplateBuilder(engine, no_of_parallel_tasks=-1)
    with pytest.raises(TypeError, match="int"):
        ParallelCompositeTaskTemplateBuilder(engine, no_of_parallel_tasks=True)
    with pytest.raises(TypeError, match="task_template"):
        ParallelCompositeTaskTemplateBuilder(engine, no_of_parallel_tasks=2)


async def test_copies_of_one_task_template_are_separate_branches(engine: Dagger) -> None:
    par = (
        ParallelCompositeTaskTemplateBuilder(
            engine, no_of_parallel_tasks=3, task_template=step(engine, "quote")
        )
        .set_name("par")
        .add_parallel_task(step(engine, "extra"))
        .set_next(step(engine, "after"))
        .build()
    )
    instance = await _create(one_process(engine, par))

    composite = _one(instance, "par")
    quotes = _named(instance, "quote")
    assert len({task.id for task in quotes}) == 3
    assert composite.parallel_child_task_list == [
        *(task.id for task in quotes),
        _one(instance, "extra").id,
    ]
    assert composite.operator_type == "JOIN_ALL"
    assert (composite.task_type, type(composite)) == ("PARALLEL_COMPOSITE", ParallelCompositeTask)
    assert composite.next_dags == [_one(instance, "after").id]
    assert composite.parent_id == _one(instance, "P").id
    assert {task.parent_id for task in quotes} == {composite.id}
    assert {task.process_name for task in quotes} == {"P"}


async def test_a_branch_is_a_task_and_the_tasks_after_it(engine: Dagger) -> None:
    par = parallel(
        engine,
        "par",
        chain(engine, "a", "a2"),
        step(engine, "b"),
        operator=TaskOperator.ATLEAST_ONE,
        task_type=Fanout,
    )
    instance = await _create(one_process(engine, par))

    composite = _one(instance, "par")
    assert type(composite) is Fanout
    assert composite.operator_type == "ATLEAST_ONE"
    assert composite.parallel_child_task_list == [_one(instance, "a").id, _one(instance, "b").id]
    assert _one(instance, "a").next_dags == [_one(instance, "a2").id]
    assert _one(instance, "a2").parent_id == composite.id


# -- parallel composite of processes -----------------------------------------------------


def test_a_parallel_process_builder_has_no_root_task_nor_timeout(engine: Dagger) -> None:
    builder = ParallelCompositeProcessTemplateDagBuilder(engine)
    with pytest.raises(NotImplementedError, match="set_parallel_process_templates"):
        builder.set_root_task(step(engine, "a"))
    with pytest.raises(NotImplementedError, match="parallel processes"):
        builder.set_max_run_duration(5)


def test_a_parallel_process_builder_checks_what_it_is_given(engine: Dagger) -> None:
    with pytest.raises(ValueError, match="set_name"):
        ParallelCompositeProcessTemplateDagBuilder(engine).set_parallel_process_templates(
            [process(engine, "pA", step(engine, "a"))]
        ).build()
    with pytest.raises(TypeError, match="process templates or their builders"):
        ParallelCompositeProcessTemplateDagBuilder(engine).set_parallel_process_templates(
            [step(engine, "a")]  # type: ignore[list-item]
        )
    with pytest.raises(TypeError, match="subclass of ParallelCompositeTask"):
        ParallelCompositeProcessTemplateDagBuilder(engine).set_type(
            DefaultProcessTemplateDAGInstance
        )
    with pytest.raises(TypeError, match="JOIN_ALL"):
        ParallelCompositeProcessTemplateDagBuilder(engine).set_parallel_operator_type(1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="built process template"):
        ParallelCompositeProcessTemplateDagBuilder(engine).set_next_process(
            process(engine, "q", step(engine, "q1"))  # type: ignore[arg-type]
        )


def test_parallel_processes_are_added_one_per_call_or_replaced_by_a_list(engine: Dagger) -> None:
    builder = (
        ParallelCompositeProcessTemplateDagBuilder(engine)
        .set_name("fan")
        .set_parallel_process_templates(process(engine, "pA", step(engine, "a")))
        .set_parallel_process_templates(process(engine, "pB", step(engine, "b")).build())
        .set_parallel_process_templates([process(engine, "pC", step(engine, "c"))])
    )
    fan: Any = builder.build()
    assert [child.name for child in fan.child_process_task_templates] == ["pA", "pB", "pC"]

    builder.set_parallel_process_template_dags([process(engine, "pD", step(engine, "d"))])
    replaced: Any = builder.build()
    assert [child.name for child in replaced.child_process_task_templates] == ["pD"]


def test_a_parallel_process_may_be_built_without_branches(engine: Dagger) -> None:
    fan: Any = ParallelCompositeProcessTemplateDagBuilder(engine).set_name("fan").build()

    assert fan.child_process_task_templates == []


@pytest.mark.parametrize("where", ["set_next_process", "set_root"])
def test_a_task_template_where_a_process_goes_runs_as_a_process_of_its_own(
    engine: Dagger, where: str
) -> None:
    either = parallel(engine, "either", step(engine, "a"), step(engine, "b"))
    if where == "set_next_process":
        builder: Any = process(engine, "P", step(engine, "p")).set_next_process(either)
        wrapper = builder.build().next_process_dag[0]
    else:
        template: Any = (
            DefaultTemplateBuilder(engine).set_name("t").set_root(either).build()  # type: ignore[arg-type]
        )
        wrapper = template.root_process_dag

    assert wrapper.name == "either"
    assert wrapper.root_task_dag is either
    assert wrapper.next_process_dag == []


def test_a_parallel_process_builder_takes_builders_and_templates(engine: Dagger) -> None:
    built = process(engine, "pB", step(engine, "b")).build()
    fan = (
        ParallelCompositeProcessTemplateDagBuilder(engine)
        .set_name("fan")
        .set_type(Fanout)
        .set_parallel_process_templates([process(engine, "pA", step(engine, "a")), built])
        .set_parallel_operator_type(TaskOperator.ATLEAST_ONE)
        .build()
    )
    assert isinstance(fan, ParallelCompositeProcessTemplateDAG)
    assert [child.name for child in fan.child_process_task_templates] == ["pA", "pB"]
    assert fan.child_process_task_templates[1] is built
    assert fan.parallel_operator_type is TaskOperator.ATLEAST_ONE
    assert fan.process_type is Fanout


# -- dynamic processes -------------------------------------------------------------------


def test_a_dynamic_process_builder_has_no_root_task_nor_type(engine: Dagger) -> None:
    builder = DynamicProcessTemplateDagBuilder(engine)
    with pytest.raises(NotImplementedError):
        builder.set_root_task(step(engine, "a"))
    with pytest.raises(NotImplementedError):
        builder.set_type(DefaultProcessTemplateDAGInstance)
    with pytest.raises(ValueError, match="set_name"):
        builder.build()
    with pytest.raises(ValueError, match=">= 0"):
        builder.set_max_run_duration(-1)


def test_the_helper_builds_a_dynamic_process_with_its_timeout(engine: Dagger) -> None:
    helper = DAGBuilderHelper(dagger_app=engine)

    built = helper.generic_dynamic_process_builder(name="items", max_run_duration=30).build()

    assert isinstance(built, DynamicProcessTemplateDAG)
    assert (built.name, built.max_run_duration) == ("items", 30)


def _items_template(engine: Dagger, *, max_run_duration: int = 0) -> Any:
    """start -> items (dynamic) -> tail."""
    dynamic = DynamicProcessTemplateDagBuilder(engine).set_name("items")
    dynamic.set_max_run_duration(max_run_duration)
    return workflow(
        engine,
        process(engine, "start", step(engine, "s")),
        dynamic,
        process(engine, "tail", step(engine, "t")),
    )


def _item(engine: Dagger, n: int, **options: Any) -> Any:
    return process(engine, f"item{n}", step(engine, f"item{n}_task"), **options)


async def test_chosen_processes_run_in_order_before_the_next_process(engine: Dagger) -> None:
    template = _items_template(engine)
    template.set_dynamic_builders_for_process_template(
        "items", [_item(engine, 1), _item(engine, 2), _item(engine, 3)]
    )

    instance = await _create(template)

    assert _process_order(instance) == ["start", "item1", "item2", "item3", "tail"]
    assert _named(instance, "items") == []
    assert {_one(instance, f"item{n}").parent_id for n in (1, 2, 3)} == {instance.id}


async def test_with_nothing_chosen_the_dynamic_process_is_empty(engine: Dagger) -> None:
    instance = await _create(_items_template(engine, max_run_duration=7))

    assert _process_order(instance) == ["start", "items", "tail"]
    empty = _one(instance, "items")
    assert (empty.root_dag, empty.max_run_duration) == (None, 7)


async def test_the_dynamic_process_default_is_used_until_the_template_chooses(
    engine: Dagger,
) -> None:
    template = _items_template(engine)
    dynamic = template.get_given_process("items")
    dynamic.set_dynamic_process_builders([_item(engine, 9)])

    assert _process_order(await _create(template)) == ["start", "item9", "tail"]

    template.set_dynamic_builders_for_process_template("items", [_item(engine, 1)])
    assert _process_order(await _create(template)) == ["start", "item1", "tail"]
    # The choice holds for every instance created next in this task.
    assert _process_order(await _create(template)) == ["start", "item1", "tail"]


async def test_a_chosen_process_keeps_its_own_timeout_or_gets_the_dynamic_one(
    engine: Dagger,
) -> None:
    template = _items_template(engine, max_run_duration=30)
    template.set_dynamic_builders_for_process_template(
        "items", [_item(engine, 1), _item(engine, 2, max_run_duration=5)]
    )

    instance = await _create(template)

    assert _one(instance, "item1").max_run_duration == 30
    assert _one(instance, "item2").max_run_duration == 5
    assert _one(instance, "start").max_run_duration == 0


async def test_the_same_process_chosen_twice_is_created_twice(engine: Dagger) -> None:
    template = _items_template(engine)
    item = _item(engine, 1).build()
    template.set_dynamic_builders_for_process_template("items", [item, item])

    instance = await _create(template)

    assert _process_order(instance) == ["start", "item1", "item1", "tail"]
    assert item.next_process_dag == []


def _fan_template(engine: Dagger) -> Any:
    """fan (pA | pB) -> items (dynamic) -> tail."""
    fan = (
        ParallelCompositeProcessTemplateDagBuilder(engine)
        .set_name("fan")
        .set_parallel_process_templates(
            [process(engine, "pA", step(engine, "a")), process(engine, "pB", step(engine, "b"))]
        )
    )
    return workflow(
        engine,
        fan,
        DynamicProcessTemplateDagBuilder(engine).set_name("items"),
        process(engine, "tail", step(engine, "t")),
    )


async def test_get_given_process_finds_processes_anywhere_in_the_workflow(
    engine: Dagger,
) -> None:
    template = _fan_template(engine)

    found = {name: template.get_given_process(name) for name in ("fan", "pB", "items", "tail")}

    assert isinstance(found["fan"], ParallelCompositeProcessTemplateDAG)
    assert isinstance(found["items"], DynamicProcessTemplateDAG)
    assert found["pB"] is not None and found["pB"].name == "pB"
    assert found["tail"] is not None and found["tail"].name == "tail"
    assert template.get_given_process("nowhere") is None


def test_choosing_processes_says_what_was_wrong(engine: Dagger) -> None:
    template: Any = _fan_template(engine)
    builder = process(engine, "pX", step(engine, "x"))
    with pytest.raises(ValueError, match="no process named 'nowhere'"):
        template.set_dynamic_builders_for_process_template("nowhere", [builder])
    with pytest.raises(TypeError, match="not dynamic"):
        template.set_dynamic_builders_for_process_template("fan", [builder])
    with pytest.raises(TypeError, match="list of builders"):
        template.set_dynamic_builders_for_process_template("items", builder)
    with pytest.raises(ValueError, match="no process named 'nowhere'"):
        template.set_parallel_process_template_dags_for_a_composite_process("nowhere", [builder])
    with pytest.raises(TypeError, match="not a parallel composite"):
        template.set_parallel_process_template_dags_for_a_composite_process("items", [builder])
    with pytest.raises(ValueError, match="non-empty"):
        template.set_parallel_process_template_dags_for_a_composite_process("fan", [])
    with pytest.raises(ValueError, match=">= 1"):
        template.set_given_num_of_parallel_processes_for_a_composite_process(0, "fan", builder)
    with pytest.raises(TypeError, match="int"):
        template.set_given_num_of_parallel_processes_for_a_composite_process(True, "fan", builder)
    with pytest.raises(TypeError, match="process builder"):
        template.set_given_num_of_parallel_processes_for_a_composite_process(
            2, "fan", builder.build()
        )
    with pytest.raises(ValueError, match="no process named"):
        template.set_given_num_of_parallel_processes_for_a_composite_process(2, "nope", builder)
    with pytest.raises(TypeError, match="not a parallel composite"):
        template.set_given_num_of_parallel_processes_for_a_composite_process(2, "tail", builder)


async def test_a_given_number_of_copies_runs_side_by_side(engine: Dagger) -> None:
    template: Any = _fan_template(engine)
    template.set_given_num_of_parallel_processes_for_a_composite_process(
        3, "fan", process(engine, "copy", step(engine, "c"))
    )

    instance = await _create(template)

    fan = _one(instance, "fan")
    copies = _named(instance, "copy")
    assert len(copies) == 3 and len(_named(instance, "c")) == 3
    assert fan.parallel_child_task_list == [copy.id for copy in copies]
    assert _named(instance, "pA") == []
    # The choice does not change the template itself.
    assert [p.name for p in template.get_given_process("fan").child_process_task_templates] == [
        "pA",
        "pB",
    ]


async def test_chosen_parallel_processes_replace_the_built_ones(engine: Dagger) -> None:
    template: Any = _fan_template(engine)
    template.set_parallel_process_template_dags_for_a_composite_process(
        "fan",
        [
            process(engine, "pX", step(engine, "x")),
            process(engine, "pY", step(engine, "y")).build(),
        ],
    )

    instance = await _create(template)

    fan = _one(instance, "fan")
    assert fan.parallel_child_task_list == [_one(instance, "pX").id, _one(instance, "pY").id]
    assert _named(instance, "pA") == _named(instance, "pB") == []
    assert _process_order(instance) == ["fan", "items", "tail"]


# -- shapes of instances created side by side --------------------------------------------


def _item_names(instance: ITemplateDAGInstance[Any, Any]) -> list[str]:
    return [name for name in _process_order(instance) if name[len("item") :].isdigit()]


async def test_the_shape_is_read_when_create_instance_is_called(engine: Dagger) -> None:
    template: Any = _items_template(engine)
    template.set_dynamic_builders_for_process_template("items", [_item(engine, 1)])
    first = template.create_instance("i-1", "order_id", order_id="o-1")
    template.set_dynamic_builders_for_process_template(
        "items", [_item(engine, 2), _item(engine, 3)]
    )
    second = template.create_instance("i-2", "order_id", order_id="o-2")

    created_second, created_first = await asyncio.gather(second, first)

    assert _item_names(created_first) == ["item1"]
    assert _item_names(created_second) == ["item2", "item3"]


async def test_tasks_creating_instances_side_by_side_keep_their_own_shapes(
    engine: Dagger,
) -> None:
    template: Any = _items_template(engine)
    both_chose = asyncio.Event()
    chosen = 0

    async def create(order_id: str, items: list[int]) -> ITemplateDAGInstance[Any, Any]:
        nonlocal chosen
        template.set_dynamic_builders_for_process_template(
            "items", [_item(engine, n) for n in items]
        )
        template.set_given_num_of_parallel_processes_for_a_composite_process(
            len(items), "fan", process(engine, "copy", step(engine, "c"))
        )
        chosen += 1
        if chosen == 2:
            both_chose.set()
        await both_chose.wait()
        created: ITemplateDAGInstance[Any, Any] = await template.create_instance(
            f"i-{order_id}", "order_id", order_id=order_id
        )
        return created

    template = _fan_template(engine)
    one, two = await asyncio.gather(create("a", [1]), create("b", [2, 3, 4]))

    assert _item_names(one) == ["item1"]
    assert _item_names(two) == ["item2", "item3", "item4"]
    assert len(_named(one, "copy")) == 1
    assert len(_named(two, "copy")) == 3
    # What the child tasks chose stays in them.
    parent = await template.create_instance("i-parent", "order_id", order_id="p")
    assert _item_names(parent) == []
    assert [p.task_name for p in _named(parent, "pA")] == ["pA"]


async def test_a_choice_belongs_to_its_template(engine: Dagger) -> None:
    first: Any = _items_template(engine)
    second: Any = _items_template(engine)
    first.set_dynamic_builders_for_process_template("items", [_item(engine, 1)])

    assert _item_names(await first.create_instance("i-1", "order_id", order_id="o")) == ["item1"]
    assert _item_names(await second.create_instance("i-2", "order_id", order_id="o")) == []


async def test_a_missing_partition_key_still_raises_when_awaited(offline: OfflineEngine) -> None:
    template: Any = _items_template(offline.dagger)
    pending = template.create_instance("i-1", "order_id", customer="c")
    with pytest.raises(ValueError, match="pass order_id=<value>"):
        await pending
    assert offline.sent == []
