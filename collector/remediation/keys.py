"""The Ed25519 key tasks are signed with (setting ``task_signing_key``, env or ``_FILE``).

The private key is never logged or shown; agents get the public key (pinned at their first
contact, or configured). Canonical payloads: JSON with sorted keys and no spaces, signed
as UTF-8 bytes; the agent verifies exactly the string it receives.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from collector.errors import InvalidArgument


class SigningKeyMissing(InvalidArgument):
    """No task_signing_key configured: tasks cannot be created (400; CLI exit code 2)."""


class TaskSigner:
    """Signs task payloads; knows only its key (loaded once)."""

    def __init__(self, secret: str) -> None:
        try:
            raw = base64.b64decode(secret.strip(), validate=True)
            self._key = Ed25519PrivateKey.from_private_bytes(raw)
        except ValueError:
            # Not the raw form: a PEM private key (as openssl genpkey -algorithm ed25519 writes).
            loaded = serialization.load_pem_private_key(secret.encode(), password=None)
            if not isinstance(loaded, Ed25519PrivateKey):
                raise ValueError("task_signing_key: not an Ed25519 key") from None
            self._key = loaded

    def public_key(self) -> str:
        raw = self._key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return base64.b64encode(raw).decode()

    def sign(self, task: dict[str, Any]) -> tuple[str, str]:
        """(payload, signature) for ``task``."""
        payload = json.dumps(task, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return payload, base64.b64encode(self._key.sign(payload.encode())).decode()

    def __repr__(self) -> str:
        return "TaskSigner(<key hidden>)"


def generate_key() -> str:
    """A new private key, base64 of its 32 raw bytes (``upkeep tasks keygen``)."""
    raw = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return base64.b64encode(raw).decode()
