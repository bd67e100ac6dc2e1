"""The OpenAPI 3 document of the worker's HTTP API, served at ``GET /openapi.json``."""

from __future__ import annotations

from typing import Any

from dagger.runtime._intake_schema import intake_schema
from dagger.runtime._schedules import MANUAL_KINDS
from dagger.runtime._starts import RESERVED_PARAMS
from dagger.tasks._status import TaskStatusEnum
from dagger.web._docs_page import openapi_paths as docs_paths
from dagger.web._query import (
    BY_PARTITION,
    DEFAULT_LIMIT,
    ID_PATTERN,
    ID_RULE,
    MAX_LIMIT,
    MAX_WINDOW,
    ORDERS,
    TIME_RANGE,
)

_JSON = "application/json"
_RELEASE_REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["kind"],
    "additionalProperties": False,
    "properties": {
        "kind": {"type": "string", "enum": list(MANUAL_KINDS)},
        "time": {
            "type": "string",
            "maxLength": 100,
            "description": "force and dry-run: the logical time, ISO 8601 (default: now).",
        },
        "key": {
            "type": "string",
            "minLength": 1,
            "maxLength": 1000,
            "description": "rerun: the key of the release to run again.",
        },
    },
}
"""The body of ``POST /workflows/{name}/releases`` (``dagger.web._release_request``)."""


