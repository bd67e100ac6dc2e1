"""A schema-registry STAND-IN for tests: not a schema registry, two of its calls on 127.0.0.1.

No Confluent Schema Registry can run here, so tests of the Avro serializer talk to this
tiny HTTP server instead. It implements only what the serializer uses, with the
registry's JSON shapes and error codes:

- ``POST /subjects/{subject}/versions`` with ``{"schema": "<json>"}`` -> ``{"id": n}``;
  the same schema gets the same id under every subject, as in the real registry.
- ``GET /schemas/ids/{id}`` -> ``{"schema": "<json>"}``, or 404 with error code 40403.

No compatibility checks, no versions listing, no deletes, no persistence.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

_SUBJECT_VERSIONS = re.compile(r"^/subjects/([^/]+)/versions/?$")
_SCHEMA_BY_ID = re.compile(r"^/schemas/ids/([^/]+)/?$")
_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


@dataclass(frozen=True)
class StandInRequest:
    """One request the stand-in served."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)


class _JoiningServer(ThreadingHTTPServer):
    """Joins its request threads when closed, so a stopped stand-in leaves no thread behind."""

    daemon_threads = False


class SchemaRegistryStandIn:
    """A stand-in for a Confluent schema registry, serving on 127.0.0.1 on a free port.

    Examples:
        >>> with SchemaRegistryStandIn() as registry:  # doctest: +SKIP
        ...     engine = Dagger(broker=..., schema_registry_url=registry.url)

    ``requests`` lists every request served (method, path, headers), so tests can check
    what a client cached and sent. It is a stand-in: see the module docstring for what it lacks.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._schemas: dict[int, str] = {}
        self._ids: dict[str, int] = {}
        self._subjects: dict[str, list[int]] = {}
        self.requests: list[StandInRequest] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:40123``; only while started."""
        if self._server is None:
            raise RuntimeError("the schema-registry stand-in is not started; call start()")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> SchemaRegistryStandIn:
        """Start serving in a background thread (a no-op when already serving)."""
        if self._stopped:
            raise RuntimeError("this schema-registry stand-in was stopped; create a new one")
        if self._server is None:
            self._server = _JoiningServer(("127.0.0.1", 0), _handler_for(self))
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="schema-registry-stand-in",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (a no-op when not serving)."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            self._stopped = True
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(10)

    def __enter__(self) -> SchemaRegistryStandIn:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def subjects(self) -> dict[str, list[int]]:
        """Subject -> the schema ids registered under it, in registration order."""
        with self._lock:
            return {subject: list(ids) for subject, ids in self._subjects.items()}

    # -- the two calls -------------------------------------------------------------------
    def register(self, subject: str, text: str) -> int:
        """Register the schema JSON ``text`` under ``subject``; return its (global) id."""
        canonical = json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
        with self._lock:
            schema_id = self._ids.get(canonical)
            if schema_id is None:
                schema_id = self._ids[canonical] = len(self._schemas) + 1
                self._schemas[schema_id] = text
            versions = self._subjects.setdefault(subject, [])
            if schema_id not in versions:
                versions.append(schema_id)
            return schema_id

    def schema(self, schema_id: int) -> str | None:
        """The schema JSON registered under ``schema_id``, or None."""
        with self._lock:
            return self._schemas.get(schema_id)

    def _record(self, method: str, path: str, headers: dict[str, str]) -> None:
        with self._lock:
            self.requests.append(StandInRequest(method, path, headers))


def _handler_for(registry: SchemaRegistryStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            registry._record("POST", self.path, dict(self.headers.items()))
            match = _SUBJECT_VERSIONS.match(self.path)
            if match is None:
                self._answer(404, {"error_code": 404, "message": "HTTP 404 Not Found"})
                return
            subject = urllib.parse.unquote(match.group(1))
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length))
                text = body["schema"]
                if body.get("schemaType", "AVRO") != "AVRO" or not isinstance(text, str):
                    raise ValueError("only Avro schemas given as JSON text")
                parsed = json.loads(text)
                if isinstance(parsed, dict) and "type" not in parsed:
                    raise ValueError("a schema object needs a type")
                schema_id = registry.register(subject, text)
            except (ValueError, KeyError, TypeError) as exc:
                self._answer(422, {"error_code": 42201, "message": f"Invalid schema: {exc}"})
                return
            self._answer(200, {"id": schema_id})

        def do_GET(self) -> None:
            registry._record("GET", self.path, dict(self.headers.items()))
            match = _SCHEMA_BY_ID.match(self.path)
            text = None
            if match is not None and match.group(1).isdigit():
                text = registry.schema(int(match.group(1)))
            if text is None:
                if match is None:
                    self._answer(404, {"error_code": 404, "message": "HTTP 404 Not Found"})
                else:
                    message = f"Schema {match.group(1)} not found"
                    self._answer(404, {"error_code": 40403, "message": message})
                return
            self._answer(200, {"schema": text})

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", _CONTENT_TYPE)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:
            """Stay quiet: tests read ``requests`` instead of a log."""

    return Handler
