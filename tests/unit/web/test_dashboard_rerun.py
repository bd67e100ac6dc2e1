"""The task panel's "Rerun from here" form, over HTTP (no browser, no broker)."""

from __future__ import annotations

from collections.abc import Iterator

import aiohttp
import pytest

from dagger.service.services import Dagger
from tests.unit.web._harness import OUTAGE, ApiServer, orders, waiting
from tests.unit.web.test_dashboard import (
    _csrf,
    _page,
    _start,
    browser_session,  # noqa: F401 (a fixture)
)


@pytest.fixture(autouse=True)
def _no_outage() -> Iterator[None]:
    OUTAGE.clear()
    yield
    OUTAGE.clear()


def _task_id(document: dict[str, object], name: str) -> str:
    tasks = document["tasks"]
    assert isinstance(tasks, dict)
    return next(key for key, task in tasks.items() if task["task_name"] == name)


async def test_a_task_is_rerun_from_its_panel_with_edited_parameters(
    engine: Dagger,
    server: ApiServer,
    browser_session: aiohttp.ClientSession,  # noqa: F811
) -> None:
    OUTAGE.add("charge")
    instance_id = await _start(engine, orders(engine), "rerun-ui")
    OUTAGE.clear()
    charge = _task_id((await server.get(f"/tasks/instance/{instance_id}")).body, "charge")
    _, html = await _page(browser_session, f"/ui/instance/{instance_id}?task={charge}")
    assert 'id="rerun"' in html and f'name="from" value="{charge}"' in html

    async with browser_session.post(
        f"/ui/instance/{instance_id}/rerun",
        data={"csrf_token": _csrf(html), "from": charge, "parameters": '{"note": "fixed"}'},
    ) as response:
        assert response.status == 200, await response.text()
        assert "rerun requested" in await response.text()

    document = (await server.get(f"/tasks/instance/{instance_id}")).body
    assert document["status"]["code"] == "COMPLETED"
    assert document["runtime_parameters"]["ran"] == ["reserve", "charge", "ship"]
    assert document["runtime_parameters"]["note"] == "fixed"


async def test_the_form_is_only_on_finished_instances_and_bad_json_is_400(
    engine: Dagger,
    server: ApiServer,
    browser_session: aiohttp.ClientSession,  # noqa: F811
) -> None:
    running = await _start(engine, waiting(engine, "ui_rerun"), "still-running")
    done = await _start(engine, orders(engine), "rerun-done")
    listener = _task_id((await server.get(f"/tasks/instance/{running}")).body, "reply")
    ship = _task_id((await server.get(f"/tasks/instance/{done}")).body, "ship")
    _, running_html = await _page(browser_session, f"/ui/instance/{running}?task={listener}")
    _, html = await _page(browser_session, f"/ui/instance/{done}?task={ship}")
    assert 'id="task"' in running_html
    assert 'id="rerun"' not in running_html
    assert 'id="rerun"' in html

    async with browser_session.post(
        f"/ui/instance/{done}/rerun",
        data={"csrf_token": _csrf(html), "from": ship, "parameters": "{not json"},
    ) as response:
        assert response.status == 400
        assert "the edited parameters are not JSON" in await response.text()
    async with browser_session.post(
        f"/ui/instance/{done}/rerun", data={"csrf_token": "forged", "from": ship}
    ) as response:
        assert response.status == 403
    document = (await server.get(f"/tasks/instance/{done}")).body
    assert document["runtime_parameters"]["ran"] == ["reserve", "charge", "ship"]


async def test_the_panel_shows_the_parameters_a_task_changed_escaped(
    engine: Dagger,
    server: ApiServer,
    browser_session: aiohttp.ClientSession,  # noqa: F811
) -> None:
    done = await _start(engine, orders(engine), "changes", note="<b>bold</b>")
    charge = _task_id((await server.get(f"/tasks/instance/{done}")).body, "charge")

    _, html = await _page(browser_session, f"/ui/instance/{done}?task={charge}")

    table = html[html.index('id="parameter-changes"') :]
    table = table[: table.index("</table>")]
    assert 'data-key="ran"' in table
    assert "&#34;reserve&#34;,\n  &#34;charge&#34;" in table  # after: both names
    assert 'data-key="note"' not in table  # charge did not change it
    assert "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html
