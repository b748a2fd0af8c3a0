"""Domain exceptions of the collector.

Code below the API and the CLI raises these; :data:`HTTP_STATUS` here maps them to HTTP
status codes (for the API and the web UI alike, :func:`status_for`) and
``collector.cli_support.EXIT_CODES`` to exit codes, each in one table, so a new error needs
one line in each place and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from agent.yamlsource import dotted

#: How many problems the one-line ``detail`` names; ``fields`` always carries all of them.
MAX_DETAIL_PROBLEMS = 5


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


class ClientDisconnected(UpkeepError):
    """The client went away before its request body was complete (nobody reads the answer)."""

    code = "client_disconnected"


class UnsupportedEncoding(UpkeepError):
    """A Content-Encoding other than gzip or identity."""

    code = "unsupported_encoding"


class InvalidBatch(UpkeepError):
    """Well-formed JSON that breaks the wire contract; ``fields`` say where."""

    code = "invalid_batch"


class StoreUnavailable(UpkeepError):
    """The database cannot be reached or is not migrated."""

    code = "store_unavailable"


class IncidentConflict(UpkeepError):
    """An incident changed (on another replica) between reading it and writing the change;
    the caller may try again."""

    code = "conflict"


class ArtefactTooLarge(UpkeepError):
    """A file to keep in the database (a report) is over ``artefact_max_bytes``."""

    code = "artefact_too_large"


class UnknownClient(InvalidBatch):
    """An alert (Alertmanager receiver) names a client Upkeep does not know, or none at all."""

    code = "unknown_client"


#: The one place domain errors become HTTP status codes (most specific class first).
HTTP_STATUS: dict[type[UpkeepError], int] = {
    MalformedBody: 400,
    ClientDisconnected: 400,  # never read: the client is gone
    InvalidArgument: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    AlreadyExists: 409,
    IncidentConflict: 409,
    ArtefactTooLarge: 422,
    BodyTooLarge: 413,
    UnsupportedEncoding: 415,
    InvalidBatch: 422,
    StoreUnavailable: 503,
}


def status_for(exc: UpkeepError) -> int:
    """The HTTP status of a domain error (its nearest class in :data:`HTTP_STATUS`; else 500)."""
    for cls in type(exc).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return 500


def problem_fields(errors: Iterable[Mapping[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """pydantic errors → a one-line ``detail`` naming the first few fields, and all of them."""
    fields = [
        {
            "loc": dotted(err["loc"]),
            "msg": str(err["msg"]).removeprefix("Value error, "),
            "type": err["type"],
        }
        for err in errors
    ]
    detail = "; ".join(f"{f['loc']}: {f['msg']}" for f in fields[:MAX_DETAIL_PROBLEMS])
    if len(fields) > MAX_DETAIL_PROBLEMS:
        detail += f"; and {len(fields) - MAX_DETAIL_PROBLEMS} more problem(s)"
    return detail, fields


def from_validation(exc: ValidationError) -> MalformedBody | InvalidBatch:
    """A request body that failed ``model_validate_json``: 400 if not JSON, else 422 naming the fields."""
    errors = exc.errors(include_url=False, include_input=False)
    if any(err["type"] == "json_invalid" for err in errors):
        return MalformedBody(f"body is not valid JSON: {errors[0]['msg']}")
    detail, fields = problem_fields(errors)
    return InvalidBatch(detail, fields=fields)
