"""The on-call page: who is on call now and next, the shifts, overrides added through the form
(recorded with the technician's name, then shown and in force), and client viewers kept out."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from collector.oncall.model import parse_text
from collector.oncall.service import Oncall

ONCALL = """
channels:
  chat: {type: slack, url: "http://127.0.0.1:9/hook"}
people:
  anna: {name: Anna Berg, contacts: [{channel: chat, to: U1}]}
  boris: {name: Boris Kovalev, contacts: [{channel: chat, to: U2}]}
rotations:
  primary: {timezone: Europe/Berlin, start: 2026-01-05, people: [anna, boris], handover: {every: day, at: "09:00"}}
"""


def _install(world) -> Oncall:
    incidents = world.app.state.incidents
    oncall = Oncall(world.store, world.settings, incidents.service, parse_text(ONCALL))
    incidents.oncall = oncall
    return oncall


def test_page_shows_now_next_and_a_new_override_takes_over(world, browser) -> None:
    oncall = _install(world)
    tech = browser("tech")
    page = tech.get("/ui/oncall")
    assert page.status_code == 200
    [now] = oncall.who()
    assert now["person"]["name"] in page.text and "Europe/Berlin" in page.text
    assert re.search(
        r'<dd class="next">(Anna Berg|Boris Kovalev) from \w{3} \d\d \w{3} \d{4} 09:00 CE',
        page.text,
    )
    other = "boris" if now["person"]["id"] == "anna" else "anna"
    berlin = datetime.now(ZoneInfo("Europe/Berlin"))
    start = (berlin - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    end = (berlin + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    done = tech.post(
        "/ui/oncall/overrides",
        {
            "rotation": "primary",
            "person": other,
            "start": start,
            "end": end,
            "reason": "swap with a colleague",
        },
    )
    assert done.status_code == 303
    [after] = oncall.who()
    assert after["person"]["id"] == other and after["override"]["reason"] == "swap with a colleague"
    page = tech.get("/ui/oncall")
    assert "override: swap with a colleague" in page.text
    [made] = oncall.list_overrides()
    assert made["created_by"] and made["created_by"] != "anonymous"
    withdraw = tech.post(f"/ui/oncall/overrides/{made['id']}/delete")
    assert withdraw.status_code == 303 and oncall.list_overrides() == []


def test_bad_override_is_named_and_viewers_are_kept_out(world, browser) -> None:
    _install(world)
    tech = browser("tech")
    bad = tech.post(
        "/ui/oncall/overrides",
        {
            "rotation": "primary",
            "person": "anna",
            "start": "2026-03-02T10:00",
            "end": "2026-03-01T10:00",
        },
    )
    assert 'id="error">end: must be after start' in bad.text
    viewer = browser("viewer-a")
    assert viewer.get("/ui/oncall").status_code in (403, 404)
    assert "/ui/oncall" not in viewer.get("/ui/").text
