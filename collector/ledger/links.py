"""Signed, expiring approve/reject links for service-request estimates (HMAC-SHA256).

A token is ``<payload>.<signature>``: the payload is URL-safe base64 of
``{"r": request key, "a": "approve"|"reject", "e": expiry (epoch s)}``, the signature
HMAC-SHA256 over it with the collector's approval secret (``approval_secret_file``, made in
``data_dir`` on first use when unset). Verification is constant-time and checks the action,
so an approve link cannot be turned into a reject link or the other way round. The link
does not make a decision on GET (mail scanners follow links); the page it opens asks the
client to confirm with a POST.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from collector.errors import InvalidArgument

ACTIONS = ("approve", "reject")
_CONTEXT = b"upkeep-request-decision."


class InvalidLink(InvalidArgument):
    """An approval link that is tampered with, expired, or for another action."""

    code = "invalid_link"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class ApprovalLinks:
    """Makes and checks decision links. ``base_url``: the collector as clients reach it.

    ``context`` separates the uses of one secret (a request decision, an incident's closing
    message: :mod:`collector.closing.links`), so a token of one kind is never valid as another;
    ``path`` is where the links point (``<base_url><path>/<action>?token=…``)."""

    secret: bytes
    base_url: str
    max_age: float
    context: bytes = _CONTEXT
    actions: tuple[str, ...] = ACTIONS
    path: str = ""
    what: str = "a request"

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self.secret, self.context + payload.encode(), hashlib.sha256).digest())

    def token(self, key: str, action: str, now: float) -> str:
        if action not in self.actions:
            raise ValueError(f"action must be one of {self.actions}")
        payload = _b64(
            json.dumps(
                {"r": key, "a": action, "e": int(now + self.max_age)}, separators=(",", ":")
            ).encode()
        )
        return f"{payload}.{self._sign(payload)}"

    def url(self, key: str, action: str, now: float) -> str:
        return (
            f"{self.base_url.rstrip('/')}{self.path}/{action}"
            f"?token={quote(self.token(key, action, now))}"
        )

    def verify(self, token: str, action: str, now: float) -> str:
        """The request key the token decides; :class:`InvalidLink` otherwise."""
        payload, _, signature = (token or "").partition(".")
        if not payload or not signature or not hmac.compare_digest(signature, self._sign(payload)):
            raise InvalidLink("this link is not valid (it was changed or is incomplete)")
        try:
            data: dict[str, Any] = json.loads(_unb64(payload))
        except ValueError:
            raise InvalidLink("this link is not valid") from None
        if data.get("a") != action:
            raise InvalidLink(f"this link does not {action} {self.what}")
        if now > float(data.get("e", 0)):
            raise InvalidLink("this link has expired; ask your service provider for a new one")
        return str(data["r"])


def load_secret(path: Path) -> bytes:
    """The secret in ``path``, made (32 random bytes, hex, mode 0600) when the file is missing."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        text = secrets.token_hex(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            return load_secret(path)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
    if len(text) < 16:
        raise InvalidArgument(
            f"approval_secret_file {path}: the secret is too short (16 characters at least)"
        )
    return text.encode()


def links_from_settings(settings: Any) -> ApprovalLinks:
    path = settings.approval_secret_file or (Path(settings.data_dir) / "approval-secret")
    base = settings.public_url or f"http://{settings.host}:{settings.port}"
    return ApprovalLinks(load_secret(Path(path)), base, settings.approval_link_max_age)
