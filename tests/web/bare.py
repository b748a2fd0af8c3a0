"""One web router mounted alone on a bare FastAPI app (no collector app, no other routes):
the route-level tests of issue 17's pages. The app state holds only what the router's
dependencies read: the collector's Runtime (collector.runtime; the web UI's dependencies reach
the store and settings through it) and, by name, the store, settings and rule service the
pages read; sessions are created in the store."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from collector import timeutil
from collector.errors import UpkeepError
from collector.schema import users
from collector.web import auth
from collector.web.routes import SESSION_COOKIE


def bare_app(world: Any, router: APIRouter) -> FastAPI:
    app = FastAPI()
    app.state.runtime = world.app.state.runtime
    app.state.store = world.store
    app.state.settings = world.settings
    app.state.rules = world.app.state.rules
    app.state.incidents = world.app.state.incidents
    app.include_router(router)

    @app.exception_handler(UpkeepError)
    async def _error(request: Request, exc: UpkeepError) -> JSONResponse:
        from collector.errors import status_for

        return JSONResponse({"error": exc.code, "detail": exc.detail}, status_code=status_for(exc))

    return app


class Session:
    """A TestClient logged in as ``username`` (a session row made in the store)."""

    def __init__(self, app: FastAPI, store: Any, username: str) -> None:
        with store.write() as conn:
            user_id = conn.execute(
                sa.select(users.c.id).where(users.c.username == username)
            ).scalar_one()
            cookie, self.csrf = auth.create_session(conn, user_id, now=timeutil.now(), max_age=3600)
        self.http = TestClient(app, follow_redirects=False, cookies={SESSION_COOKIE: cookie})

    def get(self, url: str, **kw: Any) -> Any:
        return self.http.get(url, **kw)

    def post(self, url: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
        form = {"csrf_token": self.csrf, **(data or {})}
        return self.http.post(url, data=form, **kw)


def anonymous(app: FastAPI) -> TestClient:
    return TestClient(app, follow_redirects=False)
