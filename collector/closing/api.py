"""The client's side of closing communication over HTTP, and the staff's view of it.

- ``GET /closing/{confirm|reopen}?token=…``: the page a closing link opens (no login: the
  signed link is the authority). Nothing changes on GET (mail scanners follow links); the
  page's form POSTs the answer with an optional 1–5 rating and comment.
- ``GET|POST /ui/incidents/{key}/closing``: the same answer in the client portal (client
  viewers, their own client's incidents only).
- ``GET /api/v1/closings``: closing messages, answers and ratings (staff API token).

Pages are in the contract's language (templates + the closing catalog).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from collector import timeutil
from collector.api_auth import Admin, responses
from collector.closing import pages
from collector.closing.links import closing_links
from collector.closing.service import ClosingService
from collector.errors import InvalidArgument, UpkeepError
from collector.notices import closing_words as words
from collector.runtime import RuntimeDep, get_runtime
from collector.web import routes
from collector.web.routes import ClientScope, CsrfUser, KeyParam, User

_LINK_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}
Comment = Annotated[str, Form(max_length=4000, pattern=r"^[^\x00]*$")]
Rating = Annotated[str, Form(max_length=1, pattern=r"^[1-5]?$")]
Token = Annotated[str, Form(max_length=2000)]


def _closing(request: Request) -> ClosingService:
    service: ClosingService = get_runtime(request).incidents.closing
    return service


def _language_of(service: ClosingService, token: str) -> str:
    """The contract language of a link that was refused (expired or used links are still
    signed by us), so that the refusal is in the client's language; else English."""
    return service.language_of_token(token)


def _link_page(
    language: str,
    heading: str,
    *,
    message: str | None = None,
    facts: dict[str, Any] | None = None,
    form: bool = False,
    action: str = "",
    token: str = "",
    status: int = 200,
) -> HTMLResponse:
    text = pages.render_page(
        "closing_link.html.j2",
        language,
        {
            "language": language,
            "heading": heading,
            "message": message,
            "facts": facts,
            "form": form,
            "action": action,
            "token": token,
            "form_action": f"/closing/{action}",
            "csrf_token": "",
        },
    )
    return HTMLResponse(text, status_code=status, headers=_LINK_HEADERS)


def _t(language: str, message: str, **values: Any) -> str:
    return pages.gettext(language, message, **values)


def _rating(value: str) -> int | None:
    return int(value) if value else None


#: Every route of closing communication; the handlers reach the closing service through the
#: request's Runtime (``collector.runtime``), so the router can be mounted alone.
router = APIRouter()


@router.get("/closing/{action}", response_class=HTMLResponse, tags=["closing"])
def link_page(
    request: Request,
    action: Literal["confirm", "reopen"],
    token: Annotated[str, Query(max_length=2000)] = "",
) -> HTMLResponse:
    """The page of an e-mailed closing link: the incident and the answer form."""
    service = _closing(request)
    try:
        facts = service.check_link(token, action)
    except UpkeepError as exc:
        language = _language_of(service, token)
        return _link_page(
            language,
            _t(language, words.CANNOT_USE),
            message=_t(language, _refusal(exc)),
            status=400,
        )
    language = facts["language"]
    if not facts["open"]:
        return _link_page(
            language,
            _t(language, words.USED),
            message=_t(language, words.ANSWERED_ON, when=facts["answered"])
            if facts["answered"]
            else _t(language, words.NOTHING_LEFT),
            facts=facts,
            status=410,
        )
    heading = (
        _t(language, words.IS_IT_SOLVED) if action == "confirm" else _t(language, words.NOT_SOLVED)
    )
    return _link_page(language, heading, facts=facts, form=True, action=action, token=token)


@router.post("/closing/{action}", response_class=HTMLResponse, tags=["closing"])
async def link_answer(
    request: Request,
    action: Literal["confirm", "reopen"],
    token: Token = "",
    rating: Rating = "",
    comment: Comment = "",
) -> HTMLResponse:
    """The answer of a closing link's form (single use)."""
    service = _closing(request)
    try:
        done = await run_in_threadpool(
            service.answer_by_link, token, action, rating=_rating(rating), comment=comment
        )
    except UpkeepError as exc:
        language = _language_of(service, token)
        return _link_page(
            language,
            _t(language, words.CANNOT_USE),
            message=exc.detail if exc.code == "link_used" else _t(language, _refusal(exc)),
            status=400,
        )
    return _link_page(done.language, _t(done.language, words.THANK_YOU), message=_thanks(done))


