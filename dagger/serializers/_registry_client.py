"""A small Confluent schema-registry client: register a schema, fetch a schema by id.

Only the two calls the serializer needs, over the standard library's ``urllib`` so it
can be called from a faust codec (codecs are synchronous). Both answers are cached for
the life of the client: a schema id never changes meaning, and registering the same
schema under the same subject always returns the same id.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from dagger.serializers._errors import SchemaNotFound, SchemaRegistryError

_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
_SCHEMA_NOT_FOUND = 40403
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


def schema_text(schema: Any) -> str:
    """Return the JSON text of an Avro schema given as a dict, a list or JSON text."""
    if isinstance(schema, str):
        try:
            json.loads(schema)
        except ValueError:
            if _NAME.match(schema):
                return json.dumps(schema)  # a bare type name such as ``string``
            raise ValueError(f"an Avro schema given as text must be JSON, got {schema!r}") from None
        return schema
    if isinstance(schema, (dict, list)):
        return json.dumps(schema, separators=(",", ":"))
    raise TypeError(
        f"an Avro schema is a dict, a list (union) or JSON text, got {type(schema).__name__}"
    )


def check_registry_url(url: Any) -> str:
    """Return ``url`` without a trailing slash; ValueError unless it is an http(s) URL."""
    parsed = urllib.parse.urlsplit(url) if isinstance(url, str) else None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(
            f"schema_registry_url must be an http(s) URL such as 'http://127.0.0.1:8081', "
            f"got {url!r}"
        )
    return str(url).rstrip("/")


class SchemaRegistryClient:
    """Registers schemas and fetches them by id from a Confluent-compatible registry.

    Examples:
        >>> client = SchemaRegistryClient("http://127.0.0.1:8081")  # doctest: +SKIP
        >>> schema_id = client.register("orders-value", {"type": "string"})  # doctest: +SKIP
        >>> client.get_by_id(schema_id)  # doctest: +SKIP
        {'type': 'string'}

    Credentials in the URL (``https://user:secret@host``) are sent as HTTP basic auth.
    """

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        url = check_registry_url(url)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        parts = urllib.parse.urlsplit(url)
        self._authorization: str | None = None
        if parts.username is not None:
            credentials = (
                f"{urllib.parse.unquote(parts.username)}:"
                f"{urllib.parse.unquote(parts.password or '')}"
            )
            self._authorization = "Basic " + base64.b64encode(credentials.encode()).decode()
            netloc = parts.hostname or ""
            if parts.port is not None:
                netloc = f"{netloc}:{parts.port}"
            url = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
        self.url = url
        self.timeout = float(timeout)
        self._ids: dict[tuple[str, str], int] = {}
        self._schemas: dict[int, Any] = {}

    def register(self, subject: str, schema: Any) -> int:
        """Register ``schema`` under ``subject`` (once per client) and return its id."""
        if not isinstance(subject, str) or not subject:
            raise ValueError(f"a subject is a non-empty string, got {subject!r}")
        text = schema_text(schema)
        cached = self._ids.get((subject, text))
        if cached is not None:
            return cached
        answer = self._request(
            "POST",
            f"/subjects/{urllib.parse.quote(subject, safe='')}/versions",
            {"schema": text},
        )
        schema_id = answer.get("id")
        if isinstance(schema_id, bool) or not isinstance(schema_id, int):
            raise SchemaRegistryError(
                f"the schema registry answered the registration of {subject!r} without an id: "
                f"{answer!r}"
            )
        self._ids[(subject, text)] = schema_id
        self._schemas.setdefault(schema_id, json.loads(text))
        return schema_id

    def get_by_id(self, schema_id: int) -> Any:
        """Return the schema (parsed JSON) registered as ``schema_id``; SchemaNotFound if none."""
        cached = self._schemas.get(schema_id)
        if cached is not None:
            return cached
        answer = self._request("GET", f"/schemas/ids/{int(schema_id)}")
        schema_type = answer.get("schemaType", "AVRO")
        if schema_type != "AVRO":
            raise SchemaRegistryError(f"schema {schema_id} is a {schema_type} schema, not Avro")
        text = answer.get("schema")
        if not isinstance(text, str):
            raise SchemaRegistryError(
                f"the schema registry answered schema {schema_id} without a schema: {answer!r}"
            )
        try:
            schema = json.loads(text)
        except ValueError as exc:
            raise SchemaRegistryError(f"schema {schema_id} is not JSON: {exc}") from exc
        self._schemas[schema_id] = schema
        return schema

    def is_cached(self, schema_id: int) -> bool:
        """True when ``schema_id`` can be resolved without a request."""
        return schema_id in self._schemas

    def _request(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Accept", f"{_CONTENT_TYPE}, application/json")
        if data is not None:
            request.add_header("Content-Type", _CONTENT_TYPE)
        if self._authorization is not None:
            request.add_header("Authorization", self._authorization)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise _refusal(method, path, exc) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise SchemaRegistryError(
                f"schema registry at {self.url} could not be reached ({method} {path}): {exc}"
            ) from exc
        try:
            answer = json.loads(raw)
        except ValueError as exc:
            raise SchemaRegistryError(
                f"schema registry answered {method} {path} with non-JSON: {raw[:200]!r}"
            ) from exc
        if not isinstance(answer, dict):
            raise SchemaRegistryError(
                f"schema registry answered {method} {path} with {answer!r}, not an object"
            )
        return answer


def _refusal(method: str, path: str, exc: urllib.error.HTTPError) -> SchemaRegistryError:
    """Translate an HTTP error answer (Confluent: ``{"error_code", "message"}``)."""
    try:
        detail = json.loads(exc.read())
    except (ValueError, OSError):
        detail = {}
    if not isinstance(detail, dict):
        detail = {}
    error_code = detail.get("error_code")
    message = detail.get("message") or exc.reason
    text = f"schema registry refused {method} {path}: HTTP {exc.code} {message}"
    if exc.code == 404 and (error_code in (None, _SCHEMA_NOT_FOUND)) and "/schemas/ids/" in path:
        return SchemaNotFound(text, status=exc.code, error_code=error_code)
    return SchemaRegistryError(text, status=exc.code, error_code=error_code)