def openapi_document(version: str, *, token_required: bool) -> dict[str, Any]:
    """Return the OpenAPI document; ``token_required`` adds the bearer security scheme."""
    document: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {
            "title": "Dagger worker API",
            "version": version,
            "description": (
                "See and steer workflow instances, and handle dead letters. Any worker "
                "answers for every instance: it asks the other workers of its group."
            ),
        },
        "paths": {**_paths(), **docs_paths()},
        "components": {"schemas": _schemas(), "responses": _responses()},
    }
    if token_required:
        document["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        document["security"] = [{"bearer": []}]
        document["paths"]["/service/ready"]["get"]["security"] = []
    return document


def _paths() -> dict[str, Any]:
    instance_id = _path_param("id", f"The instance id: {ID_RULE}.", ID_PATTERN)
    letter_id = _path_param("id", f"The dead-letter id: {ID_RULE}.", ID_PATTERN)
    return {
        "/service/ready": {
            "get": {
                "summary": "Readiness: partitions assigned and state recovered",
                "operationId": "ready",
                "responses": {
                    "200": _json_response("Ready", {"$ref": "#/components/schemas/Readiness"}),
                    "503": _json_response(
                        "Not ready yet", {"$ref": "#/components/schemas/Readiness"}
                    ),
                },
            }
        },
        "/service/worker": {
            "get": {
                "summary": "This worker: its URL, readiness, the engine-topic partitions it owns",
                "operationId": "worker",
                "responses": {
                    "200": _json_response("This worker", {"$ref": "#/components/schemas/Worker"}),
                    **_errors(401),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "operationId": "openapi",
                "responses": {"200": _json_response("OpenAPI document", {"type": "object"})},
            }
        },
        "/tasks/instances": {
            "get": {
                "summary": "List instances, in (owner partition, id) order or newest update first",
                "operationId": "listInstances",
                "parameters": _list_parameters(),
                "responses": {
                    "200": {
                        "description": "A page of instance documents",
                        "headers": {
                            "X-Total-Count": _header("Instances matching the filters"),
                            "X-Status-Counts": _header(
                                'JSON {"STATUS": count}: the matches of each status with '
                                "the status filter left out (the dashboard's counts)"
                            ),
                            "X-Next-Cursor": _header("Cursor of the next page, if one follows"),
                            "Link": _header('The next page\'s URL, rel="next"'),
                        },
                        "content": {
                            _JSON: {
                                "schema": {
                                    "type": "array",
                                    "items": {"$ref": "#/components/schemas/Instance"},
                                }
                            }
                        },
                    },
                    **_errors(400, 401, 503),
                },
            }
        },
        "/tasks/instance/{id}": {
            "get": {
                "summary": "One instance",
                "operationId": "showInstance",
                "parameters": [instance_id],
                "responses": {
                    "200": _json_response(
                        "The instance", {"$ref": "#/components/schemas/Instance"}
                    ),
                    **_errors(400, 401, 404, 422, 503),
                },
            }
        },
        "/tasks/instance/{id}/stop": _action(
            "Stop an unfinished instance", "stopInstance", instance_id
        ),
        "/tasks/instance/{id}/retry": _action(
            "Retry a FAILURE instance from its failed task(s)", "retryInstance", instance_id
        ),
        "/tasks/instance/{id}/rerun": _rerun_action(instance_id),
        "/templates/{name}/instances": {
            "post": {
                "summary": "Start an instance of a template",
                "description": (
                    "Creates and submits an instance. An id already in use with the same "
                    "params answers 200 with the existing instance; with another template "
                    "or other params, 409. Without an id a new one is drawn (docs/intake.md)."
                ),
                "operationId": "startInstance",
                "parameters": [_path_param("name", "A registered template's name.")],
                "requestBody": {
                    "required": True,
                    "content": {_JSON: {"schema": {"$ref": "#/components/schemas/StartRequest"}}},
                },
                "responses": {
                    "201": _json_response(
                        "Started", {"$ref": "#/components/schemas/Instance"}, location=True
                    ),
                    "200": _json_response(
                        "The id is in use with these params: the existing instance",
                        {"$ref": "#/components/schemas/Instance"},
                        location=True,
                    ),
                    **_errors(400, 401, 404, 409, 422, 503),
                },
            }
        },
        "/workflows": {
            "get": {
                "summary": "List the declarative workflows",
                "description": "Each YAML workflow: its params and its jobs (docs/declarative.md).",
                "operationId": "listWorkflows",
                "responses": {
                    "200": _json_response("The workflows", {"type": "object"}),
                    **_errors(401),
                },
            }
        },
        "/workflows/{name}/execute": {
            "post": {
                "summary": "Start a declarative workflow",
                "description": (
                    "Starts an instance as POST /templates/{name}/instances does (same body "
                    "and id rules; the workflow checks its params, 422 naming each bad one) "
                    "and answers 202 with its id; 200 when the id was in use with these params."
                ),
                "operationId": "executeWorkflow",
                "parameters": [_path_param("name", "A declarative workflow's name.")],
                "requestBody": {
                    "required": False,
                    "content": {_JSON: {"schema": {"$ref": "#/components/schemas/StartRequest"}}},
                },
                "responses": {
                    "202": _json_response("Started: the instance's id", {"type": "object"}),
                    "200": _json_response(
                        "The id was in use with these params", {"type": "object"}
                    ),
                    **_errors(400, 401, 404, 409, 422, 503),
                },
            }
        },
        "/workflows/{name}/releases": {
            "get": {
                "summary": "List a scheduled workflow's releases",
                "description": (
                    "The audit of the workflow's releases (key, logical time in UTC, kind, "
                    "instance id), oldest first, from the worker that owns its schedule "
                    "(docs/declarative.md, Schedules and releases)."
                ),
                "operationId": "listReleases",
                "parameters": [_path_param("name", "A declarative workflow's name.")],
                "responses": {
                    "200": _json_response("The releases", {"type": "object"}),
                    **_errors(401, 404, 503),
                },
            },
            "post": {
                "summary": "Release a scheduled workflow by hand",
                "description": (
                    "force: start the release of a logical time (default: now; a time "
                    "without an offset is one of the schedule's timezone) whatever max-active "
                    "and catch-up say, with that time's release key (a time released already "
                    "is not released again); dry-run: audit what that release would be, start "
                    "nothing; rerun: start the release 'key' again as a new instance. The "
                    "owner of the schedule applies it; 202 with the key and instance id."
                ),
                "operationId": "requestRelease",
                "parameters": [_path_param("name", "A scheduled declarative workflow's name.")],
                "requestBody": {
                    "required": True,
                    "content": {_JSON: {"schema": _RELEASE_REQUEST}},
                },
                "responses": {
                    "202": _json_response(
                        "Asked: the release's key and instance id", {"type": "object"}
                    ),
                    **_errors(400, 401, 404, 409, 503),
                },
            },
        },
        "/schedules": {
            "get": {
                "summary": "List the schedules",
                "description": "Each scheduled workflow: cron, timezone, catch-up, next fire.",
                "operationId": "listSchedules",
                "responses": {
                    "200": _json_response("The schedules", {"type": "object"}),
                    **_errors(401),
                },
            }
        },
        "/dead-letters": {
            "get": {
                "summary": "List dead letters",
                "operationId": "listDeadLetters",
                "parameters": [
                    _query_param("limit", "integer", f"Page size, 1-{MAX_LIMIT}"),
                    _query_param("offset", "integer", "Dead letters to skip"),
                    _query_param("cursor", "string", "Where the previous page ended"),
                ],
                "responses": {
                    "200": _json_response("A page of dead letters", {"type": "object"}),
                    **_errors(400, 401, 501),
                },
            }
        },
        "/dead-letters/{id}": {
            "get": {
                "summary": "One dead letter",
                "operationId": "showDeadLetter",
                "parameters": [letter_id],
                "responses": {
                    "200": _json_response("The dead letter", {"type": "object"}),
                    **_errors(400, 401, 404, 501),
                },
            },
            "delete": {
                "summary": "Purge one dead letter",
                "operationId": "purgeDeadLetter",
                "parameters": [letter_id],
                "responses": {
                    "200": _json_response("Purged", {"type": "object"}),
                    **_errors(400, 401, 404, 501),
                },
            },
        },
        "/dead-letters/{id}/reinject": {
            "post": {
                "summary": "Send one dead letter again to its original topic",
                "operationId": "reinjectDeadLetter",
                "parameters": [letter_id],
                "responses": {
                    "200": _json_response("Reinjected", {"type": "object"}),
                    **_errors(400, 401, 404, 501),
                },
            }
        },
    }


def _action(summary: str, operation: str, instance_id: dict[str, Any]) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "description": "The request is an event applied by the instance's owner.",
            "operationId": operation,
            "parameters": [instance_id],
            "responses": {
                "202": _json_response("Requested", {"$ref": "#/components/schemas/Accepted"}),
                **_errors(400, 401, 404, 409, 422, 503),
            },
        }
    }


