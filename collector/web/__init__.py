"""The collector's web UI: login, dashboard, incidents, clients, assets, rules, reports,
service-request approvals and users, served under ``/ui`` (docs/web-ui.md).

:func:`install` adds it to the collector app: the router, the stylesheet, the management
views of ``collector.management`` when that package offers a router, and error pages for
``/ui`` paths (the API keeps its JSON errors). Other packages add pages with
``collector.web.routes.render`` and the dependencies there; their templates extend
``base.html``.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from collector.errors import UpkeepError, status_for
from collector.incidents.service import IncidentService
from collector.rules.service import RuleService
from collector.settings import Settings
from collector.web.auth import LoginThrottle

log = logging.getLogger(__name__)

#: Failed logins allowed per address: this many times the per-user limit.
ADDRESS_FACTOR = 5
#: Where the management views' router may live (first found wins), and the names it may have.
MANAGEMENT_MODULES = (
    "collector.management.web",
    "collector.management.routes",
    "collector.management",
)
MANAGEMENT_NAMES = ("router", "web_router", "management_router")
#: Pages with a module-level ``router`` (dependencies from ``collector.web.routes``).
PAGE_MODULES = (
    "collector.web.asset_pages",
    "collector.web.fleet",
    "collector.web.backtest",
    "collector.web.connector_pages",  # before onboarding: /connectors/new is not a name
    "collector.web.onboarding",
)


def management_router() -> APIRouter | None:
    """The management views' router, if ``collector.management`` provides one."""
    for module_name in MANAGEMENT_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue  # the module is not there (yet)
            log.exception("management views: importing %s failed", module_name)
            return None
        except Exception:
            log.exception("management views: importing %s failed", module_name)
            return None
        for name in MANAGEMENT_NAMES:
            found: Any = getattr(module, name, None)
            if isinstance(found, APIRouter):
                return found
            if callable(found):
                try:
                    built = found()
                except Exception:
                    log.exception("management views: %s.%s() failed", module_name, name)
                    return None
                if isinstance(built, APIRouter):
                    return built
    return None


def install(
    app: FastAPI, settings: Settings, incidents: IncidentService, rules: RuleService
) -> None:
    """Add the web UI to ``app`` (after the app's own exception handlers are registered).

    The pages reach the incident service and the rules through the app's Runtime
    (``collector.runtime``); ``incidents`` and ``rules`` are kept for older callers."""
    from collector.web import routes

    store = app.state.store
    app.state.web_throttle = LoginThrottle(
        store, settings.web_login_max_failures, settings.web_login_window
    )
    # Per address a larger budget: an office behind one NAT (or a proxy not listed in
    # trusted_proxies) shares one address, and one guesser must not lock everyone out; it
    # still stops spraying many user names. Both count in the database (every replica alike).
    app.state.web_address_throttle = LoginThrottle(
        store, settings.web_login_max_failures * ADDRESS_FACTOR, settings.web_login_window
    )
    # Issue 17's pages, each a module-level router (the asset overview answers /ui/assets/{id}).
    for module_name in PAGE_MODULES:
        app.include_router(importlib.import_module(module_name).router)
    app.include_router(routes.router)
    from collector.web import fixes

    app.include_router(fixes.router)  # "Run fix" (collector/remediation)
    from collector.oncall.web import router as oncall_pages

    app.include_router(oncall_pages)  # staff only (the router's own dependency)
    # A person who opens the collector's bare address lands on the UI, not on a 404. Not an
    # API operation: kept out of the OpenAPI document.
    app.add_api_route(
        "/", routes.root_redirect, methods=["GET"], include_in_schema=False, name="web-root"
    )
    extra = management_router()
    app.state.web_management = extra is not None
    if extra is not None:
        # Staff only, whatever the package's own routes ask for: enforced here, once.
        app.include_router(
            extra, dependencies=[Depends(routes.staff_user)], include_in_schema=False
        )
    app.mount(
        routes.PREFIX + "/static", StaticFiles(directory=routes.STATIC_DIR), name="web-static"
    )

    def web_errors(exc_class: type[Exception]) -> None:
        previous = app.exception_handlers.get(exc_class)

        async def handler(request: Request, exc: Any) -> Any:
            if not routes.is_web(request):
                if previous is None:
                    raise exc
                answer = previous(request, exc)  # Starlette allows sync and async handlers
                return await answer if inspect.isawaitable(answer) else answer
            if isinstance(exc, routes.LoginRequired):
                return routes.login_redirect(request)
            if isinstance(exc, UpkeepError):
                return routes.error_page(request, status_for(exc), exc.detail)
            if isinstance(exc, RequestValidationError):
                return routes.error_page(request, 400, routes.problem_text(exc))
            return routes.error_page(request, exc.status_code, str(exc.detail))

        app.add_exception_handler(exc_class, handler)

    for exc_class in (UpkeepError, RequestValidationError, StarletteHTTPException):
        web_errors(exc_class)
