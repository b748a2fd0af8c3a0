"""``/metrics`` delivery figures (the connectors' health view for Prometheus), on the October scenario."""

from __future__ import annotations

import time

import pytest

from collector.metrics import CollectorMetrics
from collector.settings import Settings
from tests.collector.management.scenario import at


@pytest.mark.usefixtures("scenario")
def test_delivery_backlog_and_oldest_waiting_row(store, tmp_path):
    text = CollectorMetrics(store, Settings.for_data_dir(tmp_path)).exposition().decode()
    lines = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("upkeep_delivery_")
    }
    assert {k: v for k, v in lines.items() if k.startswith("upkeep_delivery_backlog")} == {
        'upkeep_delivery_backlog{name="jira",queue="outbox",state="dead"}': 1,
        'upkeep_delivery_backlog{name="jira",queue="outbox",state="pending"}': 2,
        'upkeep_delivery_backlog{name="redmine",queue="outbox",state="in_flight"}': 1,
        'upkeep_delivery_backlog{name="low_balance",queue="notifications",state="dead"}': 1,
        'upkeep_delivery_backlog{name="report",queue="notifications",state="pending"}': 1,
    }
    now = time.time()
    oldest = {k: v for k, v in lines.items() if k.startswith("upkeep_delivery_oldest")}
    assert set(oldest) == {
        'upkeep_delivery_oldest_waiting_seconds{name="jira",queue="outbox"}',
        'upkeep_delivery_oldest_waiting_seconds{name="redmine",queue="outbox"}',
        'upkeep_delivery_oldest_waiting_seconds{name="report",queue="notifications"}',
    }
    # The oldest waiting jira row was queued at 10:00 on Oct 20 (the failed one does not wait).
    assert oldest[
        'upkeep_delivery_oldest_waiting_seconds{name="jira",queue="outbox"}'
    ] == pytest.approx(now - at("2026-10-20 10:00"), abs=60)
    assert 'upkeep_metrics_scrape_collector_success{collector="deliveries"} 1.0' in text