def _rerun_action(instance_id: dict[str, Any]) -> dict[str, Any]:
    action = _action(
        "Rerun a finished instance from a chosen task, with edited parameters",
        "rerunInstance",
        instance_id,
    )
    action["post"]["description"] = (
        "The task (its id or unique name) and what depends on it run again, with the "
        "given runtime parameters merged in; completed tasks that do not depend on it keep "
        "their results. 409 for an instance still running or a task the workflow did not "
        "reach. The request is an event applied by the instance's owner."
    )
    action["post"]["requestBody"] = {
        "required": True,
        "content": {_JSON: {"schema": {"$ref": "#/components/schemas/RerunRequest"}}},
    }
    return action


def _list_parameters() -> list[dict[str, Any]]:
    statuses = ", ".join(status.name for status in TaskStatusEnum)
    return [
        _query_param("limit", "integer", f"Page size, 1-{MAX_LIMIT} (default {DEFAULT_LIMIT})"),
        _query_param("offset", "integer", f"Instances to skip; offset + limit <= {MAX_WINDOW}"),
        _query_param("cursor", "string", "X-Next-Cursor of the previous page (not with offset)"),
        _query_param("status", "string", f"Comma-separated statuses among {statuses}"),
        _query_param("template", "string", "Template name"),
        _query_param(
            "partition_key",
            "string",
            "Only the instances whose partition-key value (the value of the runtime "
            "parameter partition_key_lookup names, as text; the id when it names none) is this",
        ),
        {
            **_query_param(
                "order",
                "string",
                "partition (default): (owner partition, id); updated: newest lastupdated "
                "first, then (owner partition, id). A cursor pages the order it came from",
            ),
            "schema": {"type": "string", "enum": list(ORDERS), "default": BY_PARTITION},
        },
        *(
            _query_param(
                name,
                "number",
                f"Only instances {name.split('_')[0]} {name.split('_')[1]} this time (epoch "
                "seconds; after is inclusive, before exclusive)",
            )
            for name in TIME_RANGE
        ),
    ]


