"""Closing communication end to end: a real collector (``upkeep serve``) mails the closing
message through a real SMTP server (aiosmtpd), and both links work against it — in English
for one client and in Russian for another, with the points charged, the balance after and the
times in each client's zone computed here by hand from the incident's own timestamps."""

from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.servers.collector import CollectorProcess, create_admin_token, create_client
from tests.servers.smtp import SmtpServer

EN_MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec"
RU_MONTHS = "янв. февр. мар. апр. мая июн. июл. авг. сент. окт. нояб. дек."

CONTRACT = """client: {client}
plan: {{name: Standard}}
language: {language}
calendar: {{timezone: {zone}}}
points:
  allotment: 10
  rates: {{default: 2}}
  rounding: 30m
  billable_causes: [client_error]
contacts:
  - {{name: Office, email: office@{client}.example, receives: [closing]}}
closing: {{auto_close_after: 5d, announce_proactive: each}}
"""


def _local(iso: str, zone: str, language: str) -> str:
    """An API timestamp as the mail writes it in the contract's locale (en_DE for an English
    Berlin client, ru_RU): "5 Oct 2026, 10:00 CEST" / "5 окт. 2026 г., 12:30 MSK"."""
    when = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(ZoneInfo(zone))
    months = (EN_MONTHS if language == "en" else RU_MONTHS).split()
    year = f"{when.year}" if language == "en" else f"{when.year}\u202fг."
    return f"{when.day} {months[when.month - 1]} {year}, {when:%H:%M} {when.tzname()}"


