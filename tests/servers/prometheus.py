"""Run a real Prometheus server (Debian's ``prometheus`` binary) for integration tests.

It listens on a free loopback port with its TSDB in a temporary directory and scrapes the
targets it is given every ``scrape_interval`` (default 1 s). ``start()`` returns once
``/-/ready`` answers; :meth:`PrometheusServer.wait_for` polls the query API until an
expression returns something.

Usage::

    from tests.servers.prometheus import PrometheusServer, ScrapeJob

    job = ScrapeJob("upkeep", [f"127.0.0.1:{collector.port}"], bearer_token_file=token_path)
    with PrometheusServer(tmp_path / "prom", [job], rule_files=[...]) as prom:
        result = prom.wait_for('upkeep_cpu_usage_percent{client="acme"}')
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.servers.process import ServerProcess


def prometheus_binary() -> str | None:
    return shutil.which("prometheus")


@dataclass
class ScrapeJob:
    """One ``scrape_configs`` entry."""

    name: str
    targets: list[str]
    metrics_path: str = "/metrics"
    bearer_token_file: Path | None = None
    labels: dict[str, str] = field(default_factory=dict)

    def to_config(self) -> dict[str, Any]:
        job: dict[str, Any] = {
            "job_name": self.name,
            "metrics_path": self.metrics_path,
            "static_configs": [{"targets": self.targets, "labels": self.labels}],
        }
        if self.bearer_token_file is not None:
            job["authorization"] = {
                "type": "Bearer",
                "credentials_file": str(self.bearer_token_file),
            }
        return job


class PrometheusServer(ServerProcess):
    """A Prometheus process on ``http://127.0.0.1:<port>``; see the module docstring."""

    name = "prometheus"

    def __init__(
        self,
        workdir: str | Path,
        jobs: list[ScrapeJob],
        *,
        scrape_interval: str = "1s",
        rule_files: list[Path] = (),
        evaluation_interval: str = "1s",
        startup_timeout: float = 30.0,
        remote_write_receiver: bool = False,
    ) -> None:
        binary = prometheus_binary()
        if binary is None:
            raise RuntimeError("prometheus not installed (Debian package 'prometheus')")
        super().__init__(workdir, startup_timeout=startup_timeout)
        self.binary = binary
        self.remote_write_receiver = remote_write_receiver
        self.config_path = self.workdir / "prometheus.yml"
        config = {
            "global": {
                "scrape_interval": scrape_interval,
                "scrape_timeout": scrape_interval,
                "evaluation_interval": evaluation_interval,
            },
            "rule_files": [str(p) for p in rule_files],
            "scrape_configs": [job.to_config() for job in jobs],
        }
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))

    def args(self) -> list[str]:
        return [
            self.binary,
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--storage.tsdb.retention.time=1h",
            "--log.level=warn",
        ] + (["--web.enable-remote-write-receiver"] if self.remote_write_receiver else [])

    @property
    def write_url(self) -> str:
        """The remote-write receiver's endpoint (``remote_write_receiver=True``)."""
        return f"{self.url}/api/v1/write"

    def api(self, path: str, **params: str) -> Any:
        """GET ``/api/v1/<path>``; returns ``data`` (raises on an error answer)."""
        url = f"{self.url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=10) as resp:
            body = json.load(resp)
        if body.get("status") != "success":
            raise RuntimeError(f"{url}: {body}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result vector: ``[{"metric": {...}, "value": [ts, "v"]}, …]``."""
        return self.api("query", query=expr)["result"]

    def wait_for(self, expr: str, timeout: float = 20.0) -> list[dict[str, Any]]:
        """Poll ``expr`` until it returns a non-empty result (raises with the targets' state)."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(expr)
            if result:
                return result
            if time.monotonic() > deadline:
                targets = self.api("targets")["activeTargets"]
                raise AssertionError(
                    f"{expr!r} still empty after {timeout}s; targets: "
                    f"{[(t['scrapeUrl'], t['health'], t['lastError']) for t in targets]}"
                )
            time.sleep(0.25)
