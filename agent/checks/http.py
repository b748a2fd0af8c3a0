"""HTTP(S) endpoints: answer, status code, response time, optional body match.

requests is imported by the host only when an ``http`` check runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from agent.checks.base import Check, CheckConfig, MetricSpec, Sample
from agent.checks.targets import Target, probe_all, unique_names
from agent.schema import Field, field_validator, model_validator

if TYPE_CHECKING:
    from agent.host import HttpResponse

#: Bytes of the body read for ``body_regex``; the rest is not downloaded.
MAX_BODY = 1024 * 1024


class HttpTarget(Target):
    """One URL. Written as a mapping, or as a plain URL (then also its name)."""

    url: str = Field(pattern=r"^https?://", max_length=2000)
    method: Literal["GET", "HEAD"] = "GET"
    expected_status: list[int] = Field(
        default_factory=list, description="status codes that count as up; default: 200–399"
    )
    body_regex: str | None = Field(
        default=None, min_length=1, description="searched in the first 1 MiB of the body"
    )
    verify_tls: bool = True
    ca_file: Path | None = Field(
        default=None, description="CA bundle (PEM) to verify the server with"
    )
    follow_redirects: bool = True

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"name": value, "url": value}
        return value

    @field_validator("body_regex")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value

    @field_validator("expected_status")
    @classmethod
    def _statuses(cls, value: list[int]) -> list[int]:
        if bad := [code for code in value if not 100 <= code <= 599]:
            raise ValueError(f"not HTTP status codes: {bad}")
        return value

    @model_validator(mode="after")
    def _tls_options(self) -> HttpTarget:
        if self.ca_file is not None and not self.verify_tls:
            raise ValueError("ca_file is used to verify; it makes no sense with verify_tls: false")
        if self.body_regex is not None and self.method == "HEAD":
            raise ValueError("a HEAD answer has no body for body_regex")
        return self

    def verify(self) -> bool | str:
        return str(self.ca_file) if self.ca_file is not None else self.verify_tls


class HttpConfig(CheckConfig):
    """Options of the ``http`` check."""

    targets: list[HttpTarget] = Field(min_length=1)

    @field_validator("targets")
    @classmethod
    def _unique(cls, value: list[HttpTarget]) -> list[HttpTarget]:
        unique_names(value)
        return value


class HttpCheck(Check):
    """One request per target. No answer (refused, timed out, TLS verification failed)
    gives ``http_up 0`` without a status; an unexpected status or a body that does not
    match gives ``http_up 0`` with the status. Neither fails the check."""

    name: ClassVar[str] = "http"
    Config: ClassVar[type[CheckConfig]] = HttpConfig
    default_interval: ClassVar[float | None] = 60.0
    catalog: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec(
            "http_up",
            "gauge",
            "",
            ("target",),
            "1 if the server answered with an expected status (and the body matched, if asked)",
        ),
        MetricSpec(
            "http_status_code",
            "gauge",
            "",
            ("target",),
            "HTTP status of the answer (after redirects)",
        ),
        MetricSpec(
            "http_response_seconds",
            "gauge",
            "seconds",
            ("target",),
            "Time from sending the request to the end of the body read",
        ),
        MetricSpec(
            "http_content_match",
            "gauge",
            "",
            ("target",),
            "1 if body_regex was found in the body (targets with body_regex only)",
        ),
    )

    config: HttpConfig

    def __init__(self, config: CheckConfig, host: Any) -> None:
        super().__init__(config, host)
        self._patterns = {
            t.name: re.compile(t.body_regex) for t in self.config.targets if t.body_regex
        }

    def _probe(self, target: HttpTarget) -> HttpResponse | None:
        try:
            return self.host.http_request(
                target.url,
                target.method,
                target.timeout,
                target.verify(),
                target.follow_redirects,
                MAX_BODY if target.name in self._patterns else 0,
            )
        except OSError:
            return None

    def collect(self) -> Iterator[Sample]:
        for target, answer in zip(
            self.config.targets, probe_all(self._probe, self.config.targets), strict=True
        ):
            labels = {"target": target.name}
            if answer is None:
                yield Sample("http_up", 0.0, labels)
                continue
            expected = (
                answer.status in target.expected_status
                if target.expected_status
                else 200 <= answer.status < 400
            )
            up = expected
            pattern = self._patterns.get(target.name)
            if pattern is not None:
                matched = pattern.search(answer.body) is not None
                up = up and matched
                yield Sample("http_content_match", 1.0 if matched else 0.0, dict(labels))
            yield Sample("http_up", 1.0 if up else 0.0, labels)
            yield Sample("http_status_code", answer.status, dict(labels))
            yield Sample("http_response_seconds", answer.seconds, dict(labels))
