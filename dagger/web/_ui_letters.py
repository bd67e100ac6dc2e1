"""The dashboard's dead-letter inbox: letters grouped by reason and topic, and one letter.

A letter links to the instance it was for: the one its worker recorded, else what its
key names (an instance id or a partition-key value: the link searches for both). One
letter can be inspected, edited (its value replaced before it goes back), reinjected and
purged, through the API's dead-letter calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web

from dagger.web import _ui_views as views
from dagger.web._dead_letter_endpoints import DeadLettersApi
from dagger.web._errors import ApiError
from dagger.web._ui_render import UI_PATH, render

INBOX_LIMIT = 200
"""Letters read for one page of the inbox."""
NOTICES = {
    "reinjected": "reinjected into its original topic (where: see Reinjected)",
    "reinjected_edited": "the edited value was reinjected into its original topic",
    "purged": "the letter was purged",
}
"""What a page says after an action, by the code its address carries."""


class LetterPages:
    """The inbox's handlers over the API's dead-letter calls."""

    def __init__(self, letters: DeadLettersApi) -> None:
        self._letters = letters

    async def inbox(self, request: web.Request) -> web.StreamResponse:
        """Every listed letter of the page, grouped by (reason, original topic)."""
        params = {"limit": str(INBOX_LIMIT)}
        if request.query.get("cursor"):
            params["cursor"] = request.query["cursor"]
        page = dict((await self._letters.page(params)).body)
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for entry in page.get("entries") or []:
            origin = entry.get("origin") or {}
            group = (str(entry.get("reason")), str(origin.get("topic") or "?"))
            groups.setdefault(group, []).append(_row(entry))
        context = {
            "groups": [
                {"reason": reason, "topic": topic, "letters": letters}
                for (reason, topic), letters in sorted(groups.items())
            ],
            "total": page.get("total", 0),
            "next_cursor": page.get("next_cursor"),
            "notice": NOTICES.get(request.query.get("done", ""), ""),
        }
        return render(request, "dead_letters.html", context)

    async def letter(self, request: web.Request) -> web.StreamResponse:
        """One letter whole: its error, origin, key, value (editable) and marks."""
        found = dict((await self._letters.show(request.match_info["letter_id"])).body)
        context = {
            "letter": _row(found),
            "detail": found,
            "notice": NOTICES.get(request.query.get("done", ""), ""),
        }
        return render(request, "dead_letter.html", context)

    async def reinject(self, request: web.Request) -> web.StreamResponse:
        """Reinject the letter; with an edited value, that value in place of its own."""
        letter_id = request.match_info["letter_id"]
        form = await request.post()
        edited = form.get("value")
        value = None
        if isinstance(edited, str) and form.get("edited") == "1":
            value = edited.replace("\r\n", "\n").encode()
        await self._letters.reinject(letter_id, value)
        done = "reinjected_edited" if value is not None else "reinjected"
        raise web.HTTPSeeOther(f"{UI_PATH}/dead-letters/{quote(letter_id, safe='')}?done={done}")

    async def purge(self, request: web.Request) -> web.StreamResponse:
        """Purge the letter and go back to the inbox."""
        letter_id = request.match_info["letter_id"]
        await self._letters.purge(letter_id)
        raise web.HTTPSeeOther(f"{UI_PATH}/dead-letters?done=purged")


def _row(entry: Mapping[str, Any]) -> dict[str, Any]:
    origin = entry.get("origin") or {}
    key = entry.get("key_text")
    instance_id = entry.get("instance_id")
    reinjected = entry.get("reinjected")
    if entry.get("id") is None:
        raise ApiError(502, "a dead letter without an id")
    return {
        "id": str(entry["id"]),
        "reason": entry.get("reason"),
        "error": entry.get("error") or "",
        "time": views.format_time(entry.get("time")),
        "origin": (
            f"{origin.get('topic')}[{origin.get('partition')}]@{origin.get('offset')}"
            if origin
            else "-"
        ),
        "key": key,
        "instance_id": instance_id,
        "instance_link": (
            f"{UI_PATH}/instance/{quote(str(instance_id), safe='')}"
            if instance_id
            else f"{UI_PATH}/?" + urlencode({"q": key})
            if key
            else None
        ),
        "reinjected": (
            f"{views.format_time(reinjected.get('time'))} into {reinjected.get('topic')}"
            if isinstance(reinjected, Mapping)
            else ""
        ),
        "quoted_id": quote(str(entry["id"]), safe=""),
    }
