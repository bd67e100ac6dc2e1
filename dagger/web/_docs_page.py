"""``GET /docs``: a Swagger UI page over ``/openapi.json``, its assets served by the worker.

The page and its assets come from this machine: the Swagger UI dist files of the
``swagger-ui-bundle`` package, and nothing from a CDN, so the page works on a network
without internet. Swagger UI's online validator is turned off for the same reason.

The page and the assets hold no data, so they need no token. ``/openapi.json`` and the
endpoints do when one is set: the page then has a field for it, kept in the browser tab's
session storage and sent as ``Authorization: Bearer ...`` with every request it makes.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import swagger_ui_bundle

DOCS_PATH = "/docs"
"""Where the page is served; its assets are under ``/docs/``."""


@dataclass(frozen=True)
class Asset:
    """A file the page loads: its content and content type."""

    body: bytes
    content_type: str


_ASSET_TYPES = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "favicon-32x32.png": "image/png",
}
"""The Swagger UI files served, by name; no other name under /docs/ is."""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Dagger API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
  <style>
    #dagger-token { font-family: sans-serif; padding: 8px 20px; background: #f4f4f4; }
    #dagger-token input { width: 24em; }
  </style>
</head>
<body>
  <form id="dagger-token">
    <label>Bearer token (when the worker sets DAGGER_API_TOKEN):
      <input type="password" name="token" autocomplete="off"></label>
    <button type="submit">Use</button>
  </form>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script>
    const KEY = "dagger-api-token";
    function load() {
      window.ui = SwaggerUIBundle({
        url: "/openapi.json",
        dom_id: "#swagger-ui",
        deepLinking: true,
        validatorUrl: null,
        requestInterceptor: (request) => {
          const token = sessionStorage.getItem(KEY);
          if (token) { request.headers["Authorization"] = "Bearer " + token; }
          return request;
        },
      });
    }
    const form = document.getElementById("dagger-token");
    form.token.value = sessionStorage.getItem(KEY) || "";
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(KEY, form.token.value.trim());
      load();
    });
    load();
  </script>
</body>
</html>
"""


def openapi_paths() -> dict[str, Any]:
    """The page's and the assets' entries of the OpenAPI document: neither needs a token."""
    asset_name = {
        "name": "asset",
        "in": "path",
        "required": True,
        "description": "A Swagger UI file: " + ", ".join(_ASSET_TYPES) + ".",
        "schema": {"type": "string", "enum": list(_ASSET_TYPES)},
    }
    return {
        DOCS_PATH: {
            "get": {
                "summary": "This document in a Swagger UI page",
                "operationId": "docs",
                "security": [],
                "responses": {"200": _file_response("The page", "text/html")},
            }
        },
        DOCS_PATH + "/{asset}": {
            "get": {
                "summary": "A file the Swagger UI page loads",
                "operationId": "docsAsset",
                "security": [],
                "parameters": [asset_name],
                "responses": {
                    "200": _file_response("The file", *sorted(set(_ASSET_TYPES.values()))),
                    "404": {"$ref": "#/components/responses/404"},
                },
            }
        },
    }


def _file_response(description: str, *content_types: str) -> dict[str, Any]:
    schema = {"type": "string", "format": "binary"}
    return {
        "description": description,
        "content": {kind: {"schema": schema} for kind in content_types},
    }


def page() -> str:
    """The HTML of ``/docs``."""
    return _PAGE


def asset(name: str) -> Asset | None:
    """The Swagger UI file ``/docs/<name>`` serves, or None when there is none by that name."""
    content_type = _ASSET_TYPES.get(name)
    if content_type is None:
        return None
    return Asset(_read(name), content_type)


@functools.lru_cache(maxsize=len(_ASSET_TYPES))
def _read(name: str) -> bytes:
    # Read once: the bundle is about 1 MB, and a worker serves it unchanged.
    return (Path(swagger_ui_bundle.swagger_ui_path) / name).read_bytes()
