"""faust Records and codecs: fields, defaults, validation, bare records.

Part of :mod:`dagger._faust_internals`; see its docstring for why each use is needed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, TypeVar

import faust
from faust.models.fields import FieldDescriptor
from faust.serializers import codecs

logger = logging.getLogger("dagger._faust_internals")


def record_fields(cls: type[faust.Record]) -> Mapping[str, Any]:
    """The fields of a record class, by name.

    Why: the instance codec stores only the fields that differ from their defaults and
    faust lists a record's fields in the private ``_options.fields``. Checked against
    faust-streaming 0.15.3 / aiokafka 0.14.0 / mode-streaming 0.7.1.
    """
    fields: Mapping[str, Any] = cls._options.fields
    return fields


def record_defaults(cls: type[faust.Record]) -> Mapping[str, Any]:
    """The default of each field of a record class that has one.

    Why: the codec leaves defaults out of a stored instance; faust keeps them in
    ``_options.defaults``. Checked against faust-streaming 0.15.3 /
    aiokafka 0.14.0 / mode-streaming 0.7.1.
    """
    defaults: Mapping[str, Any] = cls._options.defaults
    return defaults


def record_optional_fields(cls: type[faust.Record]) -> frozenset[str]:
    """The fields with a default, which faust's ``__init__`` gives that default for None.

    Why: building a task without ``__init__`` must do the same; faust keeps them in
    ``_options.optionalset``. Checked against faust-streaming 0.15.3 / aiokafka 0.14.0 /
    mode-streaming 0.7.1.
    """
    return frozenset(cls._options.optionalset)


def record_validates(cls: type[faust.Record]) -> bool:
    """True when the record class was declared with ``validation=True``.

    Why: such records must go through ``__init__``; faust keeps the flag in
    ``_options.validation``. Checked against faust-streaming 0.15.3 /
    aiokafka 0.14.0 / mode-streaming 0.7.1.
    """
    return bool(cls._options.validation)


def plain_record_fields(cls: type[faust.Record]) -> frozenset[str]:
    """The fields whose descriptor stores a value as given: no tag and no coercion on set.

    Why: decoding is on the path of every engine event, so the codec sets such fields in
    the record's ``__dict__`` instead of a descriptor call per field; faust's
    ``FieldDescriptor.__set__`` changes a value only through ``prepare_value``, for a
    tagged or coercing descriptor (``_options.descriptors``). Checked against
    faust-streaming 0.15.3 / aiokafka 0.14.0 / mode-streaming 0.7.1.
    """
    return frozenset(
        name
        for name, descriptor in cls._options.descriptors.items()
        if not getattr(descriptor, "tag", None)
        and (
            type(descriptor).prepare_value is FieldDescriptor.prepare_value
            or not getattr(descriptor, "coerce", True)
        )
    )


RecordT = TypeVar("RecordT", bound=faust.Record)


def bare_record(cls: type[RecordT]) -> tuple[RecordT, dict[str, Any]]:
    """A record of ``cls`` made without ``__init__``, and the dict its fields live in.

    Why: see :func:`plain_record_fields`; faust's generated ``__init__`` keeps the lazily
    coerced fields it evaluated in ``__evaluated_fields__``, empty for a new record.
    Checked against faust-streaming 0.15.3 /
    aiokafka 0.14.0 / mode-streaming 0.7.1.
    """
    record = cls.__new__(cls)
    values: dict[str, Any] = record.__dict__
    values["__evaluated_fields__"] = set()
    return record, values


def codec_registered(name: str) -> bool:
    """True when faust's codec registry has a codec named ``name``.

    Why: the raw-value codec is registered once, and faust's ``codecs.register`` does not
    say whether a name is taken; the registry is the module's ``codecs`` dict. Checked
    against faust-streaming 0.15.3 / aiokafka 0.14.0 / mode-streaming 0.7.1.
    """
    return name in codecs.codecs
