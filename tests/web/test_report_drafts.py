"""The reports page tells the truth: a draft (a report of a period not over yet) is marked for
staff and published with the page's button; client viewers do not see it before that, neither
in the archive nor by its download URL; the e-mail column says pending until a mail server
accepted the mail."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from collector import notify
from collector.schema import reports
from tests.web.kit import World


def _draft(world: World) -> int:
    """A report of acme's running period (its end still ahead), not published."""
    now = time.time()
    with world.store.write() as conn:
        row = conn.execute(sa.select(reports).where(reports.c.id == world.a.report_id)).one()
        values = {
            k: getattr(row, k)
            for k in ("client_id", "format", "language", "path", "sha256", "bytes", "generated_by")
        }
        report_id = conn.execute(
            reports.insert().values(
                **values, period="2099-01", generated_at=now, period_end=now + 30 * 86400
            )
        ).inserted_primary_key[0]
        notification_id = notify.queue(
            conn,
            kind="report",
            recipients=["boss@acme.example"],
            subject="report",
            body_text="report",
            now=now,
            client_id=row.client_id,
        )
        conn.execute(
            reports.update()
            .where(reports.c.id == world.a.report_id)
            .values(emailed_at=now, notification_id=notification_id)
        )
    return int(report_id)


def test_a_draft_is_hidden_from_the_client_until_staff_publish_it(
    world: World, browser: Any
) -> None:
    draft = _draft(world)
    viewer = browser("viewer-a")  # acme's viewer
    staff = browser("root")
    page = staff.get("/ui/reports").text
    assert f'id="publish-{draft}"' in page and "draft" in page
    assert "pending" in page  # the other report's mail waits: not "e-mailed"
    listing = viewer.get("/ui/reports").text
    assert f"/ui/reports/{draft}/download" not in listing
    assert f"/ui/reports/{world.a.report_id}/download" in listing
    assert viewer.get(f"/ui/reports/{draft}/download").status_code == 404
    assert viewer.post(f"/ui/reports/{draft}/publish").status_code == 403
    assert staff.post(f"/ui/reports/{draft}/publish").status_code == 303
    assert f"/ui/reports/{draft}/download" in viewer.get("/ui/reports").text
    assert viewer.get(f"/ui/reports/{draft}/download").status_code == 200
