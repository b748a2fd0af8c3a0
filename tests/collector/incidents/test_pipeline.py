"""The stage contract: first non-pass decision wins, later stages are not called."""

from __future__ import annotations

from collector.incidents import pipeline
from collector.incidents.pipeline import PASS, AlertSignal, defer, suppress


def signal(**kw) -> AlertSignal:
    values = {
        "fingerprint": "fp1",
        "name": "disk_full",
        "client_id": 1,
        "client": "acme",
        "status": "firing",
        "ts": 1000.0,
    }
    return AlertSignal(**{**values, **kw})


def test_empty_pipeline_passes() -> None:
    assert pipeline.run(None, signal(), 1000.0, []) == PASS  # type: ignore[arg-type]


def test_first_non_pass_wins() -> None:
    calls: list[str] = []

    def maintenance(conn, sig, now):
        calls.append("maintenance")
        return PASS

    def dependency(conn, sig, now):
        calls.append("dependency")
        return suppress("site down", parent="UPK-acme-1")

    def never(conn, sig, now):
        calls.append("never")
        return defer(now + 60)

    decision = pipeline.run(None, signal(), 1000.0, [maintenance, dependency, never])  # type: ignore[arg-type]
    assert decision.action == "suppress" and decision.parent == "UPK-acme-1"
    assert calls == ["maintenance", "dependency"]


def test_registered_stages_load() -> None:
    assert isinstance(pipeline.stages(), tuple)


def test_passing_decisions_merge_their_labels_and_events_a_suppress_drops_them() -> None:
    from collector.incidents.pipeline import AddedEvent, annotate

    def first(conn, sig, now):
        return annotate({"a": "1", "b": "1"}, [AddedEvent("one", {"n": 1})])

    def second(conn, sig, now):
        return annotate({"b": "2"}, [AddedEvent("two", {"n": 2})])

    decision = pipeline.run(None, signal(), 1000.0, [first, second])  # type: ignore[arg-type]
    assert decision.passes
    assert dict(decision.labels) == {"a": "1", "b": "2"}  # a later stage's label wins
    assert [e.type for e in decision.events] == ["one", "two"]
    dropped = pipeline.run(
        None,
        signal(),
        1000.0,
        [first, lambda conn, sig, now: suppress("no")],  # type: ignore[arg-type]
    )
    assert dropped.action == "suppress" and not dropped.labels and not dropped.events


def test_a_decisions_labels_and_events_are_written_with_the_new_incident_only(store) -> None:
    """Written once, complete: the INSERT carries the labels (no later UPDATE), the event
    follows the opening, the first ticket shows them; a repeat adds nothing."""
    import sqlalchemy as sa

    from collector import admin
    from collector.connectors import ConnectorsConfig
    from collector.connectors.webhook import WebhookConfig
    from collector.incidents.pipeline import AddedEvent, annotate
    from collector.incidents.service import IncidentService
    from collector.schema import incident_events, incidents, outbox

    client = admin.create_client(store, "acme")
    config = ConnectorsConfig(
        connectors={"desk": WebhookConfig(type="webhook", url="http://127.0.0.1:9/", secret="s")}
    )

    def tag(conn, sig, now):
        return annotate({"team": "net"}, [AddedEvent("routed", {"team": "net"})])

    service = IncidentService(store, config, stages=[tag])
    updates: list[str] = []

    def listener(conn, changed):  # what the listeners see already has the labels
        row = conn.execute(
            sa.select(incidents.c.labels).where(incidents.c.id == changed.incident_id)
        )
        updates.append(row.scalar_one().get("team", "-"))

    service.listeners.append(listener)
    with store.write() as conn:
        first = service.apply_signal(conn, signal(client_id=client.id, labels={"x": "y"}), 1000.0)
    with store.write() as conn:
        again = service.apply_signal(conn, signal(client_id=client.id, labels={"x": "y"}), 1010.0)
    assert (first.event, again.event) == ("opened", "repeated")
    with store.read() as conn:
        row = conn.execute(sa.select(incidents)).one()
        events = conn.execute(
            sa.select(incident_events.c.type, incident_events.c.data).order_by(incident_events.c.id)
        ).all()
        payload = conn.execute(sa.select(outbox.c.payload)).scalar_one()
    assert row.labels == {"x": "y", "team": "net"} and row.version == 2
    assert [e.type for e in events] == ["opened", "routed", "repeated"]
    assert payload["labels"]["team"] == "net" and updates == ["net", "net"]
