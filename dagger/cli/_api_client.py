"""A small HTTP client of a worker's API for the ``dagger`` command (standard library only)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from dagger.cli._errors import CommandError

DEFAULT_URL = "http://127.0.0.1:6066"
"""Where ``dagger instances`` looks for a worker when neither --url nor DAGGER_API_URL is set."""


@dataclass
class ApiResponse:
    """A status, the decoded JSON body and the response headers (names in lower case)."""

    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def error(self) -> str:
        """The API's error message (or the status when it sent none)."""
        if isinstance(self.body, dict) and "error" in self.body:
            return str(self.body["error"])
        return f"HTTP {self.status}"


class ApiClient:
    """Sends requests to ``url``, with the bearer ``token`` when one is given."""

    def __init__(self, url: str, token: str | None, timeout: float = 30.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise CommandError(f"--url must be an http:// or https:// URL, got {url!r}")
        self.url = url.rstrip("/")
        self._token = token
        self._timeout = timeout

    def get(self, path: str, params: Mapping[str, str] | None = None) -> ApiResponse:
        """GET ``path``; see :meth:`request`."""
        return self.request("GET", path, params)

    def post(self, path: str) -> ApiResponse:
        """POST ``path`` with no body; see :meth:`request`."""
        return self.request("POST", path)

    def post_json(self, path: str, body: Any) -> ApiResponse:
        """POST ``path`` with ``body`` as JSON; see :meth:`request`."""
        return self.request("POST", path, body=json.dumps(body).encode())

    def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> ApiResponse:
        """Send one request; any HTTP status is returned, except 401, which is raised.

        Raises:
            CommandError: the worker cannot be reached, does not answer JSON, or refuses
                the token.
        """
        target = self.url + path + (f"?{urlencode(params)}" if params else "")
        request = urllib.request.Request(target, data=body, method=method)
        request.add_header("Accept", "application/json")
        if body is not None:
            request.add_header("Content-Type", "application/json")
        if self._token is not None:
            request.add_header("Authorization", f"Bearer {self._token}")
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as answer:
                response = _response(answer.status, answer.read(), answer.headers)
        except urllib.error.HTTPError as exc:
            response = _response(exc.code, exc.read(), exc.headers)
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CommandError(
                f"cannot reach the Dagger API at {self.url}: {reason} (is a worker running "
                "there? set --url or DAGGER_API_URL)"
            ) from None
        if response.status == 401:
            raise CommandError(
                f"the API at {self.url} refused the request: {response.error}; pass --token "
                "or set DAGGER_API_TOKEN"
            )
        return response


def instance_path(instance_id: str, action: str | None = None) -> str:
    """The API path of an instance (or of an action on it)."""
    path = f"/tasks/instance/{quote(instance_id, safe='')}"
    return f"{path}/{action}" if action else path


def _response(status: int, raw: bytes, headers: Any) -> ApiResponse:
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        raise CommandError(
            f"the server answered HTTP {status} with something that is not JSON: {raw[:120]!r}"
        ) from None
    return ApiResponse(status, body, {name.lower(): value for name, value in headers.items()})
