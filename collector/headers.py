"""Response headers every answer carries: ``Strict-Transport-Security`` when the collector
serves HTTPS itself (``tls_certfile``), so a browser that saw the web UI over HTTPS never
falls back to plain HTTP for ``tls_hsts_max_age`` (default a year).

(``Date`` comes from uvicorn on every answer; agents measure their clock offset by it.)
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HstsMiddleware:
    """Adds ``Strict-Transport-Security: max-age=N`` to every HTTP answer."""

    def __init__(self, app: ASGIApp, *, max_age: int) -> None:
        self.app = app
        self.header = (b"strict-transport-security", f"max-age={max_age}".encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), self.header]
            await send(message)

        await self.app(scope, receive, with_header)