def _refusal(exc: UpkeepError) -> str:
    """The msgid that explains a refused link (the details stay in English for the log)."""
    detail = exc.detail or ""
    if "expired" in detail:
        return words.EXPIRED
    if exc.code == "invalid_argument" and "rating" in detail:
        return words.BAD_RATING
    return words.NOT_VALID


def _thanks(done: Any) -> str:
    if done.state == "confirmed":
        return _t(done.language, words.CLOSED, key=done.key)
    return _t(done.language, words.REOPENED, key=done.key)


# ---------------------------------------------------------------------- the client portal


def _portal_page(
    request: Request,
    language: str,
    facts: dict[str, Any],
    message: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    session = getattr(request.state, "web_session", None)
    state_text = {
        "confirmed": _t(language, words.YOU_CONFIRMED),
        "reopened": _t(language, words.YOU_REOPENED),
        "auto_closed": _t(language, words.AUTO_CLOSED),
        "awaiting": _t(language, words.WAITING),
        "announced": _t(language, words.WAITING),
    }.get(facts["state"], _t(language, words.NOTHING_LEFT))
    text = pages.render_page(
        "closing_portal.html.j2",
        language,
        {
            "user": session.user if session else None,
            "csrf_token": session.csrf_token if session else "",
            "management": getattr(request.app.state, "web_management", False),
            "reports_available": False,
            "request": request,
            "facts": facts,
            "message": message,
            "state_text": state_text,
            "token": "",
            "form_action": f"{routes.PREFIX}/incidents/{facts['key']}/closing",
        },
        (str(routes.TEMPLATES_DIR),),
    )
    return HTMLResponse(text, status_code=status, headers=routes.SECURITY_HEADERS)


def _portal_facts(request: Request, scope: Any, key: str) -> dict[str, Any]:
    service = _closing(request)
    with service.store.read() as conn:
        row = service.portal_row(conn, scope, key)
        if row is None:
            from collector.errors import NotFound

            raise NotFound(f"{key} has no closing message")
        return service._page_facts(conn, row, "reopen")


@router.get(routes.PREFIX + "/incidents/{key}/closing", include_in_schema=False)
def portal_page(request: Request, key: KeyParam, user: User, scope: ClientScope) -> HTMLResponse:
    facts = _portal_facts(request, scope, key)
    if user.is_staff:
        facts["open"] = False  # staff see the answer; the client gives it
    return _portal_page(request, facts["language"], facts)


@router.post(routes.PREFIX + "/incidents/{key}/closing", include_in_schema=False)
def portal_answer(
    request: Request,
    key: KeyParam,
    user: CsrfUser,
    scope: ClientScope,
    action: Annotated[str, Form(max_length=10)] = "",
    rating: Rating = "",
    comment: Comment = "",
) -> HTMLResponse:
    service = _closing(request)
    # Scope first: another client's incident is "not found" whatever the form says.
    with service.store.read() as conn:
        service.portal_row(conn, scope, key)
    if action not in ("confirm", "reopen"):
        raise InvalidArgument("action must be confirm or reopen")
    done = service.answer_in_portal(
        scope,
        user,
        key,
        "confirm" if action == "confirm" else "reopen",
        rating=_rating(rating),
        comment=comment,
    )
    facts = _portal_facts(request, scope, key)
    return _portal_page(request, done.language, facts, message=_thanks(done))


# ---------------------------------------------------------------------- staff API


class ClosingOut(BaseModel):
    id: int
    incident: str
    client: str
    kind: str
    state: str
    resolved_at: datetime
    sent_at: datetime | None
    expires_at: datetime | None
    answered_at: datetime | None
    answered_by: str | None
    answered_via: str | None
    rating: int | None
    comment: str | None


@router.get(
    "/api/v1/closings",
    response_model=list[ClosingOut],
    tags=["closing"],
    responses=responses(401, 403),
)
def list_closings(
    principal: Admin,
    runtime: RuntimeDep,
    client: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[ClosingOut]:
    """Closing messages and announcements, the clients' answers and ratings, newest first."""
    rows = runtime.incidents.closing.list(client=client, limit=limit)
    return [
        ClosingOut(
            **{
                **r,
                **{
                    k: timeutil.to_datetime(r[k])
                    for k in ("resolved_at", "sent_at", "expires_at", "answered_at")
                },
            }
        )
        for r in rows
    ]


def link_url(settings: Any, token_id: str, action: str, now: float, max_age: float) -> str:
    """A closing link (tests and the CLI)."""
    return closing_links(settings, max_age).url(token_id, action, now)