def _wait_for(predicate, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def world(tmp_path: Path):
    with SmtpServer(tmp_path / "smtp") as smtp:
        config = tmp_path / "collector.yaml"
        config.write_text(
            f"notify_email: {{host: 127.0.0.1, port: {smtp.port}, security: none,"
            " from_address: desk@provider.example}\n"
            "notify_retry_base: 0.2\n"
            "closing_delay: 0\n"
            "closing_interval: 0.2\n"
        )
        with CollectorProcess(tmp_path / "collector", config=config) as collector:
            token = create_admin_token(collector)
            for client, language, zone in (
                ("acme", "en", "Europe/Berlin"),
                ("beta", "ru", "Europe/Moscow"),
            ):
                create_client(collector, client)
                path = tmp_path / f"{client}.yaml"
                path.write_text(CONTRACT.format(client=client, language=language, zone=zone))
                collector.cli("contract", "apply", str(path), "--config", str(config))
            http = httpx.Client(
                base_url=collector.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
            )
            yield collector, smtp, http
            http.close()


def _resolved(http: httpx.Client, client: str, note: str) -> dict:
    made = http.post(
        "/api/v1/incidents", json={"client": client, "title": "Scanner does not send mail"}
    )
    assert made.status_code == 201, made.text
    key = made.json()["key"]
    for path, body in (
        ("time-entries", {"minutes": 40, "note": "remote session"}),
        ("cause", {"cause": "client_error"}),
        ("resolve", {"note": note}),
    ):
        answer = http.post(f"/api/v1/incidents/{key}/{path}", json=body)
        assert answer.status_code == 200, answer.text
    return http.get(f"/api/v1/incidents/{key}").json()


def _mail_to(smtp: SmtpServer, address: str):
    return _wait_for(
        lambda: next((m for m in smtp.messages if address in m.rcpt_tos), None),
        f"the closing mail to {address}",
    )


def _plain(mail) -> str:
    """The text part (the mail is multipart/alternative: text and HTML from one notice)."""
    html = mail.message.get_body(preferencelist=("html",)).get_content()
    text = mail.message.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
    for url in re.findall(r"https?://\S+", text):  # the same links in both parts
        assert url.replace("&", "&amp;") in html or url in html
    return text


def _tokens(body: str) -> dict[str, tuple[str, str]]:
    found = {}
    for url in re.findall(r"https?://\S+", body):
        parts = urlsplit(url)
        found[parts.path.rsplit("/", 1)[-1]] = (parts.path, parse_qs(parts.query)["token"][0])
    return found


def test_closing_mail_and_both_links_against_a_real_collector(world) -> None:
    collector, smtp, http = world
    # 40 min → 30 min steps: 1 h at 2 points/h = 2.00 points; 10 - 2 = 8 left.
    acme = _resolved(http, "acme", "Re-entered the SMTP password on the scanner.")
    mail = _mail_to(smtp, "office@acme.example")
    text = _plain(mail)
    assert mail.message["Subject"] == f"Resolved: Scanner does not send mail ({acme['key']})"
    assert mail.message["X-Upkeep-Notification"] == "closing"
    zone = "Europe/Berlin"
    assert (
        f"Noticed: {_local(acme['opened_at'], zone, 'en')}\n"
        f"Resolved: {_local(acme['resolved_at'], zone, 'en')}\n\n"
        "What was done: Re-entered the SMTP password on the scanner.\n"
        "Time spent: 40 minutes\n"
        "This costs 2,00 points of your contract. Balance after: 8,00 points.\n"
    ) in text
    links = _tokens(text)
    assert set(links) == {"confirm", "reopen"}
    # GET shows the form and changes nothing (mail scanners follow links).
    path, token = links["confirm"]
    page = httpx.get(f"{collector.url}{path}", params={"token": token})
    assert page.status_code == 200 and "All good, close it" in page.text
    assert http.get(f"/api/v1/incidents/{acme['key']}").json()["state"] == "resolved"
    done = httpx.post(
        f"{collector.url}{path}", data={"token": token, "rating": "5", "comment": "great"}
    )
    assert done.status_code == 200 and f"Thank you: {acme['key']} is closed." in done.text
    after = http.get(f"/api/v1/incidents/{acme['key']}").json()
    assert after["state"] == "closed"
    closed = [e for e in after["events"] if e["type"] == "closed"][-1]
    assert (closed["data"]["rating"], closed["data"]["comment"]) == (5, "great")
    again = httpx.post(f"{collector.url}{path}", data={"token": token})
    assert again.status_code == 400 and "This link was used already." in again.text
    tampered = httpx.get(f"{collector.url}{path}", params={"token": token[:-3] + "xyz"})
    assert tampered.status_code == 400 and "This link is not valid" in tampered.text
    listed = http.get("/api/v1/closings", params={"client": "acme"}).json()
    assert [(c["incident"], c["state"], c["rating"]) for c in listed] == [
        (acme["key"], "confirmed", 5)
    ]

    # Russian, Moscow time: "not solved" reopens it with the client's comment.
    beta = _resolved(http, "beta", "Перезапустили службу сканирования.")
    mail = _mail_to(smtp, "office@beta.example")
    text = _plain(mail)
    assert mail.message["Subject"] == f"Решено: Scanner does not send mail ({beta['key']})"
    zone = "Europe/Moscow"
    assert (
        f"Обнаружено: {_local(beta['opened_at'], zone, 'ru')}\n"
        f"Решено: {_local(beta['resolved_at'], zone, 'ru')}\n\n"
        "Что сделано: Перезапустили службу сканирования.\n"
        "Затрачено времени: 40 минут\n"
        "Это стоит 2,00 баллов по вашему договору. Остаток после списания: 8,00 баллов.\n"
    ) in text
    path, token = _tokens(text)["reopen"]
    page = httpx.get(f"{collector.url}{path}", params={"token": token})
    assert page.status_code == 200 and "Не решено: открыть снова" in page.text
    done = httpx.post(
        f"{collector.url}{path}",
        data={"token": token, "rating": "2", "comment": "Сканер снова молчит"},
    )
    assert done.status_code == 200 and "открыт снова" in done.text
    after = http.get(f"/api/v1/incidents/{beta['key']}").json()
    assert after["state"] == "open"
    reopened = [e for e in after["events"] if e["type"] == "reopened"][-1]
    assert reopened["data"]["note"] == "Сканер снова молчит"
    used = httpx.get(f"{collector.url}{path}", params={"token": token})
    assert used.status_code == 410 and "Эта ссылка уже использована." in used.text
