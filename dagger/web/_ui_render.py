"""Rendering a dashboard page: its template with the context every page needs."""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

from aiohttp import web

UI_PATH = "/ui"
"""The dashboard's prefix; the API's bearer check leaves it to the session cookie."""

CSRF: ContextVar[str] = ContextVar("dagger_ui_csrf", default="")
"""The CSRF token of the request being answered (each request runs in its own task)."""


def render(
    request: web.Request, template: str, context: Mapping[str, Any], status: int = 200
) -> web.Response:
    """Render ``template`` (autoescaped) with the CSRF token and the dashboard's prefix."""
    import aiohttp_jinja2  # imported with the dashboard (see Dashboard.install)

    full = {"csrf": CSRF.get(), "ui": UI_PATH, "request_path": request.path}
    return aiohttp_jinja2.render_template(template, request, {**full, **context}, status=status)
