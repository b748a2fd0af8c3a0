"""The on-call page of the web UI (staff only): who is on call now and next per rotation (in
the rotation's time zone), the shifts of the next two weeks, the people and their channels,
the overrides, and a form to add or withdraw an override (recorded with the user's name)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from collector import timeutil
from collector.errors import InvalidArgument
from collector.web import routes

router = APIRouter(include_in_schema=False, dependencies=[Depends(routes.staff_user)])

#: How far ahead the page lists the shifts.
AHEAD = 14 * 86400.0


def _oncall(request: Request) -> Any:
    return request.app.state.incidents.oncall


def _local(value: datetime | None, tz: str) -> str:
    return "-" if value is None else value.astimezone(ZoneInfo(tz)).strftime("%a %d %b %Y %H:%M %Z")


@router.get(routes.PREFIX + "/oncall")
def oncall_page(request: Request, user: routes.User, error: str | None = None) -> Response:
    oncall = _oncall(request)
    now = timeutil.now()
    rotations = []
    for row in oncall.who(now):
        tz = row["timezone"]
        shifts = oncall.shifts(row["rotation"], now, now + AHEAD)
        rotations.append(
            {
                **row,
                "now_text": _local(row["at"], tz),
                "next_text": None if row["next"] is None else _local(row["next"]["at"], tz),
                "shifts": [
                    {**s, "from_text": _local(s["from"], tz), "to_text": _local(s["to"], tz)}
                    for s in shifts
                ],
            }
        )
    overrides = [
        {
            **o,
            "start_text": _local(o["start"], _tz(oncall, o["rotation"])),
            "end_text": _local(o["end"], _tz(oncall, o["rotation"])),
        }
        for o in oncall.list_overrides()
    ]
    people = [
        {
            "id": pid,
            "name": p.name or pid,
            "channels": [c.channel for c in p.contacts],
            "timezone": p.timezone,
        }
        for pid, p in oncall.config.people.items()
    ]
    return routes.render(
        request,
        "oncall.html",
        {
            "rotations": rotations,
            "overrides": overrides,
            "people": people,
            "error": error,
            "configured": not oncall.config.empty,
        },
    )


def _tz(oncall: Any, rotation: str) -> str:
    found = oncall.config.rotations.get(rotation)
    return found.timezone if found is not None else "UTC"


def _moment(text: str, tz: str, field: str) -> float:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidArgument(f"{field}: {text!r} is not a date and time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(tz))
    return moment.timestamp()


@router.post(routes.PREFIX + "/oncall/overrides")
def add_override(
    request: Request,
    user: routes.CsrfUser,
    rotation: Annotated[str, Form(max_length=64)],
    person: Annotated[str, Form(max_length=64)],
    start: Annotated[str, Form(max_length=40)],
    end: Annotated[str, Form(max_length=40)],
    replaces: Annotated[str, Form(max_length=64)] = "",
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    oncall = _oncall(request)
    tz = _tz(oncall, rotation)
    try:
        oncall.add_override(
            rotation=rotation,
            person=person,
            start=_moment(start, tz, "start"),
            end=_moment(end, tz, "end"),
            replaces=replaces or None,
            reason=reason,
            actor=user.display_name or user.username,
        )
    except InvalidArgument as exc:
        return oncall_page(request, user, error=exc.detail)
    return routes.redirect(routes.PREFIX + "/oncall")


@router.post(routes.PREFIX + "/oncall/overrides/{row_id}/delete")
def delete_override(request: Request, user: routes.CsrfUser, row_id: int) -> Response:
    _oncall(request).delete_override(row_id, user.display_name or user.username)
    return routes.redirect(routes.PREFIX + "/oncall")
