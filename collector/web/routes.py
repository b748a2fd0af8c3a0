"""The web UI's pages and forms (server-rendered Jinja2; usable without JavaScript).

Every page depends on :func:`current_user` (a live session, else a redirect to the login
page) and reads through :func:`client_scope`, the one place that decides which clients a
user may see. Every POST except the login form depends on :func:`csrf_user`, which checks
the session's CSRF token from the form's hidden ``csrf_token`` field (403 otherwise); the
login form carries its own double-submit token. Forms answer with a 303 redirect
(post/redirect/get). Incident actions go through ``IncidentService.act``, exactly as the
API's, so outbox rows and tickets follow.

Other packages add pages with :func:`render` and the dependencies here; their templates
extend ``base.html`` (blocks ``title`` and ``content``; context ``user`` and ``csrf_token``).
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, pass_context, select_autoescape

from collector import timeutil
from collector.errors import (
    AlreadyExists,
    Forbidden,
    InvalidArgument,
    NotFound,
    Unauthenticated,
    UpkeepError,
    status_for,
)
from collector.incidents import lifecycle
from collector.rules.service import RuleService
from collector.runtime import RuntimeDep, get_runtime
from collector.web import approvals, auth, queries, reporting
from collector.web.access import Scope, require_admin, require_staff
from collector.web.auth import WebUser

WEB_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"
#: Templates of the management views (collector.management), found after ours.
MANAGEMENT_TEMPLATES_DIR = WEB_DIR.parent / "management" / "templates"

SESSION_COOKIE = "upkeep_session"
LOGIN_CSRF_COOKIE = "upkeep_login_csrf"
PREFIX = "/ui"
_TEXT = r"^[^\x00]*$"
KeyParam = Annotated[str, PathParam(max_length=140, pattern=r"^[A-Za-z0-9_.-]+$")]
NameParam = Annotated[str, PathParam(max_length=100, pattern=_TEXT)]
IdParam = Annotated[int, PathParam(ge=1, le=2**53)]
ShortText = Annotated[str, Form(max_length=20000, pattern=_TEXT)]

#: Security headers of every web UI response: no framing, no inline script, no caching.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'self'; img-src 'self' data:; "
        "script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class LoginRequired(Unauthenticated):
    """No live session: pages redirect to the login form."""

    code = "login_required"


# ---------------------------------------------------------------------- templates


@pass_context
def _when(context: Any, value: float | datetime | None) -> str:
    """A moment in the page's time zone (the client's calendar on a client's page and for a
    client viewer; UTC on pages across clients), with the zone's abbreviation."""
    if value is None:
        return "-"
    moment = value if isinstance(value, datetime) else timeutil.to_datetime(value)
    tz = ZoneInfo(context.get("display_tz") or "UTC")
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def _client_of_page(context: dict[str, Any], session: Any) -> int | None:
    user = session.user if session else None
    if user is not None and getattr(user, "client_id", None) is not None:
        return int(user.client_id)
    for key in ("incident", "client", "asset"):
        item = context.get(key)
        if item is None:
            continue
        value = item.get("client_id") if isinstance(item, dict) else None
        if value is None and key == "client":
            value = item.get("id") if isinstance(item, dict) else getattr(item, "id", None)
        if value is None:
            value = getattr(item, "client_id", None)
        if isinstance(value, int):
            return value
    return None


def _display_timezone(request: Request, context: dict[str, Any], session: Any) -> str:
    """The time zone a page shows times in: its client's contract calendar, else UTC."""
    if context.get("display_tz"):
        return str(context["display_tz"])
    client_id = _client_of_page(context, session)
    store = getattr(request.app.state, "store", None)
    if client_id is None or store is None:
        return "UTC"
    from collector.contracts.store import get_contract

    try:
        with store.read() as conn:
            contract = get_contract(conn, client_id)
    except Exception:  # a page never fails over its time zone
        return "UTC"
    return contract.calendar.timezone if contract is not None else "UTC"


def _ago(epoch: float | None) -> str:
    if epoch is None:
        return "never"
    return _span(timeutil.now() - epoch) + " ago"


def _span(seconds: float) -> str:
    seconds = abs(int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} d {seconds % 86400 // 3600} h"


def _plural(count: int, singular: str, plural: str | None = None) -> str:
    """``1 | plural("asset")`` → "1 asset", ``2`` → "2 assets" (the web UI is English)."""
    return f"{count} {singular if count == 1 else plural or singular + 's'}"


def _noun(count: int, singular: str, plural: str | None = None) -> str:
    """The word alone: ``1 | noun("asset")`` → "asset" (for a count shown in its own markup)."""
    return singular if count == 1 else plural or singular + "s"


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}" if abs(value) < 1e-3 or abs(value) >= 1e6 else f"{value:.2f}"


