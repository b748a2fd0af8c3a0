"""The management pages as the web UI plugs them in (``collector.web.install`` looks here).

:func:`web_router` builds :func:`collector.management.pages.management_pages_router` with the
web UI's templates, page renderer and staff dependency, so the pages share its layout,
session, navigation and error pages. ``install`` also adds its staff check to every route.
"""

from __future__ import annotations

from fastapi import APIRouter

from collector.management.pages import management_pages_router


def web_router() -> APIRouter:
    """The ``/ui/management`` pages for ``collector.web`` (imported only when the UI is installed)."""
    from collector.web import routes  # the web UI; absent when the collector runs API-only

    return management_pages_router(routes.templates, routes.staff_user, render=routes.render)
