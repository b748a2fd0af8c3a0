"""Signed links of closing messages: the approval-link mechanism (:mod:`collector.ledger.links`,
HMAC-SHA256, expiring, constant-time checks) with its own context, so a request's approve link
is never valid here and the other way round. The token names one ``incident_closings`` row
(its random ``token_id``); the row leaving ``awaiting`` makes both its links single-use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from collector.ledger.links import ApprovalLinks, InvalidLink, load_secret

ACTIONS = ("confirm", "reopen")
CONTEXT = b"upkeep-incident-closing."
PATH = "/closing"

__all__ = ["ACTIONS", "InvalidLink", "closing_links"]


def closing_links(settings: Any, max_age: float) -> ApprovalLinks:
    """Links valid for ``max_age`` seconds, signed with the collector's approval secret."""
    path = settings.approval_secret_file or (Path(settings.data_dir) / "approval-secret")
    base = settings.public_url or f"http://{settings.host}:{settings.port}"
    return ApprovalLinks(
        load_secret(Path(path)),
        base,
        max_age,
        context=CONTEXT,
        actions=ACTIONS,
        path=PATH,
        what="this incident",
    )