def _schemas() -> dict[str, Any]:
    status = {
        "type": "object",
        "properties": {"code": {"type": "string"}, "value": {"type": "string"}},
    }
    task = {
        "type": "object",
        "description": "A task or process: every field of its record",
        "properties": {
            "id": {"type": "string"},
            "task_name": {"type": "string"},
            "task_type": {"type": "string"},
            "status": {"$ref": "#/components/schemas/Status"},
            "parent_id": {"type": "string", "nullable": True},
            "process_name": {"type": "string", "nullable": True},
            "time_submitted": {"type": "number"},
            "time_completed": {"type": "number"},
            "error_type": {"type": "string", "nullable": True},
            "error_message": {"type": "string", "nullable": True},
            "parameter_changes": {
                "type": "object",
                "description": (
                    "The runtime parameters the task's hooks changed: per key, the value it "
                    "saw (before, absent for a key it added) and the value it left (after, "
                    "absent for a key it removed); unchanged keys are not listed"
                ),
                "additionalProperties": {
                    "type": "object",
                    "properties": {"before": {}, "after": {}},
                },
            },
        },
        "additionalProperties": True,
    }
    instance = {
        "allOf": [
            {"$ref": "#/components/schemas/Task"},
            {
                "type": "object",
                "properties": {
                    "template_name": {"type": "string"},
                    "runtime_parameters": {"type": "object"},
                    "partition_key_lookup": {"type": "string"},
                    "owner_partition": {"type": "integer"},
                    "undecodable": {
                        "type": "object",
                        "description": "Only on an instance this worker cannot decode "
                        "(then tasks is empty): why, and the missing task class",
                        "properties": {
                            "reason": {"type": "string"},
                            "error_type": {"type": "string"},
                            "missing_class": {"type": "string", "nullable": True},
                        },
                    },
                    "tasks": {
                        "type": "object",
                        "additionalProperties": {"$ref": "#/components/schemas/Task"},
                    },
                    "waiting_for": {
                        "type": "array",
                        "description": "What an EXECUTING instance waits for (empty "
                        "otherwise; absent when undecodable): a message on a topic under a "
                        "key, or a timer",
                        "items": {"$ref": "#/components/schemas/Wait"},
                    },
                },
            },
        ]
    }
    return {
        "Status": status,
        "Task": task,
        "Instance": instance,
        "Wait": {
            "type": "object",
            "properties": {
                "kind": {"type": "string", "enum": ["message", "timer"]},
                "task_id": {"type": "string"},
                "task_name": {"type": "string"},
                "topic": {"type": "string", "description": "kind message: the listener's topic"},
                "key": {"type": "string", "description": "kind message: the key parameter"},
                "value": {"type": "string", "description": "kind message: its value"},
                "due": {"type": "number", "description": "kind timer: epoch seconds (UTC)"},
            },
            "required": ["kind", "task_id", "task_name"],
        },
        "Readiness": {"type": "object", "properties": {"is_ready": {"type": "boolean"}}},
        "Worker": {
            "type": "object",
            "properties": {
                "url": {"type": "string"},
                "ready": {"type": "boolean"},
                "topic": {"type": "string"},
                "partitions": {"type": "array", "items": {"type": "integer"}},
            },
        },
        "Accepted": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "action": {"type": "string", "enum": ["stop", "retry", "rerun"]},
                "accepted": {"type": "boolean"},
                "status": {"type": "string"},
                "message": {"type": "string"},
            },
        },
        "StartRequest": _start_request(),
        "RerunRequest": {
            "type": "object",
            "properties": {
                "from": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 1000,
                    "description": "The id or unique name of the task or process to rerun from",
                },
                "parameters": {
                    "type": "object",
                    "description": "Runtime parameters to set before it runs again",
                },
            },
            "required": ["from"],
            "additionalProperties": False,
        },
        "Error": {
            "type": "object",
            "properties": {"error": {"type": "string"}, "status": {"type": "integer"}},
            "required": ["error", "status"],
        },
    }


_ERROR_TEXT = {
    400: "Malformed id or query",
    401: "Missing or wrong bearer token",
    404: "Not found",
    409: "Not possible in the instance's status, or an id in use with other params",
    422: "The instance cannot be decoded (a task class it names is not registered), or the "
    "template refused the params (or the partition-key parameter is missing)",
    501: "Dead-letter tools not configured",
    503: "This worker or a peer cannot answer now; try again",
}


def _responses() -> dict[str, Any]:
    return {
        str(code): _json_response(text, {"$ref": "#/components/schemas/Error"})
        for code, text in _ERROR_TEXT.items()
    }


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): {"$ref": f"#/components/responses/{code}"} for code in codes}


def _json_response(
    description: str, schema: dict[str, Any], *, location: bool = False
) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": {_JSON: {"schema": schema}}}
    if location:
        response["headers"] = {"Location": _header("The instance's path")}
    return response


def _start_request() -> dict[str, Any]:
    """The intake record's schema without ``template`` (the path names it), in OpenAPI 3.0."""
    schema = intake_schema()
    properties = {name: dict(value) for name, value in schema["properties"].items()}
    del properties["template"]
    params = properties["params"]
    params.pop("propertyNames", None)  # not in OpenAPI 3.0's schema dialect
    params["description"] += f" Refused names: {', '.join(sorted(RESERVED_PARAMS))}."
    return {
        "type": "object",
        "description": "An intake record without template; docs/schemas/intake.schema.json",
        "properties": properties,
        "required": ["params"],
        "additionalProperties": False,
    }


def _header(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "string"}}


def _path_param(name: str, description: str, pattern: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if pattern is not None:
        schema["pattern"] = pattern
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema,
    }


def _query_param(name: str, kind: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": kind},
    }
