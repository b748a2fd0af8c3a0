"""On-call over HTTP.

Admin token: ``GET /api/v1/oncall/who[?at=]`` (now and next per rotation),
``GET /api/v1/oncall/rotations/{name}/shifts?start=&end=``, ``GET/POST /api/v1/oncall/overrides``,
``DELETE /api/v1/oncall/overrides/{id}``.

Without login (the person's phone): ``GET /oncall/page?token=`` shows the incident and one
button; ``POST /oncall/page`` (form field ``token``) acknowledges or resolves — the signed,
expiring, single-use link (:mod:`collector.oncall.links`). ``POST
/api/v1/oncall/telegram/{channel}``: Telegram's webhook, checked by its secret-token header.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Annotated, Any

import jinja2
from fastapi import APIRouter, Depends, Form, Header, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from collector.api_auth import Admin, responses
from collector.errors import InvalidArgument
from collector.oncall import texts
from collector.oncall.links import InvalidLink
from collector.oncall.service import Oncall
from collector.runtime import RuntimeDep

_TEXT = r"^[^\x00]*$"
NameParam = Annotated[str, PathParam(max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
MAX_TOKEN = 400


class OverrideIn(BaseModel):
    rotation: str = Field(max_length=64)
    person: str = Field(max_length=64)
    start: datetime
    end: datetime
    replaces: str | None = Field(default=None, max_length=64)
    reason: str = Field(default="", max_length=500, pattern=_TEXT)
    #: Who makes it (a technician's name); default: the admin token.
    by: str | None = Field(default=None, max_length=100, pattern=_TEXT)


#: Moments the API answers for (a schedule is counted hand-over by hand-over from its start).
EARLIEST, LATEST = datetime(2000, 1, 1).timestamp(), datetime(2200, 1, 1).timestamp()


def _parse(text: str, field: str) -> datetime:
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidArgument(f"{field}: {text!r} is not a date and time (ISO 8601)") from None


def _epoch(value: datetime, field: str) -> float:
    if value.tzinfo is None:
        raise InvalidArgument(f"{field}: give a time zone (e.g. 2026-03-02T09:00:00+01:00)")
    try:
        moment = value.timestamp()
    except (OverflowError, ValueError, OSError):
        moment = -1.0
    if not EARLIEST <= moment <= LATEST:
        raise InvalidArgument(f"{field}: must be between 2000 and 2200")
    return moment


@functools.cache
def _pages() -> jinja2.Environment:
    from collector.oncall.texts import PACKAGE_DIR

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(PACKAGE_DIR / "templates")),
        extensions=["jinja2.ext.i18n"],
        autoescape=True,
    )


def _html(language: str, status: int = 200, **values: Any) -> HTMLResponse:
    env = _pages().overlay()
    env.install_gettext_translations(texts.translations(language), newstyle=True)  # type: ignore[attr-defined]
    return HTMLResponse(
        env.get_template("link.html").render(language=language, **values), status_code=status
    )


def get_oncall(runtime: RuntimeDep) -> Oncall:
    """FastAPI dependency: the app's on-call service (``Incidents.oncall``)."""
    return runtime.incidents.oncall


OncallDep = Annotated[Oncall, Depends(get_oncall)]

#: The on-call API (admin token), the paged person's link page and Telegram's webhook.
router = APIRouter(tags=["oncall"], responses=responses(400, 401, 403))


@router.get("/api/v1/oncall/who")
def who(
    principal: Admin,
    oncall: OncallDep,
    at: Annotated[
        str | None,
        Query(max_length=40, description="The moment (ISO 8601 with zone); default now."),
    ] = None,
) -> list[dict[str, Any]]:
    """Per rotation: who is on call at ``at`` and who is next, from when."""
    return oncall.who(None if at is None else _epoch(_parse(at, "at"), "at"))


