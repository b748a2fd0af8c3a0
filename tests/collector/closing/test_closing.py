"""Closing communication over the store, on a simulated clock: the message's hand-computed
content (en and ru: points charged, balance after, times in the client's zone), the links
(single use, expiry, isolation), the rating, the automatic close after N days, the reopen,
proactive-fix announcements (each, daily digest, monthly only)."""

from __future__ import annotations

import pytest

from collector.closing.links import InvalidLink
from collector.closing.read import ratings
from collector.closing.service import LinkUsed
from collector.errors import InvalidArgument, NotFound
from collector.incidents.pipeline import AlertSignal
from collector.settings import Settings
from collector.web.access import Scope
from tests.collector.closing import closingkit as kit
from tests.collector.ledger.ledgerkit import Clock, ts

NOTE = "Cleared a paper jam and replaced the pickup roller."


@pytest.fixture
def clock(monkeypatch) -> Clock:
    from collector import timeutil

    c = Clock(ts("2026-10-05 08:00"))
    monkeypatch.setattr(timeutil, "now", c)
    return c


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings.for_data_dir(tmp_path / "data", closing_delay=0.0)


def _resolved_report(world, clock: Clock, client: str = "acme") -> str:
    """A user-reported incident: 50 minutes of client-caused work, resolved at 09:30 UTC."""
    clock.set("2026-10-05 08:00")
    key = world.incidents.report(client=client, title="Printer on the 2nd floor jams", actor="jane")
    clock.set("2026-10-05 09:00")
    world.incidents.act(key, "time_entry", "tech", minutes=50, work_type=None, note="on site")
    world.incidents.act(key, "cause", "tech", cause="client_error")
    clock.set("2026-10-05 09:30")
    world.incidents.act(key, "resolve", "tech", note=NOTE)
    return key


EN_BODY = """Hello,

the problem you reported has been resolved.

What happened: Printer on the 2nd floor jams
Noticed: 5 Oct 2026, 10:00 CEST
Resolved: 5 Oct 2026, 11:30 CEST

What was done: Cleared a paper jam and replaced the pickup roller.
Time spent: 50 minutes
This costs 1,20 points of your contract. Balance after: 18,80 points.

Is everything in order?
All good, close it: {confirm}
Not solved: {reopen}

If we do not hear from you, we will close it on 8 Oct 2026.
"""

RU_BODY = """Здравствуйте!

проблема, о которой вы сообщили, решена.

Что произошло: Printer on the 2nd floor jams
Обнаружено: 5 окт. 2026\u202fг., 10:00 CEST
Решено: 5 окт. 2026\u202fг., 11:30 CEST

Что сделано: Cleared a paper jam and replaced the pickup roller.
Затрачено времени: 50 минут
Это стоит 1,20 баллов по вашему договору. Остаток после списания: 18,80 баллов.

Всё ли в порядке?
Всё в порядке, закрыть: {confirm}
Не решено: {reopen}

8 окт. 2026\u202fг. мы закроем обращение, если вы не ответите.
"""


@pytest.mark.parametrize(
    ("language", "subject", "body"),
    [
        ("en", "Resolved: Printer on the 2nd floor jams (UPK-acme-1)", EN_BODY),
        ("ru", "Решено: Printer on the 2nd floor jams (UPK-acme-1)", RU_BODY),
    ],
)
def test_the_closing_message_states_what_when_what_was_done_and_the_cost(
    store, settings, clock, language, subject, body
) -> None:
    # 50 min rounded up to 15 min steps = 1 h at 1.2 points/h = 1.20 points; 20 - 1.20 = 18.80.
    kit.give(store, "acme", language=language)
    world = kit.wired(store, settings)
    key = _resolved_report(world, clock)
    assert kit.queued(store) == []  # composed by the job, never inside the request
    sent = world.closing.run_once(now=clock.tick(60))
    assert sent == {"sent": 1, "digests": 0, "auto_closed": 0}
    (mail,) = kit.queued(store)
    assert mail.recipients == ["office@acme.example"]  # the contact receiving closing notices
    assert mail.subject == subject
    tokens = kit.links_in(mail.body_text)
    base = "http://127.0.0.1:8427/closing"
    assert mail.body_text == body.format(
        confirm=f"{base}/confirm?token={tokens['confirm']}",
        reopen=f"{base}/reopen?token={tokens['reopen']}",
    )
    (row,) = kit.closing_rows(store)
    assert (row.state, row.kind) == ("awaiting", "closing")
    assert [e.type for e in kit.events(store, key)][-1] == "closing_sent"