def _environment() -> Environment:
    env = Environment(
        loader=ChoiceLoader(
            [FileSystemLoader(str(TEMPLATES_DIR)), FileSystemLoader(str(MANAGEMENT_TEMPLATES_DIR))]
        ),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    env.filters.update(when=_when, ago=_ago, span=_span, number=_number, points=queries.points)
    env.filters["plural"] = _plural
    env.filters["noun"] = _noun
    return env


templates = Jinja2Templates(env=_environment())


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200
) -> Response:
    """A page from ``name``, with ``user``, ``csrf_token`` and the navigation filled in."""
    session: auth.Session | None = getattr(request.state, "web_session", None)
    full = {
        "user": session.user if session else None,
        "csrf_token": session.csrf_token if session else "",
        "management": getattr(request.app.state, "web_management", False),
        "reports_available": reporting.available(),
        "request": request,
        **(context or {}),
    }
    full["display_tz"] = _display_timezone(request, full, session)
    response = templates.TemplateResponse(request, name, full, status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    return response


def silence_threshold(rule_service: RuleService, settings: Any) -> float:
    """Seconds without data before the dashboard lists an agent as silent: the loaded rules'
    own definition (:meth:`RuleService.silent_after`), else ``web_agent_silent_after``."""
    return rule_service.silent_after() or settings.web_agent_silent_after


def root_redirect() -> Response:
    """``GET /``: to the web UI (307, so the method stays GET)."""
    response = RedirectResponse(PREFIX + "/", status_code=307)
    response.headers.update(SECURITY_HEADERS)
    return response


def redirect(url: str) -> Response:
    response = RedirectResponse(url, status_code=303)
    response.headers.update(SECURITY_HEADERS)
    return response


# ---------------------------------------------------------------------- dependencies


def current_session(request: Request) -> auth.Session:
    """The live session of the request's cookie, else :class:`LoginRequired`."""
    session = getattr(request.state, "web_session", None)
    if session is not None:
        return session
    cookie = request.cookies.get(SESSION_COOKIE, "")
    settings = get_runtime(request).settings
    session = (
        auth.load_session(
            get_runtime(request).store, cookie, now=timeutil.now(), idle=settings.web_session_idle
        )
        if cookie
        else None
    )
    if session is None:
        raise LoginRequired("log in first")
    request.state.web_session = session
    return session


def current_user(session: Annotated[auth.Session, Depends(current_session)]) -> WebUser:
    return session.user


User = Annotated[WebUser, Depends(current_user)]


def client_scope(user: User) -> Scope:
    """The clients the logged-in user may see: the one dependency every page reads through."""
    return Scope.of(user)


ClientScope = Annotated[Scope, Depends(client_scope)]


def staff_user(user: User) -> WebUser:
    require_staff(user)
    return user


def admin_user(user: User) -> WebUser:
    require_admin(user)
    return user


def csrf_user(
    session: Annotated[auth.Session, Depends(current_session)],
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> WebUser:
    """A state-changing form: the hidden ``csrf_token`` must be this session's (else 403)."""
    if not auth.tokens_match(session.csrf_token, csrf_token):
        raise Forbidden(
            "the form's security token is missing or stale; reload the page and try again"
        )
    return session.user


CsrfUser = Annotated[WebUser, Depends(csrf_user)]


def _safe_next(target: str | None) -> str:
    # Only our own pages: no scheme, no host, no protocol-relative //host, no backslashes.
    if (
        target
        and target.startswith(PREFIX + "/")
        and not target.startswith("//")
        and "\\" not in target
    ):
        return target
    return PREFIX + "/"


def _secure(request: Request) -> bool:
    return bool(get_runtime(request).settings.web_cookie_secure) or request.url.scheme == "https"


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "?"


# ---------------------------------------------------------------------- the router


#: The web UI's routes under ``/ui`` (not part of the OpenAPI document). Defined at module
#: level: a handler reaches the collector through ``RuntimeDep`` (collector.runtime).
router = APIRouter(prefix=PREFIX, include_in_schema=False)


def web_router(*_unused: Any) -> APIRouter:
    """The web UI's router (:data:`router`); the arguments are ignored (the runtime is a
    dependency now) and kept so older callers keep working."""
    return router


# ------------------------------------------------------------------ login, logout


@router.get("/login")
def login_form(request: Request, next: Annotated[str, Query(max_length=2000)] = "") -> Response:
    try:
        current_session(request)
        return redirect(_safe_next(next))
    except LoginRequired:
        pass
    token = secrets.token_urlsafe(32)
    response = render(request, "login.html", {"login_csrf": token, "next": _safe_next(next)})
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        path=PREFIX + "/login",
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )
    return response


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form(max_length=100)] = "",
    password: Annotated[str, Form(max_length=auth.MAX_PASSWORD_LENGTH)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    if not auth.tokens_match(request.cookies.get(LOGIN_CSRF_COOKIE, ""), csrf_token):
        raise Forbidden("the login form expired; reload it and try again")
    settings = get_runtime(request).settings
    by_user: auth.LoginThrottle = request.app.state.web_throttle
    by_address: auth.LoginThrottle = request.app.state.web_address_throttle
    now = timeutil.now()
    user_key, address_key = [f"user:{username.lower()}"], [f"addr:{_client_ip(request)}"]
    context = {"login_csrf": csrf_token, "next": _safe_next(next), "username": username}
    wait = max(by_user.retry_after(user_key, now), by_address.retry_after(address_key, now))
    if wait > 0:
        response = render(
            request,
            "login.html",
            {**context, "error": (f"Too many failed logins. Try again in {_span(wait)}.")},
            status_code=429,
        )
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    user = auth.check_login(get_runtime(request).store, username, password, now)
    if user is None:
        by_user.failed(user_key, now)
        by_address.failed(address_key, now)
        return render(
            request,
            "login.html",
            {**context, "error": "Wrong user name or password."},
            status_code=401,
        )
    by_user.succeeded(user_key)
    store = get_runtime(request).store
    with store.write() as conn:
        old = request.cookies.get(SESSION_COOKIE)
        if old:  # a new id at every login: a planted cookie never becomes a session
            auth.delete_session(conn, old)
        session_id, _ = auth.create_session(
            conn, user.id, now=now, max_age=settings.web_session_max_age
        )
        # Sessions nobody came back to: cleared here, the one moment sessions are written anyway.
        auth.purge_sessions(conn, now=now, idle=settings.web_session_idle)
    response = redirect(_safe_next(next))
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int(settings.web_session_max_age),
        path=PREFIX,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=PREFIX + "/login")
    return response


