"""GET /docs in a real browser: Debian's Chromium, driven by Playwright, renders the operations.

The browser is /usr/bin/chromium, which ``scripts/install dev`` installs (as root) when it is
missing; Playwright comes with the dev extra. The test fails, never skips, without them.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, Page, async_playwright

from dagger.testing import LocalEngine
from tests.unit._listener_workflows import new_engine
from tests.unit.web._harness import ApiServer

CHROMIUM = "/usr/bin/chromium"
# No network but loopback here: Chromium's background connections would only fail.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "s3cret-token"
DRIVER_EXIT_SECONDS = 10.0
"""How long Playwright's driver process may take to exit once Playwright has stopped."""


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    threads_before = set(threading.enumerate())
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()
    await _driver_exited(threads_before)


async def _driver_exited(threads_before: set[threading.Thread]) -> None:
    """Wait until asyncio's watcher of Playwright's driver process has seen it exit.

    Playwright's stop returns as it asks the driver (a Node.js process) to exit; asyncio
    watches the process from a thread that ends once the process has, a moment later on
    a loaded machine. The unit tests fail any test that leaves a thread running, and a
    driver that never exits would be a leak worth that failure: the wait is bounded.
    """
    watchers = [
        thread
        for thread in threading.enumerate()
        if thread not in threads_before and thread.name.startswith("asyncio-waitpid")
    ]
    for _ in range(int(DRIVER_EXIT_SECONDS / 0.05)):
        if not any(thread.is_alive() for thread in watchers):
            return
        await asyncio.sleep(0.05)


async def open_docs(browser: Browser, server: ApiServer) -> tuple[Page, list[str]]:
    """Open /docs; return the page and every URL it asked for."""
    page = await browser.new_page()
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    await page.goto(server.url + "/docs")
    return page, asked


@pytest.mark.timeout(60)
async def test_the_docs_page_renders_the_operations_from_this_worker_only(
    browser: Browser, server: ApiServer
) -> None:
    page, asked = await open_docs(browser, server)

    listing = page.get_by_text("/tasks/instances", exact=True)
    await listing.first.wait_for(timeout=20_000)
    text = await page.inner_text("#swagger-ui")

    assert "/tasks/instance/{id}/retry" in text
    assert "/dead-letters" in text
    assert server.url + "/openapi.json" in asked
    assert {urlsplit(url).netloc for url in asked} == {urlsplit(server.url).netloc}


@pytest.mark.timeout(60)
async def test_with_a_token_the_page_loads_the_document_once_given_it(browser: Browser) -> None:
    engine = new_engine()
    async with LocalEngine(engine), ApiServer(engine, token=TOKEN) as server:
        page, _ = await open_docs(browser, server)
        await page.get_by_text("Failed to load API definition").wait_for(timeout=20_000)

        await page.fill("#dagger-token input", TOKEN)
        await page.click("#dagger-token button")

        listing = page.get_by_text("/tasks/instances", exact=True)
        await listing.first.wait_for(timeout=20_000)
