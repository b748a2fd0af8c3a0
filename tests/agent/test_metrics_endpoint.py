"""The agent's optional local /metrics endpoint: off by default, light when off, promtool-clean."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from agent.checks.base import Check, CheckConfig, Sample
from agent.config import AgentConfig, ConfigError, LoadedConfig, MetricsConfig, load_config
from agent.host import Host
from agent.runner import AgentService
from tests.promtool import check_metrics


class Disks(Check):
    name = "disk"
    mounts = ["/", "/srv"]

    def collect(self) -> Iterator[Sample]:
        for mount in self.mounts:
            yield Sample("disk_used_percent", 42.0, {"mountpoint": mount})
        yield Sample("netio_receive_errors_total", 3.0, {"interface": "eth0"})
        yield Sample(
            "printer_supply_level_percent",
            60.0,
            {"asset": "label", "supply": "toner"},
            asset="printer1",
        )


def test_metrics_section_defaults_and_validation(tmp_path):
    assert AgentConfig().metrics == MetricsConfig(enabled=False, listen="127.0.0.1:9427")
    cfg = tmp_path / "agent.yaml"
    cfg.write_text("metrics:\n  enabled: true\n  listen: '[::1]:9500'\n")
    metrics = load_config(cfg).agent.metrics
    assert (metrics.enabled, metrics.host, metrics.port) == (True, "::1", 9500)
    cfg.write_text("metrics:\n  enabled: true\n  listen: '9427'\n")
    with pytest.raises(ConfigError, match=r"agent.yaml:3: metrics.listen: .*HOST:PORT"):
        load_config(cfg)
    cfg.write_text("metrics:\n  enable: true\n")
    with pytest.raises(ConfigError, match=r"metrics.enable: .*"):
        load_config(cfg)


def test_prometheus_client_is_not_imported_when_the_endpoint_is_off(tmp_path):
    code = textwrap.dedent(f"""
        import sys
        from agent.config import AgentConfig, LoadedConfig
        from agent.host import Host
        from agent.runner import AgentService
        svc = AgentService(LoadedConfig(AgentConfig(state_dir={str(tmp_path)!r}), {{}}, "t"), host=Host("srv1"))
        svc.run_group([svc.self_check.name])
        svc.spool.close()
        loaded = sorted(m for m in sys.modules if m.startswith(("prometheus_client", "agent.metrics_endpoint")))
        assert not loaded, loaded
    """)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_endpoint_serves_the_latest_samples_and_passes_promtool(tmp_path):
    agent = AgentConfig(
        state_dir=tmp_path,
        site="office-a",
        metrics=MetricsConfig(enabled=True, listen="127.0.0.1:0"),
    )
    disks = Disks(CheckConfig(interval=30), Host("srv1"))
    svc = AgentService(LoadedConfig(agent, {}, "<test>"), host=Host("srv1"), checks={"disk": disks})
    svc.metrics_endpoint.start()
    try:
        svc.run_group(["disk"])
        url = f"http://127.0.0.1:{svc.metrics_endpoint.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            text = resp.read().decode()
        check_metrics(text)
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text)
            for s in f.samples
        }
        host = (("asset", "srv1"), ("site", "office-a"))
        assert (
            samples[("upkeep_disk_used_percent", (*host[:1], ("mountpoint", "/"), *host[1:]))]
            == 42.0
        )
        assert (
            samples[
                ("upkeep_netio_receive_errors_total", (*host[:1], ("interface", "eth0"), *host[1:]))
            ]
            == 3.0
        )
        assert (
            samples[
                (
                    "upkeep_printer_supply_level_percent",
                    (
                        ("asset", "printer1"),
                        ("exported_asset", "label"),
                        ("site", "office-a"),
                        ("supply", "toner"),
                    ),
                )
            ]
            == 60.0
        )
        assert samples[("upkeep_check_up", (*host[:1], ("check", "disk"), *host[1:]))] == 1.0
    finally:
        Disks.mounts = ["/", "/srv"]
        svc.stop()


def test_a_series_no_longer_reported_expires_after_two_intervals_and_a_minute():
    from agent.metrics_endpoint import LatestSamples

    latest = LatestSamples()
    t0 = 1_790_000_000.0
    latest.update(
        [Sample("disk_used_percent", 1.0, {"mountpoint": m}) for m in ("/", "/srv")],
        30,
        "srv1",
        now=t0,
    )
    latest.update([Sample("disk_used_percent", 2.0, {"mountpoint": "/"})], 30, "srv1", now=t0 + 100)
    assert len(latest.snapshot(now=t0 + 120)) == 2
    assert latest.snapshot(now=t0 + 121) == [
        (("srv1", "disk_used_percent", (("mountpoint", "/"),)), 2.0)
    ]
