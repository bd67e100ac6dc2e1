"""The :class:`Dagger` engine service."""

from __future__ import annotations

import asyncio
import logging
import sys
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar

import faust
from faust.types import TopicT
from mode import Service

from dagger._faust_internals import EngineFaustApp
from dagger.broker._addresses import resolve_broker
from dagger.broker._tansu_compat import recognise_broker
from dagger.core._events import IndexAdded
from dagger.exceptions.exceptions import ConfigurationError, DaggerError, InvalidTaskType
from dagger.observability._sensor import HookHeadersSensor
from dagger.runtime import _embedded_default
from dagger.runtime._engine import EngineRuntime
from dagger.runtime._held import DEFAULT_HELD_LIMITS
from dagger.runtime._keys_owner import KeysOwner
from dagger.runtime._owner import InstanceOwner
from dagger.runtime._partitioning import partition_for_index_key
from dagger.runtime._records import RecordSender
from dagger.runtime._schedules import ManualRelease, Schedule, ScheduleOwner
from dagger.runtime._settings import EngineSettings
from dagger.runtime._telemetry import NO_TELEMETRY
from dagger.runtime._turns import DEFAULT_MAX_CONCURRENT_HOOKS
from dagger.runtime._updates import UpdatePublisher
from dagger.serializers._passthrough import register_passthrough
from dagger.serializers._registry_client import SchemaRegistryClient
from dagger.service._instance_lifecycle import InstanceLifecycle, LocalSink
from dagger.service._instance_starts import InstanceStarts
from dagger.service._registration import TemplatesAndTopics
from dagger.service._settings import resolve_settings
from dagger.service._worker_view import EngineWorkerView
from dagger.service._workflow_loading import load_workflows
from dagger.service.engineconfig import AerospikeConfig, EngineConfig, StoreEnum
from dagger.tasks._base import ITask, ITemplateDAGInstance, MonitoringTask, SensorTask
from dagger.tasks._engine_link import bind_engine
from dagger.tasks._hook_context import instance_in_hook
from dagger.tasks._intents import Rekey, StopListening
from dagger.tasks._retry_policy import RetryPolicy
from dagger.tasks._status import CorreletableKeyTasks
from dagger.web._dead_letter_admin import KafkaDeadLetters
from dagger.web._server import WebApi

logger = logging.getLogger(__name__)

TaskUpdateCallback = Callable[[ITemplateDAGInstance[Any, Any]], Awaitable[None]]