@router.post("/logout")
def logout(request: Request, user: CsrfUser) -> Response:
    with get_runtime(request).store.write() as conn:
        auth.delete_session(conn, request.cookies.get(SESSION_COOKIE, ""))
    response = redirect(PREFIX + "/login")
    response.delete_cookie(
        SESSION_COOKIE, path=PREFIX, httponly=True, samesite="lax", secure=_secure(request)
    )
    return response


# ------------------------------------------------------------------ dashboard


@router.get("/")
def dashboard(request: Request, user: User, scope: ClientScope, runtime: RuntimeDep) -> Response:
    settings = get_runtime(request).settings
    now = timeutil.now()
    silent_after = silence_threshold(runtime.rules, settings)
    with get_runtime(request).store.read() as conn:
        context = {
            "silent_after": silent_after,
            "open_incidents": queries.open_incidents(conn, scope),
            "at_risk": queries.sla_at_risk(
                conn, scope, now=now, window=settings.web_sla_risk_window
            ),
            "silent": queries.silent_agents(conn, scope, now=now, after=silent_after),
            "awaiting": approvals.awaiting(conn, scope),
            "balance": (
                queries.points(queries.balances(conn, scope).get(user.client_id))
                if user.client_id is not None
                else None
            ),
            "firing": queries.alert_count(conn, scope) if user.is_staff else None,
        }
    return render(request, "dashboard.html", context)


# ------------------------------------------------------------------ incidents