def test_confirm_closes_records_the_rating_and_the_link_works_once(store, settings, clock) -> None:
    kit.give(store, "acme")
    world = kit.wired(store, settings)
    key = _resolved_report(world, clock)
    world.closing.run_once(now=clock.tick(60))
    tokens = kit.links_in(kit.queued(store)[0].body_text)
    done = world.closing.answer_by_link(
        tokens["confirm"], "confirm", rating=4, comment="quick, thanks", now=clock.tick(600)
    )
    assert (done.key, done.state) == (key, "confirmed")
    assert kit.incident(store, key).state == "closed"
    closed = kit.events(store, key)[-1]
    assert closed.type == "closed"
    assert closed.actor == "client"
    assert (closed.data["rating"], closed.data["comment"], closed.data["via"]) == (
        4,
        "quick, thanks",
        "link",
    )
    with pytest.raises(LinkUsed, match="used already.*5 Oct 2026, 11:41 CEST"):
        world.closing.answer_by_link(tokens["confirm"], "confirm", now=clock.tick(60))
    with pytest.raises(LinkUsed):  # the other link of the same message is spent too
        world.closing.answer_by_link(tokens["reopen"], "reopen", comment="x", now=clock.now)
    with store.read() as conn:
        assert ratings(conn, None, 0, clock.now + 1) == {
            "count": 1,
            "average": 4.0,
            "per_score": {1: 0, 2: 0, 3: 0, 4: 1, 5: 0},
        }
    with pytest.raises(InvalidArgument, match="rating"):
        world.closing.answer_by_link(tokens["confirm"], "confirm", rating=6, now=clock.now)
    from collector.closing.metrics import ClosingCollector

    families = {f.name: f for f in ClosingCollector(store, settings).collect()}
    assert {s.labels["score"]: s.value for s in families["upkeep_closing_ratings"].samples} == {
        "1": 0,
        "2": 0,
        "3": 0,
        "4": 1,
        "5": 0,
    }
    assert families["upkeep_closing_awaiting"].samples == []


def test_not_solved_reopens_with_the_clients_comment(store, settings, clock) -> None:
    kit.give(store, "acme")
    world = kit.wired(store, settings)
    key = _resolved_report(world, clock)
    world.closing.run_once(now=clock.tick(60))
    tokens = kit.links_in(kit.queued(store)[0].body_text)
    world.closing.answer_by_link(
        tokens["reopen"], "reopen", rating=2, comment="It jams again.", now=clock.tick(60)
    )
    row = kit.incident(store, key)
    assert (row.state, row.resolved_at) == ("open", None)
    reopened = kit.events(store, key)[-1]
    assert reopened.type == "reopened"
    assert reopened.data["note"] == "It jams again."
    assert reopened.data["rating"] == 2
    # Resolved again: a new closing message with new links; the old ones stay spent.
    clock.tick(3600)
    world.incidents.act(key, "resolve", "tech", note="Replaced the fuser.")
    world.closing.run_once(now=clock.tick(60))
    assert len(kit.queued(store)) == 2
    assert [r.state for r in kit.closing_rows(store)] == ["reopened", "awaiting"]
    assert "Replaced the fuser." in kit.queued(store)[1].body_text
    with pytest.raises(LinkUsed):
        world.closing.answer_by_link(tokens["confirm"], "confirm", now=clock.now)


def test_no_answer_closes_it_after_the_contracts_days(store, settings, clock) -> None:
    kit.give(store, "acme", auto_close="3d")
    world = kit.wired(store, settings)
    key = _resolved_report(world, clock)
    sent_at = clock.tick(60)
    world.closing.run_once(now=sent_at)
    assert world.closing.run_once(now=sent_at + 3 * 86400 - 1)["auto_closed"] == 0
    assert kit.incident(store, key).state == "resolved"
    assert world.closing.run_once(now=sent_at + 3 * 86400)["auto_closed"] == 1
    assert kit.incident(store, key).state == "closed"
    last = kit.events(store, key)[-1]
    assert (last.type, last.actor, last.data["answer"]) == ("closed", "upkeep", "auto_closed")
    assert kit.closing_rows(store)[0].state == "auto_closed"
    tokens = kit.links_in(kit.queued(store)[0].body_text)
    with pytest.raises(InvalidLink, match="expired"):  # the links expire with it
        world.closing.answer_by_link(tokens["confirm"], "confirm", now=sent_at + 3 * 86400 + 1)