class Dagger(TemplatesAndTopics, InstanceLifecycle, InstanceStarts, Service):
    """The workflow engine: owns the faust app, the engine topic and the instance store.

    Examples:
        >>> engine = Dagger(broker="kafka://127.0.0.1:9092", store="rocksdb://")  # doctest: +SKIP
        >>> @Dagger.register_template("orders")  # doctest: +SKIP
        ... def orders(template_name: str) -> ITemplateDAG:
        ...     helper = DAGBuilderHelper(dagger_app=engine)
        ...     ...
        >>> engine.main()  # doctest: +SKIP
    """

    app: ClassVar[Dagger]
    topics: ClassVar[dict[str, TopicT]] = {}

    faust_app: Any
    config: EngineConfig
    settings: EngineSettings
    message_serializer: Any
    schema_registry_client: SchemaRegistryClient | None

    def __init__(
        self,
        *,
        broker: str | None = None,
        datadir: str | None = None,
        store: str | None = None,
        application_name: str = "dagger",
        package_name: str = "dagger",
        kafka_partitions: int = 1,
        task_update_topic: str | None = None,
        tasks_topic: str = "dagger_task_topic",
        bootstrap_topic: str = "dagger_bootstrap",
        beacon: Any = None,
        kafka_broker_list: Sequence[str] | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        tracing_sensor: Any = None,
        datadog_sensor: Any = None,
        trigger_interval: float = 60,
        max_tasks_per_trigger: int = 2000,
        restart_tasks_on_boot: bool = True,
        aerospike_config: AerospikeConfig | None = None,
        enable_changelog: bool = True,
        max_correletable_keys_in_values: int = 15000,
        schema_registry_url: str | None = None,
        message_serializer: Any = None,
        delete_workflow_on_complete: bool = False,
        task_update_callbacks: Sequence[TaskUpdateCallback] = (),
        logging_config: dict[str, Any] | None = None,
        consumer_fetch_max_wait: float | None = None,
        dead_letter_topic: str = "dagger_dead_letters",
        early_message_window: float = 300.0,
        message_id_header: str | None = "message-id",
        clock: Callable[[], float] | None = None,
        max_events_per_batch: int = 1000,
        max_concurrent_hooks: int = DEFAULT_MAX_CONCURRENT_HOOKS,
        max_held_messages: int = DEFAULT_HELD_LIMITS.messages_per_partition,
        max_held_bytes: int = DEFAULT_HELD_LIMITS.bytes_per_partition,
        rocksdb_options: Mapping[str, int] | None = None,
        api_token: str | None = None,
        telemetry: Any = None,
        retry_policy: RetryPolicy | None = None,
        intake_topic: str | None = "dagger_intake",
        workflows: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        """Create the engine.

        Args:
            broker: Kafka bootstrap URL, ``kafka://host:port[;host:port]`` (a bare
                ``host:port`` means ``kafka://host:port``, as in faust); when None,
                ``DAGGER_BROKER`` is read, and ``dagger worker`` starts an embedded broker.
            datadir: Directory for the embedded store's files.
            store: ``rocksdb://`` or ``memory://`` (faust tables with a changelog), or
                ``aerospike://`` (shared sets, no changelog; needs ``aerospike_config``).
                When None: ``aerospike://`` if ``aerospike_config`` is given, else
                ``rocksdb://``.
            application_name: faust app id, also the consumer group.
            package_name: Package faust scans for agents and tables (``origin``).
            kafka_partitions: Partitions of the engine topic and its tables.
            task_update_topic: Topic receiving a JSON document per stored instance change.
            tasks_topic: The engine topic: every instance event goes through it.
            bootstrap_topic: Accepted for compatibility; restarts resume from the log.
            beacon: mode beacon for the service tree.
            kafka_broker_list: ``host:port`` list that replaces the hosts of ``broker``.
            loop: Event loop for the engine and its faust app.
            tracing_sensor: A faust ``Sensor`` added to the app, e.g. faust's
                ``faust.contrib.opentelemetry.OpenTelemetrySensor()`` (a span per
                consumed record); the engine's own spans come from ``telemetry``.
            datadog_sensor: A faust ``Monitor``/``Sensor`` added to the app; a faust
                ``DatadogMonitor`` also gets the engine's metrics sent to its agent.
            trigger_interval: The longest the timer tick sleeps, in seconds; it also
                wakes when the earliest timer falls due (timed tasks).
            max_tasks_per_trigger: Most timers fired per tick.
            restart_tasks_on_boot: Accepted for compatibility; False is ignored with a
                warning, because owners always resume their instances from the log.
            aerospike_config: Settings for ``aerospike://`` (ignored, with a warning,
                with the other stores).
            enable_changelog: Accepted for compatibility: embedded stores always keep
                their changelog (False is ignored with a warning, as the original's
                RocksDB store ignored it); ``aerospike://`` has no changelog either way.
            max_correletable_keys_in_values: Chunk size of the correlation index.
            schema_registry_url: Confluent schema registry URL (``http(s)://host:port``);
                the engine then encodes and decodes Avro with an ``AvroMessageSerializer``
                on topics created with a ``key_schema``/``value_schema``.
            message_serializer: Serializer to use instead (anything with
                ``encode_record_with_schema`` and ``decode_message``, such as
                ``dagger.serializers.avro.AvroMessageSerializer``).
            delete_workflow_on_complete: Delete an instance once it finishes.
            task_update_callbacks: Coroutines awaited with the instance after each store.
            logging_config: ``logging.config.dictConfig`` dict used by :meth:`main`.
            consumer_fetch_max_wait: Seconds a consumer fetch waits for data (default
                0.05, or ``DAGGER_CONSUMER_FETCH_MAX_WAIT``); lower means lower latency.
            dead_letter_topic: Topic receiving input that cannot be processed (JSON with
                the reason and the origin topic, partition and offset).
            early_message_window: Seconds a listener message whose key has no waiting
                listener is held for one that registers (0: dropped at once).
            max_held_messages: The most such messages held per partition (and 1,000 per
                key); one more is dead-lettered as ``early_buffer_full``.
            max_held_bytes: The most payload bytes of held messages per partition.
            message_id_header: Header whose value identifies a listener message, so a
                repeated message is applied once (also by topic, partition and offset).
            clock: Function returning the time in epoch seconds (``time.time``); tests
                inject one to jump time.
            max_events_per_batch: Most engine-topic records applied as one batch (a batch
                is what the consumer has fetched). A batch's sends are flushed once, then
                its state is stored, and each instance it changed is published once.
            max_concurrent_hooks: Most user hooks (``execute``, ``on_message``,
                ``evaluate``, ...) of different instances awaiting at once on this worker.
                One instance's events still apply one at a time, in log order.
            retry_policy: How a task whose hook raises runs again (a
                :class:`~dagger.tasks.task.RetryPolicy`), for every task whose builder
                sets none (``set_retry_policy``); None: a failure is final.
            rocksdb_options: Options of each ``rocksdb://`` database (faust opens one per
                table and partition), replacing the engine's bounded defaults
                (:data:`dagger.stores.DEFAULT_ROCKSDB_OPTIONS`): ``write_buffer_size``,
                ``max_write_buffer_number``, ``block_cache_size``, ``target_file_size_base``,
                ``bloom_filter_size``, ``max_open_files``.
            api_token: Bearer token the worker's HTTP API requires on every endpoint but
                readiness (default: ``DAGGER_API_TOKEN``; unset: no token required).
            telemetry: An observer from :mod:`dagger.observability` (``OpenTelemetry()``,
                ``Datadog(...)``) or a list of them; None chooses OpenTelemetry (when
                opentelemetry-api is installed) and Datadog (with a ``DatadogMonitor``
                ``datadog_sensor``); ``[]`` turns the engine's telemetry off.
            intake_topic: JSON topic on which any producer starts instances
                (``{"template", "id"?, "partition_key"?, "params"}``, see
                ``docs/intake.md``); None: no intake agent.
            workflows: Declarative workflow files (paths, globs or folders) compiled into
                templates of this engine (``docs/declarative.md``); needs
                ``import dagger.declarative`` first.
            **kwargs: Further faust settings, passed to ``faust.App``. A name faust does
                not know is ignored with a warning (faust ignores it too);
                ``topic_partitions`` must equal ``kafka_partitions``.
        """
        embedded_url = None
        if resolve_broker(broker, kafka_broker_list) is None:
            embedded_url = _embedded_default.broker_url()
        self.settings = resolve_settings(
            broker=broker,
            datadir=datadir,
            store=store,
            application_name=application_name,
            package_name=package_name,
            kafka_partitions=kafka_partitions,
            task_update_topic=task_update_topic,
            tasks_topic=tasks_topic,
            bootstrap_topic=bootstrap_topic,
            kafka_broker_list=kafka_broker_list,
            trigger_interval=trigger_interval,
            max_tasks_per_trigger=max_tasks_per_trigger,
            restart_tasks_on_boot=restart_tasks_on_boot,
            aerospike_config=aerospike_config,
            enable_changelog=enable_changelog,
            max_correletable_keys_in_values=max_correletable_keys_in_values,
            schema_registry_url=schema_registry_url,
            message_serializer=message_serializer,
            delete_workflow_on_complete=delete_workflow_on_complete,
            logging_config=logging_config,
            consumer_fetch_max_wait=consumer_fetch_max_wait,
            dead_letter_topic=dead_letter_topic,
            early_message_window=early_message_window,
            message_id_header=message_id_header,
            clock=clock,
            api_token=api_token,
            embedded_broker_url=embedded_url,
            max_events_per_batch=max_events_per_batch,
            max_concurrent_hooks=max_concurrent_hooks,
            max_held_messages=max_held_messages,
            max_held_bytes=max_held_bytes,
            rocksdb_options=rocksdb_options,
            faust_kwargs=kwargs,
            telemetry=telemetry,
            datadog_sensor=datadog_sensor,
            intake_topic=intake_topic,
        )
        for sensor, argument in (
            (tracing_sensor, "tracing_sensor"),
            (datadog_sensor, "datadog_sensor"),
        ):
            if sensor is not None and not isinstance(sensor, faust.Sensor):
                raise TypeError(f"{argument} must be a faust.Sensor, got {type(sensor).__name__}")
        self._sensors = [
            sensor for sensor in (tracing_sensor, datadog_sensor) if sensor is not None
        ]
        if retry_policy is not None and not isinstance(retry_policy, RetryPolicy):
            raise TypeError(f"retry_policy must be a RetryPolicy, got {retry_policy!r}")
        self.default_retry_policy = retry_policy
        self._loop_arg = loop
        self._task_update_callbacks = list(task_update_callbacks)
        self.config = EngineConfig(
            BROKER=self.settings.broker,
            DATADIR=self.settings.datadir,
            STORE=self.settings.store,
            APPLICATION_NAME=application_name,
            PACKAGE_NAME=package_name,
            KAFKA_PARTITIONS=self.settings.kafka_partitions,
            KWARGS=kwargs,
        )
        self.trigger_interval = self.settings.trigger_interval
        self.max_tasks_per_trigger = self.settings.max_tasks_per_trigger
        self.max_correletable_keys_in_values = self.settings.max_correletable_keys_in_values
        self.delete_workflow_on_complete = self.settings.delete_workflow_on_complete
        self.task_update_callbacks = self._task_update_callbacks
        self.kafka_broker_list = list(kafka_broker_list or [])
        self.message_serializer = self.settings.serialization.message_serializer
        self.schema_registry_client = self.settings.serialization.schema_registry_client
        super().__init__(beacon=beacon, loop=loop)
        if workflows:
            load_workflows(self, workflows)

    def __post_init__(self) -> None:
        """Create the faust app, the engine topic, the instance table and the owner agent."""
        settings = self.settings
        app_kwargs: dict[str, Any] = dict(settings.faust_settings)
        if self._loop_arg is not None:
            app_kwargs["loop"] = self._loop_arg
        self.faust_app = EngineFaustApp(
            settings.application_name,
            broker=settings.broker,
            version=1,
            autodiscover=settings.package_name != "dagger",
            origin=settings.package_name,
            # aerospike:// state is in Aerospike sets, not in faust tables: faust opens none.
            store=StoreEnum.MEMORY.value if settings.aerospike else settings.store,
            datadir=settings.datadir,
            key_serializer="raw",
            # The original's default: topics without a codec carry raw values.
            value_serializer=register_passthrough(),
            topic_partitions=settings.kafka_partitions,
            consumer_fetch_max_wait=settings.consumer_fetch_max_wait,
            **app_kwargs,
        )
        # The embedded broker is known by its cluster id: it needs the end-offset correction.
        self.faust_app.broker_identified.append(recognise_broker)
        for sensor in self._sensors:
            self.faust_app.sensors.add(sensor)
        if settings.telemetry is not NO_TELEMETRY:
            self.faust_app.sensors.add(HookHeadersSensor(settings.telemetry))
        Dagger.app = self
        bind_engine(self)
        Dagger.topics = {}
        self.template_dags = {}
        self.process_templates = {}
        self.tasks_topic = self.faust_app.topic(
            settings.tasks_topic, partitions=settings.kafka_partitions, internal=True
        )
        self.task_update_topic = (
            self.faust_app.topic(
                settings.task_update_topic, partitions=settings.kafka_partitions, internal=True
            )
            if settings.task_update_topic
            else None
        )
        self._runtime = EngineRuntime(
            faust_app=self.faust_app,
            tasks_topic=self.tasks_topic,
            settings=settings,
            publisher=UpdatePublisher(
                RecordSender(self.faust_app, settings.task_update_topic)
                if settings.task_update_topic
                else None,
                self._task_update_callbacks,
            ),
            starter=self,
        )
        self._listener_concurrency: dict[str, int] = {}
        self._declared = False
        self._local_sink: LocalSink | None = None
        self._local_owners: tuple[InstanceOwner, KeysOwner] | None = None
        self._local_timers: Callable[[], Awaitable[int]] | None = None
        self._local_schedules: ScheduleOwner | None = None
        self._web_api = WebApi(
            self,
            dead_letters=KafkaDeadLetters(
                settings.bootstrap_servers,
                settings.dead_letter_topic,
                message_id_header=settings.message_id_header,
            ),
        )
        self.faust_app.webserver_installers.append(lambda web: self._web_api.install(web))

    # -- listeners and the correlation index --------------------------------------------
    def register_listener(self, topic_name: str, task_type: type[SensorTask[Any, Any]]) -> None:
        """Route the messages of ``topic_name`` to listeners of ``task_type``."""
        topic = self.topics.get(topic_name) or self.create_topic(topic_name)
        concurrency = self._listener_concurrency.get(topic_name, 1)
        self._runtime.add_listener(topic_name, topic, task_type, concurrency)

    def set_listener_concurrency(self, topic_name: str, concurrency: int) -> None:
        """Set how many messages of a listener topic are routed at once (before its listeners)."""
        self._listener_concurrency[topic_name] = concurrency

    async def update_correletable_key_for_task(
        self,
        task_instance: ITask[Any, Any],
        key: str | None = None,
        new_task: bool = False,
        workflow_instance: ITemplateDAGInstance[Any, Any] | None = None,
    ) -> None:
        """Re-key a waiting listener: set its correlation parameter to ``key`` and move it.

        Call it from a hook (``execute``/``on_message``); the index moves when the hook
        returns. ``new_task`` is accepted for compatibility.
        """
        workflow_instance = _hook_instance("update_correletable_key_for_task", workflow_instance)
        if not isinstance(task_instance, SensorTask):
            raise InvalidTaskType(f"{type(task_instance).__name__} is not a listener task")
        if key is not None:
            workflow_instance.runtime_parameters[str(task_instance.correlatable_key)] = key
        workflow_instance.record_intent(Rekey(task_instance.id))

    async def remove_task_from_correletable_keys_table(
        self,
        task: ITask[Any, Any],
        workflow_instance: ITemplateDAGInstance[Any, Any] | None = None,
    ) -> None:
        """Remove a listener from the index when the running hook returns."""
        workflow_instance = _hook_instance(
            "remove_task_from_correletable_keys_table", workflow_instance
        )
        workflow_instance.record_intent(StopListening(task.id))

    async def chunk_and_store_correlatable_tasks(
        self, cor_instance: CorreletableKeyTasks, value: Any, workflow_id: Any
    ) -> None:
        """Add the listener ``value`` (a task id) of ``workflow_id`` under ``cor_instance.key``."""
        instance = self._owners()[0].load(str(workflow_id))
        if instance is None:
            raise DaggerError(f"instance {workflow_id} is not held by this worker")
        event = IndexAdded(
            str(uuid.uuid4()), cor_instance.key, instance.id, str(value), instance.owner_partition
        )
        await self._send(
            event,
            cor_instance.key,
            partition_for_index_key(cor_instance.key, self.settings.kafka_partitions),
        )

    async def get_correletable_key_instances(
        self, cor_instance: CorreletableKeyTasks
    ) -> list[CorreletableKeyTasks]:
        """Return the chunks stored under ``cor_instance.key`` on this worker."""
        return self._owners()[1].chunks(cor_instance.key)

    update_correlatable_key_for_task = update_correletable_key_for_task
    remove_task_from_correlatable_keys_table = remove_task_from_correletable_keys_table
    get_correlatable_key_instances = get_correletable_key_instances

    @property
    def max_correlatable_keys_in_values(self) -> int:
        """Correctly spelled alias of ``max_correletable_keys_in_values``."""
        return self.max_correletable_keys_in_values

    async def fire_due_timers(self) -> int:
        """Fire the timers that are due now (the timer tick); return how many fired."""
        if self._local_timers is not None:
            return await self._local_timers()
        return await self._runtime.fire_due()

    def add_schedule(self, schedule: Schedule) -> None:
        """Release the workflow ``schedule.workflow`` (a template's name) on its cron.

        Each fire starts one instance, whose id is derived from the workflow and the
        fire's logical time (see docs/declarative.md, "Schedules and releases").
        """
        if schedule.workflow not in self.template_dags:
            raise ValueError(
                f"no template named {schedule.workflow!r} to schedule: register it first"
            )
        self._runtime.add_schedule(schedule)

    def release_after(self, workflow: str, upstream: Sequence[str]) -> None:
        """Start ``workflow`` (with its default params) when an instance of one of the
        ``upstream`` templates completes, once per upstream instance."""
        if workflow not in self.template_dags:
            raise ValueError(f"no template named {workflow!r} to release: register it first")
        for name in upstream:
            released = self._runtime.released_after.setdefault(name, [])
            if workflow not in released:
                released.append(workflow)

    @property
    def schedules(self) -> Mapping[str, Schedule]:
        """The schedules by workflow name."""
        return self._runtime.schedules

    def release_owner(self) -> ScheduleOwner:
        """What applies the schedules and holds the release audit in this process."""
        if self._local_schedules is not None:
            return self._local_schedules
        return self._runtime.schedule_owner

    async def request_release(
        self,
        workflow: str,
        kind: str,
        *,
        logical_time: float | None = None,
        original: str | None = None,
    ) -> ManualRelease:
        """Release the scheduled ``workflow`` by hand: ``force``, ``dry-run`` or ``rerun``.

        ``force`` starts the release of ``logical_time`` (default: now) whatever the
        schedule's max-active and catch-up say; ``dry-run`` audits what it would be and
        starts nothing; ``rerun`` starts the release keyed ``original`` again as a new
        instance. The request is an event the owner of the workflow's schedule applies
        (docs/declarative.md, "Schedules and releases"); it is checked here against the
        audit this process holds, so ask the worker that owns the schedule. Returns what
        the release will be (its key and instance id); raises ReleaseRefused, with an
        HTTP status, for a request that cannot be made.
        """
        owner = self.release_owner()
        release = owner.request(workflow, kind, logical_time=logical_time, original=original)
        await self._send(release.event, workflow, owner.partition_of(workflow))
        return release

    async def get_monitoring_task(
        self, task: ITask[Any, Any], workflow_instance: ITemplateDAGInstance[Any, Any]
    ) -> MonitoringTask[Any, Any] | None:
        """Return the monitoring task that watches ``task`` in ``workflow_instance``, or None.

        A monitored process gets its monitoring task when it starts (and only when the
        instance has a ``complete_by_time``), so before that this returns None.
        """
        for candidate in workflow_instance.tasks.values():
            if isinstance(candidate, MonitoringTask) and candidate.monitored_task_id == task.id:
                return candidate
        return None

    def get_db_options(self) -> Mapping[str, Any]:
        """Return the options each embedded database is opened with (empty for ``memory://``)."""
        if self.settings.store != StoreEnum.ROCKSDB.value:
            return {}
        return dict(self.settings.rocksdb_options)

    # -- this process's worker ----------------------------------------------------------
    def worker_view(self) -> EngineWorkerView:
        """This process's instance store and the partitions its worker owns (the HTTP API's)."""
        return EngineWorkerView(self)

    def _owners(self) -> tuple[InstanceOwner, KeysOwner]:
        """The owners this process reads: the worker's, or a LocalEngine's while it runs."""
        if self._local_owners is not None:
            return self._local_owners
        return self._runtime.owner, self._runtime.keys

    # -- running ----------------------------------------------------------------------
    def main(self, override_logging: bool = False) -> None:
        """Run this engine as a worker until it is stopped (blocking).

        The program's own logging configuration is kept; a program that configured none
        (no handler on the root logger) gets faust's, at the command line's ``-l`` level,
        so that the worker's log and a crash's reason are seen, not lost.

        A configuration the worker cannot start with (no broker, a web port in use) is
        said in one line on standard error, and the program exits with status 2, as
        ``dagger worker`` does: nothing was started, so a traceback would only hide it.
        """
        from dagger.service._worker import run_worker

        configured = bool(logging.getLogger().handlers)
        try:
            run_worker(self, loglevel="info", override_logging=override_logging or not configured)
        except ConfigurationError as exc:  # raised before the worker starts anything
            print(f"dagger: {exc}", file=sys.stderr)
            raise SystemExit(2) from exc

    async def on_start(self) -> None:
        """Log that the engine is starting."""
        logger.info("Dagger engine %s starting", self.settings.application_name)


def _hook_instance(
    method: str, given: ITemplateDAGInstance[Any, Any] | None
) -> ITemplateDAGInstance[Any, Any]:
    """The instance a hook is running for (or ``given``); TypeError outside a hook."""
    instance = instance_in_hook(given)
    if instance is None:
        raise TypeError(f"{method} is called from a hook, or with the workflow_instance")
    return instance
