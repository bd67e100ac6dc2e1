"""Registering templates and topics with the engine: the registration half of ``Dagger``.

The engine does not import the template classes (``dagger.templates`` is the layer above
it): it recognises a built workflow template and a process builder by the methods it
calls on them, as :class:`typing.Protocol` s; the annotations name the template classes
for type checkers only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from faust.types import TopicT

from dagger.exceptions.exceptions import DaggerError, TemplateDoesNotExist
from dagger.serializers._codec import schema_codecs

if TYPE_CHECKING:
    from dagger.templates._workflow_templates import ITemplateDAG

__all__ = ["TemplatesAndTopics"]


@runtime_checkable
class _BuiltTemplate(Protocol):
    """A built workflow template (``ITemplateDAG``), as ``register_template`` checks it."""

    async def create_instance(self, id: Any, *args: Any, **kwargs: Any) -> Any: ...

    def set_dynamic_builders_for_process_template(
        self, name: str, process_template_builders: list[Any]
    ) -> None: ...


@runtime_checkable
class _ProcessBuilder(Protocol):
    """A process builder (``IProcessTemplateDAGBuilder``), named on registration."""

    def set_name(self, process_name: str) -> Any: ...

    def set_root_task(self, task: Any) -> Any: ...

    def set_next_process(self, task: Any) -> Any: ...

    def set_type(self, process_type: Any) -> Any: ...

    def build(self) -> Any: ...


class TemplatesAndTopics:
    """The engine's registered templates and topics (a part of ``Dagger``)."""

    app: ClassVar[Any]
    topics: ClassVar[dict[str, TopicT]]
    template_dags: dict[str, ITemplateDAG]
    process_templates: dict[str, Any]
    faust_app: Any
    message_serializer: Any

    @classmethod
    def _current_app(cls, method: str) -> TemplatesAndTopics:
        app: TemplatesAndTopics | None = getattr(cls, "app", None)
        if app is None:
            raise DaggerError(f"Dagger.{method}() needs a Dagger(...) instance created first")
        return app

    # -- registration -----------------------------------------------------------------
    @classmethod
    def register_template(
        cls, template_name: str
    ) -> Callable[[Callable[[str], ITemplateDAG]], Any]:
        """Register the template the decorated function builds from ``template_name``."""

        def register(build: Callable[[str], ITemplateDAG]) -> Callable[[str], ITemplateDAG]:
            template = build(template_name)
            if not isinstance(template, _BuiltTemplate):
                raise TypeError(
                    f"@register_template({template_name!r}) function must return a built "
                    f"template, got {type(template).__name__}"
                )
            cls._current_app("register_template").template_dags[template_name] = template
            return build

        return register

    @classmethod
    def register_process_template(
        cls, process_template_name: str
    ) -> Callable[[Callable[[str], Any]], Any]:
        """Register the process template (or builder) the decorated function returns."""

        def register(build: Callable[[str], Any]) -> Callable[[str], Any]:
            process = build(process_template_name)
            if process is None:
                raise TypeError(
                    f"@register_process_template({process_template_name!r}) function returned None"
                )
            if isinstance(process, _ProcessBuilder):
                process.set_name(process_template_name)
            engine = cls._current_app("register_process_template")
            engine.process_templates[process_template_name] = process
            return build

        return register

    def get_template(self, template_name: str) -> ITemplateDAG:
        """Return the registered template ``template_name``."""
        try:
            return self.template_dags[template_name]
        except KeyError:
            raise TemplateDoesNotExist(
                f"no template named {template_name!r}; registered: {sorted(self.template_dags)}"
            ) from None

    # -- topics -----------------------------------------------------------------------
    @classmethod
    def create_topic(
        cls,
        topic_name: str,
        key_type: Any = None,
        value_type: Any = None,
        key_serializer: Any = None,
        value_serializer: Any = None,
        *,
        key_schema: Any = None,
        value_schema: Any = None,
    ) -> TopicT:
        """Create (or return the already created) faust topic ``topic_name``.

        As in the original, a topic without a codec carries raw values: a listener's
        hooks receive the message's bytes (``json.loads(payload)`` them), and a command
        sends a str or bytes as it is (a dict or list is written as JSON). Pass
        ``value_serializer="json"`` or a faust ``Record`` ``value_type`` to have values
        decoded and encoded as JSON.

        ``key_schema``/``value_schema`` (an Avro schema: dict, list or JSON text) make that
        side Avro, encoded by the engine's ``message_serializer`` under the subject
        ``<topic>-key``/``<topic>-value``; they need ``schema_registry_url`` or
        ``message_serializer`` on the engine.
        """
        if topic_name in cls.topics:
            return cls.topics[topic_name]
        if key_schema is not None or value_schema is not None:
            key_serializer, value_serializer = schema_codecs(
                cls._current_app("create_topic").message_serializer,
                topic_name,
                key_schema=key_schema,
                value_schema=value_schema,
                key_serializer=key_serializer,
                value_serializer=value_serializer,
            )
        topic: TopicT = cls._current_app("create_topic").faust_app.topic(
            topic_name,
            key_type=key_type,
            value_type=value_type,
            key_serializer=key_serializer,
            value_serializer=value_serializer,
        )
        cls.topics[topic_name] = topic
        return topic

    def add_topic(self, topic_name: str, topic: TopicT) -> None:
        """Associate ``topic`` with ``topic_name``."""
        self.topics[topic_name] = topic

    def get_topic(self, topic_name: str) -> TopicT:
        """Return the topic associated with ``topic_name``."""
        try:
            return self.topics[topic_name]
        except KeyError:
            raise DaggerError(
                f"no topic named {topic_name!r}; create it with Dagger.create_topic()"
            ) from None