def test_links_and_portal_answers_never_cross_clients(store, settings, clock) -> None:
    kit.give(store, "acme")
    beta_id = kit.give(store, "beta")
    world = kit.wired(store, settings)
    acme_key = _resolved_report(world, clock, "acme")
    beta_key = _resolved_report(world, clock, "beta")
    world.closing.run_once(now=clock.tick(60))
    mails = {m.recipients[0]: kit.links_in(m.body_text) for m in kit.queued(store)}
    beta_tokens = mails["office@beta.example"]
    # A token names its own row: beta's link answers beta's incident only.
    world.closing.answer_by_link(beta_tokens["confirm"], "confirm", now=clock.tick(60))
    assert kit.incident(store, beta_key).state == "closed"
    assert kit.incident(store, acme_key).state == "resolved"
    # A changed token is refused (signature), not taken for another row.
    token = beta_tokens["reopen"]
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    with pytest.raises(InvalidLink, match="not valid"):
        world.closing.answer_by_link(forged, "reopen", now=clock.now)
    # A request-approval link signed with the same secret is no closing link.
    from collector.closing.links import closing_links
    from collector.ledger.links import links_from_settings

    approval = links_from_settings(settings).token("acme-1", "approve", clock.now)
    with pytest.raises(InvalidLink):
        closing_links(settings, 60).verify(approval, "confirm", clock.now)
    # Beta's viewer in the portal: acme's incident does not exist for them.
    viewer = type("V", (), {"role": "client_viewer", "username": "bob"})()
    with pytest.raises(NotFound):
        world.closing.answer_in_portal(
            Scope(frozenset({beta_id})), viewer, acme_key, "confirm", now=clock.now
        )
    assert kit.incident(store, acme_key).state == "resolved"


def _proactive(world, store, client_id: int, clock: Clock, n: int, hour: str) -> str:
    clock.set(f"2026-10-05 {hour}")
    signal = dict(
        fingerprint=f"fp{n}",
        name="disk_free",
        client_id=client_id,
        client="acme",
        ts=clock.now,
        asset="srv1",
        summary=f"srv1: disk /data almost full ({n})",
    )
    with store.write() as conn:
        applied = world.incidents.apply_signal(
            conn, AlertSignal(status="firing", **signal), clock.now
        )
    clock.tick(1800)
    with store.write() as conn:
        world.incidents.apply_signal(
            conn, AlertSignal(status="resolved", **{**signal, "ts": clock.now}), clock.now
        )
    return str(applied.key)


def test_a_proactive_fix_is_announced_each_time(store, settings, clock) -> None:
    client_id = kit.give(store, "acme", announce="each")
    world = kit.wired(store, settings)
    key = _proactive(world, store, client_id, clock, 1, "20:00")
    world.closing.run_once(now=clock.tick(60))
    (mail,) = kit.queued(store)
    assert mail.subject == f"Fixed before you noticed: srv1: disk /data almost full (1) ({key})"
    assert "Noticed: 5 Oct 2026, 22:00 CEST\nResolved: 5 Oct 2026, 22:30 CEST\n" in mail.body_text
    assert (
        "What was done: our monitoring confirmed the problem is gone; no note was written.\n"
        "This is covered by your contract: no points are charged. Balance: 20,00 points.\n"
    ) in mail.body_text
    assert "confirm?token=" not in mail.body_text  # nothing to confirm; reopen is offered
    tokens = kit.links_in(mail.body_text)
    world.closing.answer_by_link(tokens["reopen"], "reopen", comment="still full", now=clock.now)
    assert kit.incident(store, key).state == "open"


def test_proactive_fixes_of_a_day_come_in_one_digest_after_the_clients_day(
    store, settings, clock
) -> None:
    client_id = kit.give(store, "acme", announce="daily", language="ru")
    world = kit.wired(store, settings)
    _proactive(world, store, client_id, clock, 1, "08:00")
    _proactive(world, store, client_id, clock, 2, "20:00")  # 22:30 in Berlin: the same day
    # Berlin's 5 October ends at 22:00 UTC.
    assert world.closing.run_once(now=ts("2026-10-05 21:59"))["digests"] == 0
    assert world.closing.run_once(now=ts("2026-10-05 22:00"))["digests"] == 1
    (mail,) = kit.queued(store, "closing_digest")
    assert mail.subject == "Исправлено до того, как вы заметили, 5 окт. 2026 г.: 2 проблемы"
    assert (
        "- 5 окт. 2026\u202fг., 10:30 CEST: srv1: disk /data almost full (1) (srv1) [UPK-acme-1]\n"
        in (mail.body_text)
    )
    assert (
        "- 5 окт. 2026\u202fг., 22:30 CEST: srv1: disk /data almost full (2) (srv1) [UPK-acme-2]\n"
        in (mail.body_text)
    )
    assert "Остаток: 20,00 баллов." in mail.body_text
    assert world.closing.run_once(now=ts("2026-10-06 22:00"))["digests"] == 0


def test_monthly_only_and_out_of_scope_tell_nothing_now(store, settings, clock) -> None:
    client_id = kit.give(store, "acme", announce="monthly")
    world = kit.wired(store, settings)
    _proactive(world, store, client_id, clock, 1, "08:00")
    world.closing.run_once(now=ts("2026-10-07 00:00"))
    assert kit.queued(store) == [] and kit.queued(store, "closing_digest") == []
    assert kit.closing_rows(store) == []