@router.get("/incidents")
def incident_list(
    request: Request,
    user: User,
    scope: ClientScope,
    client: Annotated[str, Query(max_length=100, pattern=_TEXT)] = "",
    state: Annotated[str, Query(max_length=30, pattern=_TEXT)] = "",
    priority: Annotated[str, Query(max_length=20, pattern=_TEXT)] = "",
    origin: Annotated[str, Query(max_length=20, pattern=_TEXT)] = "",
) -> Response:
    states: tuple[str, ...] | None
    if state == "active":
        states = queries.OPEN_STATES
    elif state in queries.STATES:
        states = (state,)
    elif state in ("", "all"):
        states = None
    else:
        raise InvalidArgument(f"state must be active, all or one of {', '.join(queries.STATES)}")
    if priority and priority not in queries.PRIORITIES:
        raise InvalidArgument(f"priority must be one of {', '.join(queries.PRIORITIES)}")
    if origin and origin not in queries.ORIGINS:
        raise InvalidArgument(f"origin must be one of {', '.join(queries.ORIGINS)}")
    with get_runtime(request).store.read() as conn:
        options = queries.client_options(conn, scope)
        client_id = None
        if client:
            client_id = queries.client_by_name(conn, scope, client).id
        rows = queries.list_incidents(
            conn,
            scope,
            client_id=client_id,
            states=states,
            priority=priority or None,
            origin=origin or None,
        )
    return render(
        request,
        "incidents.html",
        {
            "rows": rows,
            "clients": options,
            "filters": {
                "client": client,
                "state": state,
                "priority": priority,
                "origin": origin,
            },
            "states": queries.STATES,
            "priorities": queries.PRIORITIES,
            "origins": queries.ORIGINS,
        },
    )


@router.get("/incidents/{key}")
def incident_detail(
    request: Request, key: KeyParam, user: User, scope: ClientScope, runtime: RuntimeDep
) -> Response:
    with get_runtime(request).store.read() as conn:
        row = queries.incident_row(conn, scope, key)
        sla = queries.incident_sla_row(conn, row.id)
        sync = queries.ticket_sync(conn, row.id) if user.is_staff else []
    detail = runtime.incident_service.get(key)
    return render(
        request,
        "incident.html",
        {
            "incident": row,
            "detail": detail,
            "sla": sla,
            "sync": sync,
            "causes": queries.CAUSES,
            "active": row.state in queries.OPEN_STATES,
            "actions": lifecycle.TECHNICIAN_ACTIONS,
            "priorities": queries.PRIORITIES,
        },
    )


@router.post("/incidents/{key}/{action}")
def incident_action(
    request: Request,
    key: KeyParam,
    action: Literal[
        "acknowledge",
        "comment",
        "time",
        "cause",
        "resolve",
        "reopen",
        "close",
        "wait",
        "resume",
        "priority",
    ],
    user: CsrfUser,
    scope: ClientScope,
    runtime: RuntimeDep,
    body: ShortText = "",
    note: ShortText = "",
    minutes: Annotated[str, Form(max_length=10)] = "",
    work_type: Annotated[str, Form(max_length=40, pattern=_TEXT)] = "",
    cause: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=30)] = "",
    priority: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    require_staff(user)
    with get_runtime(request).store.read() as conn:
        queries.incident_row(
            conn, scope, key
        )  # staff see all; kept so the check never goes missing
    args: dict[str, Any]
    if action == "comment":
        args = {"body": body}
    elif action == "time":
        if not re.fullmatch(r"\d{1,6}", minutes.strip()) or int(minutes) <= 0:
            raise InvalidArgument("minutes must be a positive whole number")
        args = {"minutes": int(minutes), "work_type": work_type or None, "note": note}
    elif action == "cause":
        args = {"cause": cause}
    elif action in ("resolve", "reopen", "close", "resume"):
        args = {"note": note or None}
    elif action == "wait":  # the SLA clocks pause (waiting_for_client / waiting_for_third_party)
        args = {"reason": reason, "note": note or None}
    elif action == "priority":
        args = {"priority": priority, "note": note or None}
    else:
        args = {}
    runtime.incident_service.act(
        key, "time_entry" if action == "time" else action, user.username, **args
    )
    return redirect(f"{PREFIX}/incidents/{quote(key)}")


# ------------------------------------------------------------------ clients and assets


@router.get("/clients")
def client_list(request: Request, user: User, scope: ClientScope) -> Response:
    with get_runtime(request).store.read() as conn:
        rows = queries.list_clients(conn, scope)
    return render(request, "clients.html", {"rows": rows})


@router.get("/clients/{name}")
def client_detail(request: Request, name: NameParam, user: User, scope: ClientScope) -> Response:
    with get_runtime(request).store.read() as conn:
        page = queries.client_page(conn, scope, name)
    return render(request, "client.html", page)


# ------------------------------------------------------------------ rules


@router.get("/rules")
def rules_status(request: Request, user: User, scope: ClientScope, runtime: RuntimeDep) -> Response:
    require_staff(user)
    with get_runtime(request).store.read() as conn:
        firing = queries.alerts(conn, scope)
    return render(request, "rules.html", {"status": runtime.rules.status(), "alerts": firing})


