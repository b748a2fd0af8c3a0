"""The ``snmp:`` section of the agent config: targets, credentials, poller defaults.

Secrets (communities, v3 keys and their ``*_file`` variants) are ``SecretStr`` so they are
never printed by a repr or a log line; :meth:`SnmpTarget.credentials` reads them when the
poller is built.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from agent.durations import Duration
from agent.schema import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

AuthProtocol = Literal["md5", "sha", "sha224", "sha256", "sha384", "sha512"]
PrivProtocol = Literal["des", "3des", "aes", "aes128", "aes192", "aes256"]
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")


class SecretError(Exception):
    """A secret file cannot be read. The message names the key and path, never the secret."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True, slots=True)
class Credentials:
    """Resolved secrets for one target (v1/v2c: community; v3: user and keys)."""

    version: str
    community: str | None = None
    user: str | None = None
    auth_protocol: str | None = None
    auth_key: str | None = None
    priv_protocol: str | None = None
    priv_key: str | None = None
    context: str = ""

    def __repr__(self) -> str:  # never show secrets, even in a traceback
        return f"Credentials(version={self.version!r}, user={self.user!r})"


def _read_secret(value: SecretStr | None, path: Path | None, key: str) -> str | None:
    if value is not None:
        return value.get_secret_value()
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SecretError(f"{key}_file: cannot read {path}: {exc.strerror or exc}") from None


class SnmpTarget(_Model):
    """One device to poll. It becomes its own asset, named ``name``."""

    name: str = Field(min_length=1, max_length=200, description="asset name of the device")
    address: str = Field(min_length=1, max_length=253)
    port: int = Field(default=161, ge=1, le=65535)
    profile: str = Field(default="generic", min_length=1)
    version: Literal["1", "2c", "3"] = "2c"
    community: SecretStr | None = None
    community_file: Path | None = None
    user: str | None = Field(default=None, min_length=1)
    auth_protocol: AuthProtocol | None = None
    auth_key: SecretStr | None = None
    auth_key_file: Path | None = None
    priv_protocol: PrivProtocol | None = None
    priv_key: SecretStr | None = None
    priv_key_file: Path | None = None
    context: str = ""
    interval: Duration | None = Field(default=None, gt=0, description="default: snmp.interval")
    timeout: Duration | None = Field(
        default=None, gt=0, description="per request; default: snmp.timeout"
    )
    retries: int | None = Field(default=None, ge=0, le=10)
    max_repetitions: int | None = Field(default=None, ge=1, le=100)
    tags: list[str] = Field(default_factory=list)
    enabled: bool = True

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, value: Any) -> Any:
        # YAML reads `version: 2c` as text but `version: 1` / `3` as numbers.
        return str(value).lower().removeprefix("v") if isinstance(value, int | str) else value

    @field_validator("community", "auth_key", "priv_key", "user", mode="before")
    @classmethod
    def _secret_as_text(cls, value: Any) -> Any:
        # `community: 12345` is a number in YAML but a string to SNMP.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("name")
    @classmethod
    def _name_chars(cls, value: str) -> str:
        if not NAME_RE.match(value):
            raise ValueError("use letters, digits, '.', '_' and '-' (it becomes the asset name)")
        return value

    @model_validator(mode="after")
    def _credentials_fit_version(self) -> SnmpTarget:
        pairs = (
            ("community", self.community, self.community_file),
            ("auth_key", self.auth_key, self.auth_key_file),
            ("priv_key", self.priv_key, self.priv_key_file),
        )
        for key, value, path in pairs:
            if value is not None and path is not None:
                raise ValueError(f"give either {key} or {key}_file, not both")
        has_community = self.community is not None or self.community_file is not None
        has_auth_key = self.auth_key is not None or self.auth_key_file is not None
        has_priv_key = self.priv_key is not None or self.priv_key_file is not None
        if self.version in ("1", "2c"):
            if not has_community:
                raise ValueError(f"version {self.version} needs community or community_file")
            if (
                self.user
                or has_auth_key
                or has_priv_key
                or self.auth_protocol
                or self.priv_protocol
            ):
                raise ValueError(
                    f"user, auth_* and priv_* are SNMPv3 options; version is {self.version}"
                )
            return self
        if has_community:
            raise ValueError("community is not used with version 3 (give user, auth_* and priv_*)")
        if not self.user:
            raise ValueError("version 3 needs user")
        if (self.auth_protocol is None) != (not has_auth_key):
            raise ValueError("auth_protocol and auth_key (or auth_key_file) go together")
        if (self.priv_protocol is None) != (not has_priv_key):
            raise ValueError("priv_protocol and priv_key (or priv_key_file) go together")
        if self.priv_protocol is not None and self.auth_protocol is None:
            raise ValueError("privacy (priv_*) needs authentication (auth_*) as well")
        for key, value in (("auth_key", self.auth_key), ("priv_key", self.priv_key)):
            if value is not None and len(value.get_secret_value()) < 8:
                raise ValueError(f"{key}: SNMPv3 keys are at least 8 characters")
        return self

    def credentials(self) -> Credentials:
        """The secrets, read now (from the config or the ``*_file`` paths)."""
        if self.version in ("1", "2c"):
            community = _read_secret(self.community, self.community_file, "community")
            return Credentials(self.version, community=community)
        return Credentials(
            "3",
            user=self.user,
            auth_protocol=self.auth_protocol,
            auth_key=_read_secret(self.auth_key, self.auth_key_file, "auth_key"),
            priv_protocol=self.priv_protocol,
            priv_key=_read_secret(self.priv_key, self.priv_key_file, "priv_key"),
            context=self.context,
        )


class SnmpConfig(_Model):
    """Poller-wide settings and the list of devices."""

    targets: list[SnmpTarget] = Field(default_factory=list)
    profiles_dir: Path | None = Field(
        default=None, description="folder of custom profile YAML files"
    )
    interval: Duration = Field(default=300.0, gt=0, description="default poll interval per target")
    timeout: Duration = Field(default=2.0, gt=0, le=60, description="per request, before a retry")
    retries: int = Field(default=1, ge=0, le=10)
    max_repetitions: int = Field(
        default=25, ge=1, le=100, description="GETBULK rows per request (first poll)"
    )
    concurrency: int = Field(
        default=64, ge=1, le=1024, description="devices polled at the same time"
    )

    @field_validator("targets")
    @classmethod
    def _unique_names(cls, value: list[SnmpTarget]) -> list[SnmpTarget]:
        seen: set[str] = set()
        for target in value:
            if target.name in seen:
                raise ValueError(
                    f"two targets are named {target.name!r}: names are asset names and must be unique"
                )
            seen.add(target.name)
        return value

    def interval_of(self, target: SnmpTarget) -> float:
        return target.interval if target.interval is not None else self.interval
