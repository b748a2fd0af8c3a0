"""The management pages as the web UI plugs them in (``collector.web.install`` looks here).

:data:`router` is :data:`collector.management.pages.router` (module level; its handlers use
the web UI's staff dependency and page renderer), so the pages share the UI's layout, session,
navigation and error pages. ``install`` also adds its staff check to every route.
"""

from __future__ import annotations

from collector.management.pages import router

__all__ = ["router"]
