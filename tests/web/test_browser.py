"""The web UI in a real headless Chromium (Debian's chromium + chromium-driver, via Selenium)
against a real collector (``upkeep serve`` on a loopback port, SQLite).

An admin logs in, opens an incident from the dashboard, acknowledges and resolves it (the
store is checked after each click), generates a report (when ``collector.reports`` exists)
and logs out; a client viewer cannot reach another client's incident page.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from collector.schema import incidents
from collector.store import Store
from tests.servers.collector import CollectorProcess, create_admin_token

# Skips this module (at import) where chromium, chromedriver or selenium are missing.
from tests.web.chromium import (
    By,
    NoSuchElementException,
    StaleElementReferenceException,
    WebDriverWait,
)

PASSWORD = "browser test password"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    import httpx

    root = tmp_path_factory.mktemp("web-browser")
    with CollectorProcess(root / "collector") as server:
        server.cli("client", "add", "acme")
        server.cli("client", "add", "globex")
        secret = root / "pw"
        secret.write_text(PASSWORD + "\n")
        server.cli("user", "add", "boss", "--role", "admin", "--password-file", str(secret))
        server.cli(
            "user",
            "add",
            "amy",
            "--role",
            "client_viewer",
            "--client",
            "acme",
            "--password-file",
            str(secret),
        )
        token = create_admin_token(server)
        keys = {}
        for client in ("acme", "globex"):
            response = httpx.post(
                f"{server.url}/api/v1/incidents",
                headers={"Authorization": f"Bearer {token}"},
                json={"client": client, "title": f"{client} printer offline", "priority": "major"},
            )
            response.raise_for_status()
            keys[client] = response.json()["key"]
        yield {"server": server, "keys": keys, "db": f"sqlite:///{server.data_dir / 'upkeep.db'}"}


def state_in_store(db_url: str, key: str) -> str:
    store = Store.from_url(db_url)
    try:
        with store.read() as conn:
            return conn.execute(
                sa.select(incidents.c.state).where(incidents.c.key == key)
            ).scalar_one()
    finally:
        store.dispose()


def wait_for_state(db_url: str, key: str, state: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while state_in_store(db_url, key) != state:
        assert time.monotonic() < deadline, (
            f"{key} is {state_in_store(db_url, key)}, expected {state}"
        )
        time.sleep(0.1)


def shown_state(driver: Any, expected: str) -> None:
    """Wait until the incident page shows ``expected`` (a click's page load may still be running)."""

    def state(d: Any) -> bool:
        found = d.find_elements(By.ID, "incident-state")
        return bool(found) and found[0].text == expected

    try:
        # The old page's element goes stale while the new page loads: keep polling.
        WebDriverWait(
            driver, 30, ignored_exceptions=(StaleElementReferenceException, NoSuchElementException)
        ).until(state)
    except Exception:
        raise AssertionError(
            f"the page does not show state {expected!r}:\n{driver.page_source[:3000]}"
        ) from None


def wait_url(driver: Any, url: str) -> None:
    try:
        WebDriverWait(driver, 30).until(lambda d: d.current_url == url)
    except Exception:
        raise AssertionError(
            f"at {driver.current_url}, expected {url}:\n{driver.page_source[:3000]}"
        ) from None


def log_in(driver: Any, url: str, username: str) -> None:
    driver.get(f"{url}/ui/login")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form[action='/ui/login'] button[type=submit]").click()
    wait_url(driver, f"{url}/ui/")


def log_out(driver: Any, url: str) -> None:
    driver.find_element(By.CSS_SELECTOR, "form.logout button").click()
    wait_url(driver, f"{url}/ui/login")


def test_an_admin_works_an_incident(collector: dict[str, Any], chrome: Any, tmp_path: Path) -> None:
    url, key, db = collector["server"].url, collector["keys"]["acme"], collector["db"]
    chrome.get(f"{url}/ui/")
    assert "/ui/login" in chrome.current_url  # not logged in yet
    log_in(chrome, url, "boss")
    assert chrome.current_url == f"{url}/ui/"
    assert "Dashboard" in chrome.find_element(By.TAG_NAME, "h1").text
    chrome.find_element(By.LINK_TEXT, key).click()
    wait_url(chrome, f"{url}/ui/incidents/{key}")
    shown_state(chrome, "open")

    chrome.find_element(By.ID, "acknowledge").click()
    shown_state(chrome, "acknowledged")
    wait_for_state(db, key, "acknowledged")

    chrome.find_element(By.ID, "resolve-note").send_keys("restarted the print spooler")
    chrome.find_element(By.ID, "resolve").click()
    shown_state(chrome, "resolved")
    wait_for_state(db, key, "resolved")
    assert "restarted the print spooler" in chrome.page_source
    chrome.save_screenshot(str(tmp_path / "incident.png"))  # for a person to look at when it fails


def test_an_admin_generates_a_report(collector: dict[str, Any], chrome: Any) -> None:
    url = collector["server"].url
    chrome.get(f"{url}/ui/reports")
    if chrome.find_elements(By.ID, "reports-unavailable"):
        pytest.skip(
            "collector.reports is not part of this collector yet: the page says "
            "'Reports not available', so there is nothing to generate"
        )
    chrome.find_element(By.NAME, "period").clear()
    chrome.find_element(By.NAME, "period").send_keys("2026-10")
    chrome.find_element(By.ID, "generate").click()
    # The form posts from /ui/reports and redirects back there: the URL alone says nothing
    # (it matched before the POST had answered, and the archive was read too early).
    try:
        WebDriverWait(chrome, 60).until(lambda d: d.find_elements(By.LINK_TEXT, "Download"))
    except Exception:
        raise AssertionError(
            f"the generated report is not listed in the archive:\n{chrome.page_source[:3000]}"
        ) from None
    assert chrome.current_url == f"{url}/ui/reports"


def test_an_admin_logs_out(collector: dict[str, Any], chrome: Any) -> None:
    url = collector["server"].url
    chrome.get(f"{url}/ui/")
    log_out(chrome, url)
    chrome.get(f"{url}/ui/incidents")
    assert "/ui/login" in chrome.current_url  # the session is gone


def test_a_client_viewer_cannot_reach_another_clients_incident(
    collector: dict[str, Any], chrome: Any
) -> None:
    url, keys = collector["server"].url, collector["keys"]
    log_in(chrome, url, "amy")
    assert chrome.current_url == f"{url}/ui/"
    chrome.get(f"{url}/ui/incidents")
    assert keys["acme"] in chrome.page_source and keys["globex"] not in chrome.page_source
    chrome.get(f"{url}/ui/incidents/{keys['globex']}")
    assert chrome.find_element(By.TAG_NAME, "h1").text == "Not found"
    assert "globex printer offline" not in chrome.page_source
    chrome.get(f"{url}/ui/incidents/{keys['acme']}")
    shown_state(chrome, "resolved")
    assert not chrome.find_elements(By.ID, "acknowledge")  # a viewer reads, does not act
    log_out(chrome, url)