@router.get("/api/v1/oncall/rotations/{name}/shifts")
def rotation_shifts(
    principal: Admin,
    oncall: OncallDep,
    name: NameParam,
    start: Annotated[str, Query(max_length=40, description="ISO 8601 with zone.")],
    end: Annotated[str, Query(max_length=40, description="ISO 8601 with zone.")],
) -> list[dict[str, Any]]:
    """The shifts of one rotation between ``start`` and ``end`` (at most 92 days)."""
    a, b = _epoch(_parse(start, "start"), "start"), _epoch(_parse(end, "end"), "end")
    if not 0 < b - a <= 92 * 86400:
        raise InvalidArgument("end: must be after start, at most 92 days")
    return oncall.shifts(name, a, b)


@router.get("/api/v1/oncall/overrides")
def list_overrides(
    principal: Admin,
    oncall: OncallDep,
    past: Annotated[bool, Query(description="Also overrides that ended.")] = False,
) -> list[dict[str, Any]]:
    return oncall.list_overrides(include_past=past)


@router.post("/api/v1/oncall/overrides", status_code=201)
def add_override(body: OverrideIn, principal: Admin, oncall: OncallDep) -> dict[str, Any]:
    """Put ``person`` on call in ``rotation`` from ``start`` to ``end`` (a swap, a vacation
    cover; with ``replaces``: only while that person would be on call)."""
    return oncall.add_override(
        rotation=body.rotation,
        person=body.person,
        start=_epoch(body.start, "start"),
        end=_epoch(body.end, "end"),
        replaces=body.replaces,
        reason=body.reason,
        actor=body.by or f"admin-token-{principal.token_id}",
    )


@router.delete("/api/v1/oncall/overrides/{number}", status_code=204)
def delete_override(
    number: Annotated[int, PathParam(ge=1)], principal: Admin, oncall: OncallDep
) -> None:
    oncall.delete_override(number, f"admin-token-{principal.token_id}")


# ------------------------------------------------------------------ no login


@router.get("/oncall/page", response_class=HTMLResponse, include_in_schema=False)
def page_link(
    oncall: OncallDep, token: Annotated[str, Query(max_length=MAX_TOKEN)] = ""
) -> HTMLResponse:
    try:
        info = oncall.page_info(token)
    except InvalidLink:
        return _html(
            "en",
            400,
            key="",
            title="",
            message=texts.translations("en").gettext("This link is not valid or has expired."),
        )
    return _html(
        info["language"],
        key=info["key"],
        title=info["title"],
        used=info["used"],
        action=info["action"],
        token=token,
        action_url="page",
        message=None,
    )


@router.post("/oncall/page", response_class=HTMLResponse, include_in_schema=False)
def page_confirm(
    oncall: OncallDep, token: Annotated[str, Form(max_length=MAX_TOKEN)] = ""
) -> HTMLResponse:
    try:
        info = oncall.page_info(token)
        result = oncall.use_link(token)
    except InvalidLink as exc:
        language = "en"
        status = 400 if "not valid" in exc.detail or "expired" in exc.detail else 409
        t = texts.translations(language)
        if status == 409:
            message = t.gettext("This link was used already.")
        else:
            message = t.gettext("This link is not valid or has expired.")
        return _html(language, status, key="", title="", message=message)
    return _html(
        info["language"],
        key=info["key"],
        title=info["title"],
        message=texts.answer_text(info["language"], result["action"], result["done"]),
    )


@router.post("/api/v1/oncall/telegram/{channel}", include_in_schema=False)
async def telegram_webhook(
    oncall: OncallDep,
    channel: NameParam,
    request: Request,
    secret_token: Annotated[
        str | None, Header(alias="X-Telegram-Bot-Api-Secret-Token", max_length=256)
    ] = None,
) -> dict[str, Any]:
    from starlette.concurrency import run_in_threadpool

    body = await request.body()
    if len(body) > 64 * 1024:
        raise InvalidArgument("the update is too large")
    import json

    try:
        update = json.loads(body or b"{}")
    except ValueError:
        raise InvalidArgument("the update is not JSON") from None
    return await run_in_threadpool(oncall.telegram_update, channel, secret_token, update)
