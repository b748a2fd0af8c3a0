"""JSON over HTTP for the connectors: one client per connector, errors mapped to ConnectorError.

Mapping (CONVENTIONS 7): connection errors, timeouts, 408, 425, 429 and 5xx are retryable;
any other 4xx is permanent (bad credentials, a missing project, a rejected field). Error
messages name the method, path and status and quote a short piece of the answer's body;
they never contain request headers, where the credentials are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from collector.connectors import deadline
from collector.connectors.base import ConnectorError

RETRYABLE_STATUS = frozenset({408, 425, 429})
_BODY_EXCERPT = 300


class NotFoundError(ConnectorError):
    """404: the object is not there (callers that look things up catch this)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


class JsonApi:
    """A small JSON client for one ticket system (``system`` names it in error messages)."""

    def __init__(
        self,
        system: str,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
        timeout: float = 10.0,
        verify: bool | str = True,
    ) -> None:
        self.system = system
        self.client = httpx.Client(
            base_url=base_url.rstrip("/") + "/",
            headers=dict(headers or {}),
            auth=auth,
            timeout=timeout,
            # Each socket operation gets at most the time left of the attempt's deadline.
            transport=deadline.DeadlineTransport(verify=verify),
            follow_redirects=False,
        )

    def send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        ok: Iterable[int] = (),
    ) -> httpx.Response:
        """The answer if its status is below 400 (or in ``ok``). Raises ConnectorError.

        ``path`` is relative to the base URL, or an absolute URL (used as it is).
        """
        where = f"{self.system}: {method} {path if '://' in path else '/' + path.lstrip('/')}"
        try:
            response = self.client.request(
                method,
                path if "://" in path else path.lstrip("/"),
                json=json,
                content=content,
                params=params,
                headers=headers,
            )
        except httpx.TimeoutException:
            left = deadline.remaining()
            why = "the attempt's deadline passed" if left is not None and left <= 0 else "timed out"
            raise ConnectorError(f"{where}: {why}", permanent=False) from None
        except httpx.TransportError as exc:
            raise ConnectorError(f"{where}: {type(exc).__name__}: {exc}", permanent=False) from None
        status = response.status_code
        if status >= 400 and status not in set(ok):
            excerpt = " ".join(response.text[:_BODY_EXCERPT].split())
            message = f"{where}: HTTP {status}{f': {excerpt}' if excerpt else ''}"
            if status == 404:
                raise NotFoundError(message)
            raise ConnectorError(
                message, permanent=not (status >= 500 or status in RETRYABLE_STATUS)
            )
        return response

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """The decoded JSON answer (None for an empty body). Raises ConnectorError."""
        response = self.send(method, path, **kwargs)
        if not response.content.strip():
            return None
        try:
            return response.json()
        except ValueError:
            raise ConnectorError(
                f"{self.system}: {method} /{path.lstrip('/')}: HTTP {response.status_code} "
                "with a body that is not JSON",
                permanent=False,
            ) from None

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.request("POST", path, json=json, **kwargs)

    def put(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.request("PUT", path, json=json, **kwargs)

    def close(self) -> None:
        self.client.close()
