"""The dashboard in a real browser against a real worker on the embedded broker.

One ``dagger worker`` subprocess (the HTTP API tests' app, with an API token) and one
headless Chromium (Debian's /usr/bin/chromium, driven by Playwright) serve every test of
this module; the tests run in file order on the instances made once: failed, completed,
waiting, not started. Whatever a test does through the dashboard is read back through the
API. Screenshots go to the test's folder, and to ``$DAGGER_UI_SCREENSHOTS`` when it is set
(that is how docs/dashboard-*.png are made). If the browser cannot start, the tests fail
saying why; none is skipped.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from dagger.testing import EmbeddedBroker
from integration_tests._harness import Scenario, client
from integration_tests.test_http_api import TOKEN, ApiWorker, _templates, call, until

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

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
XSS = "<script>window.__dagger_xss = 1</script>"
FAILED = ["o-fail-1", "o-fail-2", "o-fail-3"]
COMPLETED = [f"o-{number:02d}" for number in range(11)]
WAITING = {"w-stop": "r-stop", "w-deliver": "r-deliver", "w-letter": "r-letter", "w-xss": "r-xss"}
WAIT = 20_000
"""Milliseconds a page may take to show what a test waits for."""


@dataclass
class Dashboard:
    """The worker, its URL, the broker and scenario, and a client session for the API."""

    worker: ApiWorker
    url: str
    broker: EmbeddedBroker
    scenario: Scenario
    session: aiohttp.ClientSession
    shots: list[Path]

    async def api(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        status, body, _ = await call(self.session, method, self.url + path, **kwargs)
        return status, body

    async def status_of(self, instance_id: str) -> str | None:
        status, body = await self.api("GET", f"/tasks/instance/{instance_id}")
        return str(body["status"]["code"]) if status == 200 else None

    async def until_status(self, instance_id: str, wanted: str, timeout: float = 60) -> None:
        async def reached() -> bool:
            return await self.status_of(instance_id) == wanted

        await until(reached, timeout, f"{instance_id} to be {wanted}")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def dashboard(
    broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Dashboard]:
    tmp_path = tmp_path_factory.mktemp("dashboard")
    scenario = Scenario(tmp_path)
    await broker.acreate_topics(scenario.topics())
    outage = tmp_path / "outage"
    outage.mkdir()
    (outage / "charge").touch()
    worker = ApiWorker(scenario, broker, "ui", DAGGER_API_TOKEN=TOKEN, TEST_OUTAGE_DIR=str(outage))
    async with aiohttp.ClientSession() as session:
        dash = Dashboard(worker, worker.url, broker, scenario, session, [])
        try:
            await worker.wait_ready(session)
            templates_of = _templates(scenario.listen_topic, scenario.listen_topic_b)
            async with client(scenario, broker, templates_of) as templates:
                for instance_id in FAILED:
                    await templates["orders"].create_instance(
                        instance_id, "order_id", order_id=instance_id, submit_task=True
                    )
                for instance_id in FAILED:
                    await dash.until_status(instance_id, "FAILURE")
                (outage / "charge").unlink()  # the service is back: retries will pass
                for instance_id in COMPLETED:
                    await templates["orders"].create_instance(
                        instance_id, "order_id", order_id=instance_id, submit_task=True
                    )
                for instance_id, ref in WAITING.items():
                    await templates["waiter"].create_instance(
                        instance_id, "ref", ref=ref, note=XSS, submit_task=True
                    )
                await templates["orders"].create_instance(
                    "n-later", "order_id", order_id="n-later", submit_task=False
                )

            async def all_listed() -> bool:
                _, _, headers = await call(session, "GET", f"{worker.url}/tasks/instances")
                return headers.get("X-Total-Count") == str(3 + 11 + 4 + 1)

            await until(all_listed, 90, "every instance listed")
            for instance_id in [*COMPLETED, *WAITING]:
                await dash.until_status(
                    instance_id, "COMPLETED" if instance_id in COMPLETED else "EXECUTING"
                )
            yield dash
        finally:
            worker.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        try:
            launched = await playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
        except Exception as exc:  # the reason goes into the failure, never a skip
            pytest.fail(
                f"the dashboard's browser tests need Chromium at {CHROMIUM} "
                f"(scripts/install dev installs it): {exc}",
                pytrace=False,
            )
        try:
            yield launched
        finally:
            await launched.close()


async def _sign_in(page: Page, token: str) -> None:
    await page.fill("input[name=token]", token)
    await page.click("button[type=submit]")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def signed_in(browser: Browser, dashboard: Dashboard) -> AsyncIterator[BrowserContext]:
    """A browser context that has signed in once; each test opens its pages in it."""
    context = await browser.new_context(viewport={"width": 1360, "height": 900})
    page = await context.new_page()
    await page.goto(dashboard.url + "/ui/login")
    await _sign_in(page, TOKEN)
    await page.wait_for_url(re.compile(r"/ui/$"))
    await page.close()
    try:
        yield context
    finally:
        await context.close()


@pytest_asyncio.fixture(loop_scope="module")
async def page(signed_in: BrowserContext) -> AsyncIterator[Page]:
    opened = await signed_in.new_page()
    opened.on("dialog", lambda dialog: dialog.accept())  # the confirmations
    try:
        yield opened
    finally:
        await opened.close()


async def _shot(page: Page, dashboard: Dashboard, name: str, **kwargs: Any) -> None:
    path = dashboard.scenario.tmp_path / f"{name}.png"
    await page.screenshot(path=str(path), **kwargs)
    dashboard.shots.append(path)
    folder = os.environ.get("DAGGER_UI_SCREENSHOTS")
    if folder:
        await page.screenshot(path=str(Path(folder) / f"{name}.png"), **kwargs)


async def _rows(page: Page) -> list[str]:
    return await page.locator("#instances tbody tr[data-id]").evaluate_all(
        "rows => rows.map(row => row.dataset.id)"
    )


async def test_without_the_token_the_dashboard_asks_for_it_and_refuses_a_wrong_one(
    browser: Browser, dashboard: Dashboard
) -> None:
    context = await browser.new_context()
    try:
        page = await context.new_page()
        await page.goto(dashboard.url + "/ui/instance/o-00")
        await expect(page).to_have_url(re.compile(r"/ui/login\?next="))
        await _sign_in(page, "not-the-token")
        await expect(page.locator("#login-error")).to_be_visible()
        assert await page.locator("#instance-header").count() == 0

        await _sign_in(page, TOKEN)
        await expect(page.locator("#instance-header")).to_contain_text("o-00")
        cookies = {cookie["name"]: cookie for cookie in await context.cookies()}
        assert cookies["dagger_session"]["httpOnly"] is True
        assert await page.evaluate("document.cookie.includes('dagger_session')") is False
    finally:
        await context.close()


async def test_the_listing_counts_filters_and_pages(page: Page, dashboard: Dashboard) -> None:
    await page.goto(dashboard.url + "/ui/?limit=10")
    counts = page.locator("#counts")
    await expect(counts.locator('[data-status="FAILURE"] b')).to_have_text("3")
    await expect(counts.locator('[data-status="COMPLETED"] b')).to_have_text("11")
    await expect(counts.locator('[data-status="EXECUTING"] b')).to_have_text("4")
    await expect(counts.locator('[data-status="NOT_STARTED"] b')).to_have_text("1")
    first = await _rows(page)
    assert len(first) == 10
    await _shot(page, dashboard, "dashboard-instances", full_page=True)

    await page.click("#next-page")
    await expect(page.locator("#total")).to_contain_text("page 2")
    second = await _rows(page)
    assert sorted(first + second) == sorted([*FAILED, *COMPLETED, *WAITING, "n-later"])

    await page.goto(dashboard.url + "/ui/")
    await page.check('input[name=status][value="FAILURE"]')
    await page.click("#filters button[type=submit]")
    await expect(page.locator("#total")).to_contain_text("3 matching")
    assert sorted(await _rows(page)) == FAILED

    await page.goto(dashboard.url + "/ui/")
    await page.select_option("select[name=template]", "waiter")
    await page.click("#filters button[type=submit]")
    await expect(page.locator("#total")).to_contain_text("4 matching")
    assert sorted(await _rows(page)) == sorted(WAITING)

    await page.fill("input[name=q]", "r-deliver")  # a partition-key value
    await page.click("#filters button[type=submit]")
    await expect(page.locator("#total")).to_contain_text("1 matching")
    assert await _rows(page) == ["w-deliver"]

    await page.goto(dashboard.url + "/ui/?updated_before=2000-01-01T00:00")
    await expect(page.locator("#total")).to_contain_text("0 matching")


async def test_the_listing_refreshes_itself_until_paused(page: Page, dashboard: Dashboard) -> None:
    await page.goto(dashboard.url + "/ui/?status=NOT_STARTED")
    assert await _rows(page) == ["n-later"]
    assert await page.evaluate("autoRefreshOn()") is True
    async with client(
        dashboard.scenario,
        dashboard.broker,
        _templates(dashboard.scenario.listen_topic, dashboard.scenario.listen_topic_b),
    ) as templates:
        await templates["orders"].create_instance(
            "n-fresh", "order_id", order_id="n-fresh", submit_task=False
        )
    # No reload: the table is refreshed by htmx every 5 seconds.
    await expect(page.locator('#instances tr[data-id="n-fresh"]')).to_be_visible(timeout=WAIT)

    await page.uncheck("#auto-refresh")
    assert await page.evaluate("autoRefreshOn()") is False
    await page.reload()
    assert await page.evaluate("autoRefreshOn()") is False  # the pause outlives a reload


async def test_the_graph_colours_its_nodes_and_opens_the_task_panel(
    page: Page, dashboard: Dashboard
) -> None:
    await page.goto(dashboard.url + "/ui/instance/o-fail-2")
    await expect(page.locator("#instance-status")).to_have_text("FAILURE")
    nodes = await page.locator("svg.graph g.node").evaluate_all(
        """nodes => nodes.map(node => [node.querySelector('title').textContent.split(' ')[0],
                                       node.dataset.kind, node.dataset.status,
                                       node.querySelector('rect').getAttribute('fill')])"""
    )
    assert sorted(nodes) == [
        ["charge_executor_task", "task", "FAILURE", "#fca5a5"],
        ["order", "process", "FAILURE", "#fca5a5"],
        ["reserve_executor_task", "task", "COMPLETED", "#86efac"],
        ["ship_executor_task", "task", "NOT_STARTED", "#e5e7eb"],
    ]
    assert await page.locator("svg.graph path.edge").count() == 3
    # The panel opens on the failed task, with its error and traceback.
    panel = page.locator("#task-panel")
    await expect(panel.locator("#task-error")).to_contain_text("charge service unavailable")
    await expect(panel.locator("#task-traceback")).to_contain_text("Traceback")
    assert await page.locator("#gantt g.span").count() >= 2  # the process, its started tasks
    await _shot(page, dashboard, "dashboard-instance", full_page=True)

    await page.click('svg.graph g.node[data-status="COMPLETED"]')
    await expect(panel.locator("#task")).to_have_attribute("data-status", "COMPLETED")
    await expect(panel).to_contain_text("reserve_executor_task")

    await page.click("#runtime-parameters summary")
    await expect(page.locator("#runtime-parameters pre")).to_contain_text('"trail"')


async def test_a_listener_shows_its_key_and_a_script_in_a_payload_is_shown_as_text(
    page: Page, dashboard: Dashboard
) -> None:
    await page.goto(dashboard.url + "/ui/instance/w-xss")
    listener = page.locator('svg.graph g.node[data-kind="listener"]')
    await expect(listener).to_have_attribute("data-status", "EXECUTING")
    await expect(listener.locator("text.detail")).to_contain_text("ref=r-xss")

    await page.click("#runtime-parameters summary")
    await expect(page.locator("#runtime-parameters pre")).to_contain_text(XSS)
    assert await page.evaluate("window.__dagger_xss") is None
    await page.goto(dashboard.url + "/ui/?template=waiter")
    assert await page.evaluate("window.__dagger_xss") is None


async def test_stop_from_the_dashboard(page: Page, dashboard: Dashboard) -> None:
    await page.goto(dashboard.url + "/ui/instance/w-stop")
    await page.click("#stop")
    await expect(page.locator("#notice")).to_contain_text("stop requested")

    await dashboard.until_status("w-stop", "STOPPED")
    await page.reload()
    await expect(page.locator("#instance-status")).to_have_text("STOPPED")
    assert await page.locator("#stop").count() == 0


async def test_retry_from_the_dashboard_goes_on_from_the_failed_task(
    page: Page, dashboard: Dashboard
) -> None:
    await page.goto(dashboard.url + "/ui/instance/o-fail-1")
    await page.click("#retry")
    await expect(page.locator("#notice")).to_contain_text("retry requested")

    await dashboard.until_status("o-fail-1", "COMPLETED")
    _, document = await dashboard.api("GET", "/tasks/instance/o-fail-1")
    assert document["runtime_parameters"]["trail"] == ["reserve", "charge", "ship"]


async def test_rerun_from_a_task_panel_with_an_edited_parameter(
    page: Page, dashboard: Dashboard
) -> None:
    _, before = await dashboard.api("GET", "/tasks/instance/o-00")
    ids = {task["task_name"]: key for key, task in before["tasks"].items()}
    await page.goto(dashboard.url + f"/ui/instance/o-00?task={ids['ship_executor_task']}")
    await page.locator("form.rerun summary").click()
    await page.fill("#rerun-parameters", '{"note": "shipped again"}')
    await page.click("#rerun")
    await expect(page.locator("#notice")).to_contain_text("rerun requested")

    async def shipped_again() -> bool:
        _, document = await dashboard.api("GET", "/tasks/instance/o-00")
        return bool(
            document["status"]["code"] == "COMPLETED"
            and len(document["runtime_parameters"]["trail"]) == 4
        )

    await until(shipped_again, 60, "o-00 to ship again")
    _, after = await dashboard.api("GET", "/tasks/instance/o-00")
    assert after["runtime_parameters"]["trail"] == ["reserve", "charge", "ship", "ship"]
    assert after["runtime_parameters"]["note"] == "shipped again"
    reserve = ids["reserve_executor_task"]
    assert after["tasks"][reserve]["time_completed"] == before["tasks"][reserve]["time_completed"]
    # The panel shows what the task's new run changed: ship added itself to the trail.
    await page.goto(dashboard.url + f"/ui/instance/o-00?task={ids['ship_executor_task']}")
    changed = page.locator('#parameter-changes tr[data-key="trail"]')
    await expect(changed).to_contain_text('"ship"')


async def test_a_message_delivered_from_the_dashboard_completes_the_listener(
    page: Page, dashboard: Dashboard
) -> None:
    await page.goto(dashboard.url + "/ui/instance/w-deliver")
    form = page.locator("form.deliver")
    await expect(form).to_contain_text("ref=r-deliver")
    assert json.loads(await form.locator("textarea").input_value()) == {"ref": "r-deliver"}
    await form.locator("button").click()
    await expect(page.locator("#notice")).to_contain_text("message sent")

    await dashboard.until_status("w-deliver", "COMPLETED")


async def test_a_bulk_retry_of_the_filter_shows_its_progress(
    page: Page, dashboard: Dashboard
) -> None:
    await page.goto(dashboard.url + "/ui/?status=FAILURE")
    assert sorted(await _rows(page)) == ["o-fail-2", "o-fail-3"]
    await page.click("#bulk-retry")
    job = page.locator("#bulk-job")
    await expect(job).to_have_attribute("data-finished", "yes", timeout=WAIT)
    await expect(job.locator("#bulk-counts")).to_contain_text("2 of 2 · 2 accepted")

    for instance_id in ("o-fail-2", "o-fail-3"):
        await dashboard.until_status(instance_id, "COMPLETED")


async def test_a_dead_letter_is_shown_by_its_instance_edited_and_reinjected(
    page: Page, dashboard: Dashboard
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=dashboard.broker.bootstrap_servers)
    await producer.start()
    try:
        bad = {"ref": "r-letter", "explode": True}
        await producer.send_and_wait(
            dashboard.scenario.listen_topic, json.dumps(bad).encode(), key=b"r-letter"
        )
    finally:
        await producer.stop()

    async def lettered() -> bool:
        status, body = await dashboard.api("GET", "/dead-letters")
        return status == 200 and body["total"] == 1

    await until(lettered, 60, "the message to be dead-lettered")

    await page.goto(dashboard.url + "/ui/dead-letters")
    group = page.locator("section.letter-group")
    await expect(group).to_have_attribute("data-reason", "on_message_raised")
    await expect(group).to_have_attribute("data-topic", dashboard.scenario.listen_topic)
    await expect(group).to_contain_text("on_message refused r-letter")
    await _shot(page, dashboard, "dashboard-dead-letters", full_page=True)

    # The worker recorded which instance the letter blocked: it links there.
    await group.locator("a.instance-link").click()
    await expect(page.locator("#instance-header")).to_contain_text("w-letter")
    await expect(page.locator("#instance-status")).to_have_text("EXECUTING")

    await page.go_back()
    await group.locator("tbody a").first.click()
    await page.fill("#letter-value", json.dumps({"ref": "r-letter"}))
    await page.click("#reinject")
    await expect(page.locator("#notice")).to_contain_text("edited value was reinjected")

    await dashboard.until_status("w-letter", "COMPLETED")


async def test_the_templates_and_workers_pages(page: Page, dashboard: Dashboard) -> None:
    await page.goto(dashboard.url + "/ui/templates/orders")
    nodes = page.locator("svg.graph g.node")
    await expect(nodes).to_have_count(4)  # the process and its three tasks
    assert set(await nodes.evaluate_all("ns => ns.map(n => n.dataset.status)")) == {"NOT_STARTED"}

    await page.goto(dashboard.url + "/ui/workers")
    await expect(page.locator("#workers tr.own td.partitions")).to_have_text("0, 1, 2, 3")
    lag = page.locator("#lag tbody tr", has_text=dashboard.scenario.tasks_topic)
    await expect(lag.first).to_be_visible()
