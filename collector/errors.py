"""Domain exceptions of the collector.

Code below the API and the CLI raises these; ``collector.api`` maps them to HTTP status
codes (``HTTP_STATUS``) and ``collector.cli`` to exit codes (``EXIT_CODES``), each in one
table, so a new error needs one line in each place and nothing else.
"""

from __future__ import annotations

from typing import Any


class UpkeepError(Exception):
    """Base of every error the collector reports on purpose. ``code`` is stable for machines."""

    code = "error"

    def __init__(self, detail: str, *, fields: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fields = fields or []


class InvalidArgument(UpkeepError):
    """An admin gave a value that cannot be used (an empty client name, …)."""

    code = "invalid_argument"


class NotFound(UpkeepError):
    """A named client, token or asset does not exist."""

    code = "not_found"


class AlreadyExists(UpkeepError):
    """Creating something whose name is taken."""

    code = "already_exists"


class Unauthenticated(UpkeepError):
    """No token, a malformed Authorization header, an unknown or a revoked token."""

    code = "unauthenticated"


class Forbidden(UpkeepError):
    """A valid token that may not do this (admin token ingesting, disabled client, …)."""

    code = "forbidden"


class MalformedBody(UpkeepError):
    """The body is not JSON, or not valid gzip."""

    code = "malformed_body"


class BodyTooLarge(UpkeepError):
    """The body, as sent or decompressed, is over the limit."""

    code = "body_too_large"


class UnsupportedEncoding(UpkeepError):
    """A Content-Encoding other than gzip or identity."""

    code = "unsupported_encoding"


class InvalidBatch(UpkeepError):
    """Well-formed JSON that breaks the wire contract; ``fields`` say where."""

    code = "invalid_batch"


class StoreUnavailable(UpkeepError):
    """The database cannot be reached or is not migrated."""

    code = "store_unavailable"


class UnknownClient(InvalidBatch):
    """An alert (Alertmanager receiver) names a client Upkeep does not know, or none at all."""

    code = "unknown_client"
