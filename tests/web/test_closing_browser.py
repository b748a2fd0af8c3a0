"""The client's confirm / reopen pages in a real headless Chromium (Debian's chromium +
chromium-driver, via Selenium) against a real collector: a client viewer confirms a resolved
incident in the portal with a rating (in the contract's language, Russian here); the e-mailed
"not solved" link reopens another with a comment; a used link is refused with a clear page;
another client's incident has no closing page for the viewer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from collector.schema import incident_closings, incidents, notifications
from collector.store import Store
from tests.servers.collector import CollectorProcess, create_admin_token

# Skips this module (at import) where chromium, chromedriver or selenium are missing.
from tests.web.chromium import (
    By,
    WebDriverWait,
)

PASSWORD = "browser test password"

pytestmark = pytest.mark.slow

CONTRACT = """client: {client}
plan: {{name: Standard}}
language: ru
calendar: {{timezone: Europe/Moscow}}
contacts:
  - {{name: Office, email: office@{client}.example, receives: [closing]}}
"""


def _poll(what: str, probe: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class World:
    def __init__(self, server: CollectorProcess, token: str) -> None:
        self.server, self.token = server, token
        self.store = Store.from_url(f"sqlite:///{server.data_dir / 'upkeep.db'}")

    def resolved(self, client: str, title: str) -> str:
        import httpx

        headers = {"Authorization": f"Bearer {self.token}"}
        made = httpx.post(
            f"{self.server.url}/api/v1/incidents",
            headers=headers,
            json={"client": client, "title": title},
        )
        made.raise_for_status()
        key = made.json()["key"]
        httpx.post(
            f"{self.server.url}/api/v1/incidents/{key}/resolve",
            headers=headers,
            json={"note": "Заменили картридж."},
        ).raise_for_status()
        _poll(f"the closing message of {key}", lambda: self.closing(key) == "awaiting")
        return key

    def _incident(self, conn: Any, key: str) -> Any:
        return conn.execute(sa.select(incidents).where(incidents.c.key == key)).one()

    def state(self, key: str) -> str:
        with self.store.read() as conn:
            return str(self._incident(conn, key).state)

    def closing(self, key: str) -> str | None:
        with self.store.read() as conn:
            found = conn.execute(
                sa.select(incident_closings.c.state)
                .where(incident_closings.c.incident_id == self._incident(conn, key).id)
                .order_by(incident_closings.c.id.desc())
            ).first()
        return None if found is None else str(found.state)

    def rating(self, key: str) -> int | None:
        with self.store.read() as conn:
            return conn.execute(
                sa.select(incident_closings.c.rating).where(
                    incident_closings.c.incident_id == self._incident(conn, key).id
                )
            ).scalar()

    def link(self, key: str, action: str) -> str:
        with self.store.read() as conn:
            body = conn.execute(
                sa.select(notifications.c.body_text).where(
                    notifications.c.kind == "closing",
                    notifications.c.data["incident"].as_string() == key,
                )
            ).scalar_one()
        return next(word for word in body.split() if f"/closing/{action}?token=" in word)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("closing-browser")
    config = root / "collector.yaml"
    config.write_text("closing_delay: 0\nclosing_interval: 0.2\n")
    with CollectorProcess(root / "collector", config=config) as server:
        secret = root / "pw"
        secret.write_text(PASSWORD + "\n")
        for client in ("acme", "globex"):
            server.cli("client", "add", client)
            contract = root / f"{client}.yaml"
            contract.write_text(CONTRACT.format(client=client))
            server.cli("contract", "apply", str(contract))
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
        world = World(server, create_admin_token(server))
        yield world
        world.store.dispose()


def _heading(driver: Any) -> str:
    return str(driver.find_element(By.ID, "closing-heading").text)


def _wait_text(driver: Any, element_id: str, text: str) -> None:
    try:
        WebDriverWait(driver, 15).until(
            lambda d: any(text in e.text for e in d.find_elements(By.ID, element_id))
        )
    except Exception:
        raise AssertionError(
            f"no {text!r} in #{element_id}:\n{driver.page_source[:3000]}"
        ) from None


def test_a_client_viewer_confirms_in_the_portal_and_reopens_by_link(
    world: World, chrome: Any, tmp_path: Path
) -> None:
    url = world.server.url
    confirmed = world.resolved("acme", "Принтер не печатает")
    reopened = world.resolved("acme", "Сканер не отправляет почту")
    theirs = world.resolved("globex", "Globex printer")

    chrome.get(f"{url}/ui/login")
    chrome.find_element(By.NAME, "username").send_keys("amy")
    chrome.find_element(By.NAME, "password").send_keys(PASSWORD)
    chrome.find_element(By.CSS_SELECTOR, "form[action='/ui/login'] button[type=submit]").click()
    WebDriverWait(chrome, 15).until(lambda d: d.current_url == f"{url}/ui/")

    chrome.get(f"{url}/ui/incidents/{confirmed}")
    chrome.find_element(By.ID, "closing-link").click()
    WebDriverWait(chrome, 15).until(lambda d: d.current_url.endswith("/closing"))
    assert confirmed in _heading(chrome)
    assert "Что сделано: Заменили картридж." in chrome.page_source
    form = chrome.find_element(By.ID, "closing-confirm")
    form.find_element(By.CSS_SELECTOR, "input[name=rating][value='4']").click()
    form.find_element(By.NAME, "comment").send_keys("Быстро, спасибо")
    chrome.find_element(By.ID, "closing-submit-confirm").click()
    _wait_text(chrome, "closing-message", f"Спасибо! {confirmed} закрыт.")
    chrome.save_screenshot(str(tmp_path / "portal-confirmed.png"))
    assert world.state(confirmed) == "closed"
    assert (world.closing(confirmed), world.rating(confirmed)) == ("confirmed", 4)
    assert "Вы подтвердили, что проблема решена." in chrome.page_source  # answered: no form
    assert not chrome.find_elements(By.ID, "closing-confirm")

    # Another client's incident: the viewer gets "not found", its state is untouched.
    chrome.get(f"{url}/ui/incidents/{theirs}/closing")
    assert "closing-confirm" not in chrome.page_source
    assert world.state(theirs) == "resolved"

    # The e-mailed "not solved" link, without logging in.
    chrome.delete_all_cookies()
    link = world.link(reopened, "reopen")
    chrome.get(link)
    assert _heading(chrome) == "Не решено? Расскажите, что всё ещё не так"
    form = chrome.find_element(By.ID, "closing-reopen")
    form.find_element(By.NAME, "comment").send_keys("Снова не отправляет")
    chrome.find_element(By.ID, "closing-submit-reopen").click()
    _wait_text(chrome, "closing-message", f"Спасибо! {reopened} открыт снова")
    assert world.state(reopened) == "open"

    chrome.get(link)  # the same link again: used, said so in the client's language
    assert _heading(chrome) == "Эта ссылка уже использована."
    _wait_text(chrome, "closing-message", "Ответ записан")
    assert world.state(reopened) == "open"
