"""Signed, expiring, single-use acknowledge/resolve links in pages (HMAC-SHA256).

The token has the shape of the approval links' (:mod:`collector.ledger.links`: URL-safe
base64 payload, a dot, the signature) and the same secret file, under its own signing context,
so an approval token is never a valid page token or the other way round. The payload names the
page (its row number), the action (``ack`` / ``res``) and the expiry. Single use is the
database's part: the page row records the first use of each link
(:func:`collector.oncall.service.Oncall.use_link`). A GET only shows the page with a button; the
action happens on the POST (mail scanners and link previews follow links).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from collector.ledger.links import InvalidLink, _b64, _unb64, load_secret

ACTIONS = {"ack": "acknowledge", "res": "resolve"}
_CONTEXT = b"upkeep-oncall-page."

__all__ = ["ACTIONS", "InvalidLink", "PageLinks", "load_secret"]


@dataclass(frozen=True)
class PageLinks:
    secret: bytes
    base_url: str
    max_age: float

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self.secret, _CONTEXT + payload.encode(), hashlib.sha256).digest())

    def token(self, page: int, action: str, now: float) -> str:
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {sorted(ACTIONS)}")
        payload = _b64(
            json.dumps(
                {"p": page, "a": action, "e": int(now + self.max_age)}, separators=(",", ":")
            ).encode()
        )
        return f"{payload}.{self._sign(payload)}"

    def url(self, page: int, action: str, now: float) -> str:
        return (
            f"{self.base_url.rstrip('/')}/oncall/page?token={quote(self.token(page, action, now))}"
        )

    def verify(self, token: str, now: float) -> tuple[int, str]:
        """(page number, action) of a valid token; :class:`InvalidLink` otherwise."""
        payload, _, signature = (token or "").partition(".")
        if not payload or not signature or not hmac.compare_digest(signature, self._sign(payload)):
            raise InvalidLink("this link is not valid (it was changed or is incomplete)")
        try:
            data: dict[str, Any] = json.loads(_unb64(payload))
            page, action = int(data["p"]), str(data["a"])
        except (ValueError, KeyError, TypeError):
            raise InvalidLink("this link is not valid") from None
        if action not in ACTIONS:
            raise InvalidLink("this link is not valid")
        if now > float(data.get("e", 0)):
            raise InvalidLink("this link has expired")
        return page, action


def links_from_settings(settings: Any) -> PageLinks:
    from pathlib import Path

    path = settings.approval_secret_file or (Path(settings.data_dir) / "approval-secret")
    base = settings.public_url or f"http://{settings.host}:{settings.port}"
    return PageLinks(load_secret(Path(path)), base, settings.oncall_link_max_age)
