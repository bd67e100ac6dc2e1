"""The dashboard under /ui/ over HTTP, on instances a LocalEngine runs (no browser, no broker).

The browser tests (integration_tests/test_dashboard_browser.py) drive the same pages in
Chromium against a real worker; these check what HTML the server sends and refuses.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from dagger.service.services import Dagger
from dagger.testing import LocalEngine
from dagger.web import _ui as ui
from dagger.web import _ui_access as access
from tests.unit._control_flow_workflows import decide, parallel, process, step, workflow
from tests.unit.web._harness import OUTAGE, ApiServer, orders, waiting

TOKEN = "ui-s3cret"


@pytest.fixture(autouse=True)
def _no_outage() -> Iterator[None]:
    OUTAGE.clear()
    yield
    OUTAGE.clear()


@pytest.fixture
async def browser_session(server: ApiServer) -> AsyncIterator[aiohttp.ClientSession]:
    # unsafe: keep the cookies of 127.0.0.1 (aiohttp's jar drops an IP address's by default).
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(base_url=server.url, cookie_jar=jar) as session:
        yield session


async def _page(session: aiohttp.ClientSession, path: str, **kwargs: Any) -> tuple[int, str]:
    async with session.get(path, **kwargs) as response:
        return response.status, await response.text()


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


async def _start(engine: Dagger, template: Any, instance_id: str, **params: Any) -> str:
    engine.template_dags[template.name] = template
    instance = await template.create_instance(
        instance_id, "order_id", submit_task=True, order_id=f"key-{instance_id}", **params
    )
    return str(instance.id)


async def test_the_listing_shows_counts_per_status_and_filters_by_status(
    engine: Dagger, server: ApiServer, browser_session: aiohttp.ClientSession
) -> None:
    flow = orders(engine)
    await _start(engine, flow, "done-1")
    await _start(engine, flow, "done-2")
    OUTAGE.add("ship")
    await _start(engine, flow, "broken-1")

    status, html = await _page(browser_session, "/ui/")
    assert status == 200
    assert 'data-status="COMPLETED" href' in html
    assert re.search(r'data-status="COMPLETED"[^>]*>COMPLETED <b>2</b>', html)
    assert re.search(r'data-status="FAILURE"[^>]*>FAILURE <b>1</b>', html)

    status, failed = await _page(browser_session, "/ui/?status=FAILURE")
    assert status == 200
    assert 'data-id="broken-1"' in failed
    assert 'data-id="done-1"' not in failed
    # The counts leave the status filter out, so the other statuses stay visible.
    assert re.search(r'data-status="COMPLETED"[^>]*>COMPLETED <b>2</b>', failed)


async def test_search_finds_by_id_and_by_partition_key_value(
    engine: Dagger, server: ApiServer, browser_session: aiohttp.ClientSession
) -> None:
    flow = orders(engine)
    await _start(engine, flow, "alpha")
    await _start(engine, flow, "beta")

    _, by_id = await _page(browser_session, "/ui/?q=alpha")
    _, by_key = await _page(browser_session, "/ui/?q=key-beta")

    assert 'data-id="alpha"' in by_id and 'data-id="beta"' not in by_id
    assert 'data-id="beta"' in by_key and 'data-id="alpha"' not in by_key


async def test_paging_follows_the_cursor_to_the_last_page(
    engine: Dagger, server: ApiServer, browser_session: aiohttp.ClientSession
) -> None:
    flow = orders(engine)
    for number in range(12):
        await _start(engine, flow, f"paged-{number:02d}")

    seen: list[str] = []
    path: str | None = "/ui/?limit=10"
    while path is not None:
        _, html = await _page(browser_session, path)
        seen.extend(re.findall(r'<tr data-id="([^"]+)"', html))
        following = re.search(r'id="next-page" href="([^"]+)"', html)
        path = following.group(1).replace("&amp;", "&") if following else None

    assert sorted(seen) == [f"paged-{number:02d}" for number in range(12)]


async def test_an_instance_shows_its_graph_with_status_colours_and_edges(
    engine: Dagger, server: ApiServer, browser_session: aiohttp.ClientSession
) -> None:
    flow = workflow(
        engine,
        process(
            engine,
            "P",
            step(
                engine,
                "first",
                parallel(engine, "both", step(engine, "left"), step(engine, "right")),
            ),
        ),
        process(engine, "Q", decide(engine, "choose", step(engine, "a"), step(engine, "b"))),
        name="shapes",
    )
    instance_id = await _start(engine, flow, "shaped")

    status, html = await _page(browser_session, f"/ui/instance/{instance_id}")

    assert status == 200
    nodes = dict(
        re.findall(r'<g class="node kind-(\w+)" data-task-id="[^"]+" data-status="(\w+)"', html)
    )
    assert set(nodes) >= {"process", "parallel", "decision", "task"}
    kinds = set(re.findall(r'data-kind="(\w+)" d="', html))
    assert kinds == {"sequence", "start", "branch", "join", "decision"}
    assert 'fill="#86efac" class="status-COMPLETED"' in html
    assert 'id="gantt"' in html


async def test_a_listener_shows_the_key_it_waits_on(
    engine: Dagger, server: ApiServer, browser_session: aiohttp.ClientSession
) -> None:
    instance_id = await _start(engine, waiting(engine, "ui_replies"), "waiter")

    _, html = await _page(browser_session, f"/ui/instance/{instance_id}")

    assert 'data-kind="listener"' in html
    assert "order_id=key-waiter" in html
    assert 'action="/ui/instance/waiter/deliver"' in html


async def test_a_payload_holding_a_script_is_shown_as_text(
    engine: Dagger, server: ApiServer, browser_session: aiohttp.ClientSession
) -> None:
    payload = "<script>alert('x')</script>"
    await _start(engine, orders(engine), "xss", note=payload)

    _, page = await _page(browser_session, "/ui/instance/xss")
    _, listing = await _page(browser_session, "/ui/?q=xss")

    assert payload not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert "<script>alert" not in listing


async def test_a_failed_instance_is_retried_from_the_ui_with_its_csrf_token(
    engine: Dagger, server: ApiServer, browser_session: aiohttp.ClientSession
) -> None:
    OUTAGE.add("charge")
    instance_id = await _start(engine, orders(engine), "retried")
    _, html = await _page(browser_session, f"/ui/instance/{instance_id}")
    assert 'id="task-traceback"' in html and "ConnectionError" in html
    OUTAGE.clear()

    async with browser_session.post(
        f"/ui/instance/{instance_id}/retry", data={"csrf_token": _csrf(html)}
    ) as response:
        assert response.status == 200, await response.text()
        assert "retry requested" in await response.text()

    answer = await server.get(f"/tasks/instance/{instance_id}")
    assert answer.body["status"]["code"] == "COMPLETED"


async def test_a_form_without_its_csrf_token_is_refused(
    engine: Dagger, server: ApiServer, browser_session: aiohttp.ClientSession
) -> None:
    instance_id = await _start(engine, waiting(engine, "ui_csrf"), "guarded")
    await _page(browser_session, "/ui/")  # the CSRF cookie is set

    async with browser_session.post(
        f"/ui/instance/{instance_id}/stop", data={"csrf_token": "forged"}
    ) as response:
        assert response.status == 403
        assert "CSRF" in await response.text()

    answer = await server.get(f"/tasks/instance/{instance_id}")
    assert answer.body["status"]["code"] == "EXECUTING"


async def test_with_a_token_the_dashboard_asks_for_it_and_keeps_a_session(
    engine: Dagger, local: LocalEngine
) -> None:
    async with (
        ApiServer(engine, token=TOKEN) as server,
        aiohttp.ClientSession(
            base_url=server.url, cookie_jar=aiohttp.CookieJar(unsafe=True)
        ) as session,
    ):
        async with session.get("/ui/", allow_redirects=False) as response:
            assert response.status == 303
            assert response.headers["Location"].startswith("/ui/login")
        status, login = await _page(session, "/ui/login")
        assert status == 200
        form = {"csrf_token": _csrf(login), "token": "wrong", "next": "/ui/workers"}
        async with session.post("/ui/login", data=form) as response:
            assert response.status == 401
        form["token"] = TOKEN
        async with session.post("/ui/login", data=form, allow_redirects=False) as response:
            assert response.status == 303
            assert response.headers["Location"] == "/ui/workers"
            cookie = response.cookies[access.SESSION_COOKIE]
            assert cookie["httponly"]
            assert cookie["samesite"] == "Strict"
        status, _ = await _page(session, "/ui/templates")
        assert status == 200


def test_a_session_cookie_is_refused_after_the_token_changes_or_it_expires() -> None:
    cookie = access.new_session(TOKEN, now=1000.0)

    assert access.session_valid(TOKEN, cookie, now=1001.0)
    assert not access.session_valid("another-token", cookie, now=1001.0)
    assert not access.session_valid(TOKEN, cookie, now=1000.0 + access.SESSION_SECONDS)
    assert not access.session_valid(TOKEN, cookie.replace(".", "x", 1), now=1001.0)


async def test_the_assets_are_served_from_the_package(
    server: ApiServer, browser_session: aiohttp.ClientSession
) -> None:
    async with browser_session.get("/ui/static/htmx.min.js") as response:
        assert response.status == 200
        assert "htmx" in (await response.text())[:200]
    async with browser_session.get("/ui/static/nothing.js") as response:
        assert response.status == 404


async def test_a_template_page_draws_its_graph(
    engine: Dagger, server: ApiServer, browser_session: aiohttp.ClientSession
) -> None:
    engine.template_dags["orders"] = orders(engine)

    status, html = await _page(browser_session, "/ui/templates/orders")

    assert status == 200
    assert html.count('<g class="node') == 5  # two processes, three tasks
    assert 'data-status="NOT_STARTED"' in html


async def test_a_slow_listing_starts_with_its_auto_refresh_paused(
    engine: Dagger,
    server: ApiServer,
    browser_session: aiohttp.ClientSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await _start(engine, orders(engine), "one")
    _, quick = await _page(browser_session, "/ui/")
    monkeypatch.setattr(ui, "SLOW_LISTING", -1.0)  # every listing counts as slow

    _, slow = await _page(browser_session, "/ui/")

    assert 'id="auto-refresh" data-default="on"' in quick
    assert 'id="auto-refresh" data-default="paused"' in slow
    assert "the auto-refresh starts paused" in slow


async def test_a_page_shows_no_text_its_address_carries(
    engine: Dagger, server: ApiServer, browser_session: aiohttp.ClientSession
) -> None:
    await _start(engine, orders(engine), "quiet")

    _, spoofed = await _page(browser_session, "/ui/instance/quiet?done=Sign+in+at+evil.example")
    _, known = await _page(browser_session, "/ui/instance/quiet?done=retry")

    assert "evil.example" not in spoofed and 'id="notice"' not in spoofed
    assert "retry requested" in known
