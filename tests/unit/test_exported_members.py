"""The public façades export exactly these names: change a list only on purpose."""

from __future__ import annotations

import importlib

import pytest

EXPORTS = {
    "dagger": ["__version__"],
    "dagger.service.services": ["Dagger"],
    "dagger.service.engineconfig": ["AerospikeConfig", "EngineConfig", "StoreEnum"],
    "dagger.tasks.task": [
        "COMPLETE_BY_KEY",
        "KT",
        "VT",
        "CorrelatableMapValue",
        "CorreletableKeyTasks",
        "CorreletableLookUpKey",
        "DecisionTask",
        "DefaultMonitoringTask",
        "DefaultProcessTemplateDAGInstance",
        "DefaultTemplateDAGInstance",
        "ExecutorTask",
        "IMonitoredTask",
        "INonLeafNodeTask",
        "IProcessTemplateDAGInstance",
        "ITask",
        "ITemplateDAGInstance",
        "IntervalTask",
        "KafkaCommandTask",
        "KafkaListenerTask",
        "MonitoredProcessTemplateDAGInstance",
        "MonitoringTask",
        "ParallelCompositeTask",
        "RetryPolicy",
        "SensorTask",
        "SystemTask",
        "SystemTimerTask",
        "TaskLookupKey",
        "TaskOperator",
        "TaskStatus",
        "TaskStatusEnum",
        "TaskType",
        "Trigger",
        "TriggerRule",
        "TriggerTask",
        "register_alias",
    ],
    "dagger.templates.template": [
        "DecisionTaskTemplateBuilder",
        "DefaultIntervalTaskTemplate",
        "DefaultKafkaTaskTemplate",
        "DefaultTaskTemplate",
        "DefaultTaskTemplateBuilder",
        "DefaultTriggerTaskTemplate",
        "IDynamicProcessTemplateDAG",
        "IProcessTemplateDAG",
        "IProcessTemplateDAGBuilder",
        "ITemplateDAG",
        "ITemplateDAGBuilder",
        "IntervalTaskTemplateBuilder",
        "KafkaCommandTaskTemplateBuilder",
        "KafkaListenerTaskTemplateBuilder",
        "ParallelCompositeTaskTemplate",
        "ParallelCompositeTaskTemplateBuilder",
        "TaskTemplate",
        "TaskTemplateBuilder",
        "TriggerTaskTemplateBuilder",
    ],
    "dagger.modeler.definition": [
        "DefaultTemplateBuilder",
        "DynamicProcessTemplateDAG",
        "DynamicProcessTemplateDagBuilder",
        "ParallelCompositeProcessTemplateDAG",
        "ParallelCompositeProcessTemplateDagBuilder",
        "ProcessTemplateDAG",
        "ProcessTemplateDagBuilder",
        "TemplateDAG",
    ],
    "dagger.modeler.builder_helper": ["DAGBuilderHelper"],
    "dagger.exceptions.exceptions": [
        "ConfigurationError",
        "DaggerError",
        "InvalidTaskType",
        "InvalidTriggerTimeForTask",
        "StaleWriteError",
        "StoreError",
        "TaskInvalidState",
        "TemplateDoesNotExist",
        "UndecodableInstanceError",
        "UnknownTaskClass",
    ],
    "dagger.observability": [
        "Datadog",
        "FanOut",
        "NoTelemetry",
        "OpenTelemetry",
        "Telemetry",
        "trace_headers",
    ],
    "dagger.testing": [
        "EmbeddedBroker",
        "EmbeddedBrokerError",
        "FakeAerospikeClient",
        "LocalEngine",
        "RecordingTopic",
        "SchemaRegistryStandIn",
        "SentMessage",
    ],
    "dagger.serializers.avro": [
        "MAGIC_BYTE",
        "AvroCodec",
        "AvroError",
        "AvroMessageSerializer",
        "InvalidAvroRecord",
        "MalformedAvroMessage",
        "MessageSerializer",
        "SchemaNotFound",
        "SchemaRegistryClient",
        "SchemaRegistryError",
        "frame",
        "unframe",
    ],
    "dagger.ops": [
        "DEFAULT_DEAD_LETTER_TOPIC",
        "REINJECTED_HEADER",
        "BrokerUnavailableError",
        "DeadLetterError",
        "DeadLetterNotFoundError",
        "DeadLetterService",
        "InvalidDeadLetterIdError",
        "NotReinjectableError",
        "UnknownTopicError",
        "consumer_lag",
    ],
    "dagger.web": ["DeadLetterAdmin"],
}


@pytest.mark.parametrize("module_name", sorted(EXPORTS))
def test_all_is_pinned(module_name: str) -> None:
    module = importlib.import_module(module_name)

    assert module.__all__ == EXPORTS[module_name]


@pytest.mark.parametrize("module_name", sorted(EXPORTS))
def test_every_exported_name_is_importable(module_name: str) -> None:
    module = importlib.import_module(module_name)

    for name in module.__all__:
        assert getattr(module, name, None) is not None, f"{module_name}.{name} is missing"
        exec(f"from {module_name} import {name}", {})


@pytest.mark.parametrize("module_name", sorted(set(EXPORTS) - {"dagger"}))
def test_exported_classes_are_the_implementations_not_copies(module_name: str) -> None:
    module = importlib.import_module(module_name)

    for name in module.__all__:
        value = getattr(module, name)
        if isinstance(value, type):
            assert value.__module__.startswith("dagger."), f"{module_name}.{name}"
            assert value.__name__ == name


def test_exceptions_share_the_root_error() -> None:
    from dagger.exceptions import exceptions

    for name in exceptions.__all__:
        assert issubclass(getattr(exceptions, name), exceptions.DaggerError)
    assert issubclass(exceptions.ConfigurationError, ValueError)