@router.post("/rules/reload")
def rules_reload(request: Request, user: CsrfUser, runtime: RuntimeDep) -> Response:
    require_admin(user)
    runtime.rules.reload()
    return redirect(PREFIX + "/rules")


# ------------------------------------------------------------------ dead letters


# The Retry buttons of the management page "connectors" (staff): a dead delivery or
# notice is queued again; the workers send it first, later rows of its incident follow.
def _retry(request: Request, which: str, ids: list[int] | None) -> Response:
    from collector import notify
    from collector.incidents import outbox as outbox_queue

    retry = outbox_queue.retry if which == "outbox" else notify.retry
    with get_runtime(request).store.write() as conn:
        revived = retry(conn, ids, timeutil.now())
    logging.getLogger(__name__).info("web UI: %s %s queued again", which, revived)
    return redirect(PREFIX + "/management/connectors")


@router.post("/outbox/{row_id}/retry")
def outbox_retry(
    request: Request, user: CsrfUser, row_id: Annotated[int, PathParam(ge=1, le=2**62)]
) -> Response:
    require_staff(user)
    return _retry(request, "outbox", [row_id])


@router.post("/outbox/retry")
def outbox_retry_all(request: Request, user: CsrfUser) -> Response:
    require_staff(user)
    return _retry(request, "outbox", None)


@router.post("/notifications/{row_id}/retry")
def notification_retry(
    request: Request, user: CsrfUser, row_id: Annotated[int, PathParam(ge=1, le=2**62)]
) -> Response:
    require_staff(user)
    return _retry(request, "notifications", [row_id])


@router.post("/notifications/retry")
def notification_retry_all(request: Request, user: CsrfUser) -> Response:
    require_staff(user)
    return _retry(request, "notifications", None)


# ------------------------------------------------------------------ reports


@router.get("/reports")
def report_list(request: Request, user: User, scope: ClientScope) -> Response:
    with get_runtime(request).store.read() as conn:
        rows = queries.list_reports(conn, scope)
        options = queries.client_options(conn, scope)
    return render(
        request,
        "reports.html",
        {
            "rows": rows,
            "clients": options,
            "formats": reporting.FORMATS,
            "period": _previous_period(),
        },
    )


