"""Issue 17's pages in a real headless Chromium (Debian's chromium + chromedriver, Selenium)
against a real collector (``upkeep serve`` on a loopback port, SQLite): the asset overview
draws a chart with data points for a seeded week (uPlot, from the chart-data endpoint), the
fleet overview lists worst first, an admin onboards a client through the UI until its first
agent's samples appear (a batch posted with the token the page showed), tests a connector
against the real Redmine (tests/servers/redmine.py), and runs a rule backtest.

Screenshots of the main pages go to tests/web/screenshots/ (git-ignored; CI artefacts)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collector.store import Store
from tests.servers.collector import CollectorProcess
from tests.web.health_kit import seed_asset

# test_browser skips (at import) where chromium, chromedriver or selenium are missing; its
# Selenium names come along from there.
from tests.web.test_browser import (
    PASSWORD,
    By,
    NoSuchElementException,
    StaleElementReferenceException,
    WebDriverWait,
    log_in,
    wait_url,
)

pytestmark = pytest.mark.slow
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("web-overviews")
    with CollectorProcess(root / "collector") as server:
        server.cli("client", "add", "acme")
        secret = root / "pw"
        secret.write_text(PASSWORD + "\n")
        server.cli("user", "add", "boss", "--role", "admin", "--password-file", str(secret))
        db = f"sqlite:///{server.data_dir / 'upkeep.db'}"
        store = Store.from_url(db)
        try:
            with store.read() as conn:
                import sqlalchemy as sa

                from collector.schema import clients

                acme = conn.execute(
                    sa.select(clients.c.id).where(clients.c.name == "acme")
                ).scalar_one()
            now = time.time()
            host = seed_asset(store, acme, "web-01", "host", now=now)
            seed_asset(store, acme, "prn-01", "printer", now=now)
        finally:
            store.dispose()
        yield {"server": server, "url": server.url, "host": host, "db": db}


def shot(driver: Any, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


def wait_for(driver: Any, condition: Any, what: str, timeout: float = 20) -> Any:
    try:
        return WebDriverWait(
            driver,
            timeout,
            ignored_exceptions=(StaleElementReferenceException, NoSuchElementException),
        ).until(condition)
    except Exception:
        raise AssertionError(f"{what}:\n{driver.page_source[:4000]}") from None


@pytest.fixture(scope="module")
def admin(site: dict[str, Any], chrome: Any) -> Any:
    log_in(chrome, site["url"], "boss")
    return chrome


def test_asset_overview_draws_a_week(site: dict[str, Any], admin: Any) -> None:
    url, host = site["url"], site["host"]
    admin.get(f"{url}/ui/assets/{host['asset']}")
    assert "web-01" in admin.find_element(By.TAG_NAME, "h1").text
    cpu = f'figure.chart[data-series="{host["cpu_usage_percent"]}"]'
    # The vendored uPlot drew the 7-day chart from the JSON endpoint: a canvas, and the
    # number of points the endpoint returned (a week of hourly rollups + 2 h of raw samples).
    figure = wait_for(
        admin,
        lambda d: d.find_element(By.CSS_SELECTOR, cpu + '[data-state="drawn"]'),
        "the CPU chart was not drawn",
    )
    assert int(figure.get_attribute("data-points")) >= 160
    assert figure.get_attribute("data-source") == "raw+rollups"
    assert figure.find_elements(By.CSS_SELECTOR, "canvas")
    # Hovering shows the values under the cursor in the legend, with their unit.
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(admin).move_to_element(figure.find_element(By.CSS_SELECTOR, ".u-over")).perform()
    wait_for(
        admin,
        lambda d: " %" in d.find_element(By.CSS_SELECTOR, cpu + " .u-legend").text,
        "no values",
    )
    shot(admin, "asset-overview")
    # 1 h: raw samples only.
    admin.find_element(By.CSS_SELECTOR, '.ranges a[data-range="1h"]').click()
    wait_for(
        admin,
        lambda d: d.find_element(By.CSS_SELECTOR, cpu).get_attribute("data-source") == "raw",
        "the 1 h chart did not reload from raw samples",
    )
    # Any series: its Chart button adds a chart; the search box filters the rows.
    uptime = host["uptime_seconds"]
    admin.find_element(By.CSS_SELECTOR, f'button.show-chart[data-series="{uptime}"]').click()
    wait_for(
        admin,
        lambda d: d.find_element(
            By.CSS_SELECTOR, f'figure.chart[data-series="{uptime}"][data-state="drawn"]'
        ),
        "the uptime chart was not added",
    )
    box = admin.find_element(By.ID, "series-search")
    box.send_keys("disk_")
    rows = admin.find_elements(By.CSS_SELECTOR, "tr.series-row")
    visible = [r for r in rows if r.is_displayed()]
    assert len(rows) == 8 and len(visible) == 3


def test_fleet_overview(site: dict[str, Any], admin: Any) -> None:
    admin.get(f"{site['url']}/ui/fleet")
    text = admin.find_element(By.TAG_NAME, "main").text
    assert "acme" in text and "web-01" in text and "prn-01" in text
    assert "disk /: full in 3 days" in text
    shot(admin, "fleet")
    admin.find_element(By.LINK_TEXT, "web-01").click()
    wait_url(admin, f"{site['url']}/ui/assets/{site['host']['asset']}")


def test_onboarding_until_the_first_samples(site: dict[str, Any], admin: Any) -> None:
    import httpx

    url = site["url"]
    admin.get(f"{url}/ui/onboarding")
    admin.find_element(By.CSS_SELECTOR, "#client-form input[name=name]").send_keys("initech")
    admin.find_element(By.CSS_SELECTOR, "#client-form button").click()
    wait_url(admin, f"{url}/ui/onboarding/clients/initech")
    admin.find_element(By.CSS_SELECTOR, "#token-form input[name=label]").send_keys("file server")
    admin.find_element(By.CSS_SELECTOR, "#token-form input[name=site]").send_keys("office-a")
    admin.find_element(By.CSS_SELECTOR, "#token-form button").click()
    token = wait_for(admin, lambda d: d.find_element(By.ID, "token-value").text, "no token shown")
    linux = admin.find_element(By.ID, "install-linux").text
    assert (
        f"UPKEEP_AGENT_TOKEN={token}" in linux and f"curl -fsSL {url}/install/agent.sh |" in linux
    )

    served = httpx.get(f"{url}/install/agent.sh", timeout=10)  # what the command runs
    assert served.status_code == 200 and f"COLLECTOR_URL={url}\n" in served.text
    assert token in admin.find_element(By.ID, "install-windows").text
    shot(admin, "onboarding-token")
    # The machine's agent sends its first batch with that token.
    now = time.time()
    batch = {
        "batch_id": str(uuid.uuid4()),
        "seq": 1,
        "sent_at": now,
        "agent": {
            "id": str(uuid.uuid4()),
            "version": "0.1.0",
            "hostname": "fs1",
            "site": "office-a",
        },
        "assets": [{"name": "fs1", "kind": "host"}],
        "samples": [
            {"asset": "fs1", "metric": "cpu_usage_percent", "labels": {}, "value": 12.5, "ts": now},
            {
                "asset": "fs1",
                "metric": "memory_used_percent",
                "labels": {},
                "value": 40.0,
                "ts": now,
            },
        ],
        "events": [],
    }
    answer = httpx.post(
        f"{url}/api/v1/batches", json=batch, headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 200, answer.text
    # It shows up in the fleet under the new client, and its page has the samples.
    deadline = time.monotonic() + 20
    while True:
        admin.get(f"{url}/ui/fleet?client=initech")
        links = admin.find_elements(By.LINK_TEXT, "fs1")
        if links:
            break
        assert time.monotonic() < deadline, admin.page_source[:3000]
        time.sleep(0.3)
    links[0].click()
    wait_for(admin, lambda d: "12.5 %" in d.find_element(By.TAG_NAME, "main").text, "no CPU value")
    assert "office-a" in admin.find_element(By.TAG_NAME, "main").text
    shot(admin, "onboarded-asset")


def test_connector_test_against_the_real_redmine(
    site: dict[str, Any], admin: Any, redmine: Any
) -> None:
    url = site["url"]
    admin.get(f"{url}/ui/onboarding/connectors")
    definition = (
        "type: redmine\n"
        f"url: {redmine.url}\n"
        f"api_key: {redmine.api_key}\n"
        "default_project: support\n"
        f"key_custom_field_id: {redmine.custom_field_id}\n"
        "timeout: 15\n"
    )
    area = admin.find_element(By.CSS_SELECTOR, "#connector-form textarea[name=definition]")
    area.send_keys(definition)
    admin.find_element(By.CSS_SELECTOR, "#connector-form button").click()
    result = wait_for(admin, lambda d: d.find_element(By.ID, "connector-result"), "no result")
    assert "works" in result.text, result.text
    ticket = admin.find_element(By.ID, "ticket-link").text
    issue = redmine.api("GET", f"issues/{ticket}.json")["issue"]
    assert (
        issue["subject"].startswith("[UPK-TEST-") and "[Upkeep connection test]" in issue["subject"]
    )
    assert issue["status"].get("is_closed", True) and issue["status"]["name"] != "New"
    shot(admin, "connector-test")
    # A wrong key: the exact error Redmine's answer led to.
    admin.get(f"{url}/ui/onboarding/connectors")
    area = admin.find_element(By.CSS_SELECTOR, "#connector-form textarea[name=definition]")
    area.send_keys(definition.replace(redmine.api_key, '"' + "0" * 40 + '"'))
    admin.find_element(By.CSS_SELECTOR, "#connector-form button").click()
    error = wait_for(admin, lambda d: d.find_element(By.ID, "connector-exact-error"), "no error")
    assert re.search(r"401|api key|API key|authenticat", error.text, re.I), error.text


def test_a_connector_saved_in_the_ui_is_tested_against_the_real_redmine(
    site: dict[str, Any], admin: Any, redmine: Any
) -> None:
    """Saved through the form (the key write-only), then chosen as a configured connector and
    tested: a marked ticket opened and closed in the real Redmine."""
    from selenium.webdriver.support.ui import Select

    url = site["url"]
    admin.get(f"{url}/ui/onboarding/connectors")
    admin.find_element(By.ID, "new-redmine").click()
    form = wait_for(admin, lambda d: d.find_element(By.ID, "connector-save-form"), "no form")
    form.find_element(By.NAME, "name").send_keys("redmine-ui")
    form.find_element(By.NAME, "options").send_keys(
        f"url: {redmine.url}\ndefault_project: support\n"
        f"key_custom_field_id: {redmine.custom_field_id}\ntimeout: 15\n"
    )
    form.find_element(By.ID, "secret-api_key").send_keys(redmine.api_key)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    row = wait_for(admin, lambda d: d.find_element(By.ID, "connector-redmine-ui"), "not listed")
    assert "enabled" in row.text
    admin.get(f"{url}/ui/onboarding/connectors/redmine-ui/edit")
    assert redmine.api_key not in admin.page_source  # write-only
    assert "stored — leave empty to keep it" in admin.page_source
    admin.get(f"{url}/ui/onboarding/connectors")
    Select(admin.find_element(By.NAME, "client")).select_by_value("acme")
    Select(admin.find_element(By.NAME, "connector")).select_by_value("redmine-ui")
    admin.find_element(By.CSS_SELECTOR, "#connector-form button").click()
    result = wait_for(admin, lambda d: d.find_element(By.ID, "connector-result"), "no result")
    assert "works" in result.text, result.text
    ticket = admin.find_element(By.ID, "ticket-link").text
    issue = redmine.api("GET", f"issues/{ticket}.json")["issue"]
    assert "[Upkeep connection test]" in issue["subject"]
    shot(admin, "connector-saved")


def test_backtest_page(site: dict[str, Any], admin: Any) -> None:
    admin.get(f"{site['url']}/ui/rules/backtest")
    area = admin.find_element(By.CSS_SELECTOR, "#backtest-form textarea[name=text]")
    area.send_keys(
        "rules:\n"
        "  - id: disk-space\n"
        "    metric: disk_used_percent\n"
        '    warning: "> 70"\n'
        '    clear: "< 65"\n'
        "    for: 10m\n"
        "    priority: {warning: minor}\n"
        "    kind: capacity\n"
        '    summary: "{asset}: disk {value:.0f}%"\n'
    )
    admin.find_element(
        By.CSS_SELECTOR, "#backtest-form select[name=since] option[value='7d']"
    ).click()
    admin.find_element(By.CSS_SELECTOR, "#backtest-form button").click()
    report = wait_for(admin, lambda d: d.find_element(By.ID, "backtest-report"), "no report")
    rows = report.find_elements(By.CSS_SELECTOR, "table.backtest-summary tr.candidate td")
    assert [c.text for c in rows][:3] == ["Candidate", "1", "1"], report.text
    loaded = report.find_elements(By.CSS_SELECTOR, "table.backtest-summary tr.loaded td")
    assert loaded and loaded[0].text == "Loaded rule"
    assert "web-01" in report.text
    shot(admin, "backtest")