@router.get("/reports/{report_id}/download")
def report_download(
    request: Request, report_id: IdParam, user: User, scope: ClientScope
) -> Response:
    with get_runtime(request).store.read() as conn:
        row = queries.report_row(conn, scope, report_id)
    content = reporting.archived_content(
        get_runtime(request).store, get_runtime(request).settings, row
    )
    media = {
        "html": "text/html",
        "pdf": "application/pdf",
        "json": "application/json",
        "csv": "text/csv",
    }.get(row.format, "application/octet-stream")
    filename = f"upkeep-report-{row.client}-{row.period}.{row.format}"
    safe_name = re.sub(r"[^A-Za-z0-9_.-]", "-", filename)
    response = Response(
        content,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{safe_name}"'},
    )
    response.headers.update(
        {k: v for k, v in SECURITY_HEADERS.items() if k != "Content-Security-Policy"}
    )
    # A downloaded HTML report is the client's document: never run anything from it here.
    response.headers["Content-Security-Policy"] = (
        "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    )
    return response


@router.post("/reports/generate")
def report_generate(
    request: Request,
    user: CsrfUser,
    scope: ClientScope,
    client: Annotated[str, Form(max_length=100, pattern=_TEXT)],
    period: Annotated[str, Form(max_length=10, pattern=r"^\d{4}-\d{2}$")],
    format: Annotated[str, Form(max_length=10)] = "html",
) -> Response:
    require_staff(user)
    with get_runtime(request).store.read() as conn:
        queries.client_by_name(conn, scope, client)
    if not reporting.available():
        raise NotFound(
            "reports are not available in this collector yet (collector.reports is not installed)"
        )
    reporting.generate(
        get_runtime(request).store,
        get_runtime(request).settings,
        client=client,
        period=period,
        fmt=format,
        actor=user.username,
    )
    return redirect(PREFIX + "/reports")


# ------------------------------------------------------------------ service requests


@router.get("/requests")
def request_list(request: Request, user: User, scope: ClientScope) -> Response:
    with get_runtime(request).store.read() as conn:
        rows = queries.list_requests(conn, scope)
    return render(request, "requests.html", {"rows": rows})


@router.post("/requests/{key}/{decision}")
def request_decide(
    request: Request,
    key: KeyParam,
    decision: Literal["approve", "reject"],
    user: CsrfUser,
    scope: ClientScope,
    note: ShortText = "",
) -> Response:
    approvals.decide(
        get_runtime(request).store, scope, user, key, decision, note.strip(), timeutil.now()
    )
    return redirect(PREFIX + "/requests")


# ------------------------------------------------------------------ users (admins)

#: The Users form's role choices, least privileged first (and preselected).
ROLE_CHOICES = sorted(auth.ROLES, key=lambda r: r != auth.LEAST_PRIVILEGED_ROLE)


def users_page(
    request: Request, form: dict[str, str] | None = None, error: str = "", status: int = 200
) -> Response:
    with get_runtime(request).store.read() as conn:
        rows = auth.list_users(conn)
        options = queries.client_options(conn, Scope(None))
    shown = {"username": "", "display_name": "", "client": ""}
    shown.update(form or {})
    shown.setdefault("role", auth.LEAST_PRIVILEGED_ROLE)
    return render(
        request,
        "users.html",
        {"rows": rows, "clients": options, "roles": ROLE_CHOICES, "form": shown, "error": error},
        status_code=status,
    )


@router.get("/users")
def user_list(request: Request, user: User) -> Response:
    require_admin(user)
    return users_page(request)


@router.post("/users")
def user_add(
    request: Request,
    user: CsrfUser,
    username: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=auth.MAX_PASSWORD_LENGTH)],
    role: Annotated[str, Form(max_length=20)] = auth.LEAST_PRIVILEGED_ROLE,
    client: Annotated[str, Form(max_length=100, pattern=_TEXT)] = "",
    display_name: Annotated[str, Form(max_length=200, pattern=_TEXT)] = "",
) -> Response:
    require_admin(user)
    # Shown back on a refusal (never the password), so nothing typed is lost.
    typed = {"username": username, "display_name": display_name, "role": role, "client": client}
    try:
        if role not in auth.ROLES:
            raise InvalidArgument(f"Role: must be one of {', '.join(auth.ROLES)}")
        if role == "client_viewer" and not client:
            raise InvalidArgument(
                "Client: a client viewer sees one client's pages; choose that client"
            )
        if role != "client_viewer" and client:
            raise InvalidArgument(
                f"Client: a {role.replace('_', ' ')} sees every client; leave Client empty"
            )
        with get_runtime(request).store.write() as conn:
            auth.create_user(
                conn,
                username.strip(),
                password,
                role=role,
                client=client or None,
                display_name=display_name.strip(),
                now=timeutil.now(),
            )
    except (InvalidArgument, NotFound, AlreadyExists) as exc:
        return users_page(request, typed, exc.detail, status_for(exc))
    return redirect(PREFIX + "/users")


@router.post("/users/{name}/{change}")
def user_change(
    request: Request, name: NameParam, change: Literal["disable", "enable"], user: CsrfUser
) -> Response:
    require_admin(user)
    if change == "disable" and name == user.username:
        raise InvalidArgument("you cannot disable yourself")
    with get_runtime(request).store.write() as conn:
        auth.set_disabled(conn, name, change == "disable")
    return redirect(PREFIX + "/users")


def _previous_period() -> str:
    today = timeutil.to_datetime(timeutil.now())
    year, month = (today.year - 1, 12) if today.month == 1 else (today.year, today.month - 1)
    return f"{year:04d}-{month:02d}"


# ---------------------------------------------------------------------- errors as pages

_TITLES = {
    400: "Bad request",
    401: "Not logged in",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    422: "Bad request",
    429: "Too many requests",
    503: "Unavailable",
}


def error_page(request: Request, status: int, detail: str) -> Response:
    if status == 422:  # a form or query the UI did not send: a plain bad request for a person
        status = 400
    with contextlib.suppress(UpkeepError):  # without a session the page has no navigation
        current_session(request)
    return render(
        request,
        "error.html",
        {"status": status, "title": _TITLES.get(status, "Error"), "detail": detail},
        status_code=status,
    )


def is_web(request: Request) -> bool:
    return request.url.path == PREFIX or request.url.path.startswith(PREFIX + "/")


def login_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        target = ""
    return redirect(f"{PREFIX}/login" + (f"?next={quote(target, safe='')}" if target else ""))


def problem_text(exc: Any) -> str:
    """One line for a person from a RequestValidationError."""
    problems = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err.get("loc", ())[1:]) or "request"
        problems.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(problems) or "invalid request"
