"""Contract scope on incidents: covered, out of scope tagged / billable (labels + event, in the
ticket snapshot), or ignored (no incident). Pure decisions as a table; the rest on a real store."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from collector.connectors import ConnectorsConfig
from collector.connectors.webhook import WebhookConfig
from collector.contracts import scope
from collector.contracts.model import Contract
from collector.contracts.scope import Facts, decide
from collector.contracts.store import put_contract
from collector.incidents import pipeline
from collector.incidents.pipeline import AlertSignal
from collector.incidents.service import IncidentService
from collector.schema import assets, clients, incident_events, incidents, outbox, sites

T0 = 1_780_000_000.0
CONFIG = ConnectorsConfig(
    connectors={"desk": WebhookConfig(type="webhook", url="http://127.0.0.1:9/", secret="s")}
)


def contract(out_of_scope: str = "tag", include: list | None = None) -> Contract:
    return Contract.model_validate(
        {
            "client": "acme",
            "plan": {"name": "Basic"},
            "scope": {
                "include": include
                if include is not None
                else [{"kind": "host"}, {"kind": "printer"}, {"service": "mail"}],
                "exclude": [
                    {
                        "kind": "printer",
                        "tag": "leased",
                        "description": "printers leased from a third party",
                    },
                    {"tag": "building", "description": "the building's electrics"},
                    {"service": "website", "description": "the website hosted elsewhere"},
                ],
                "out_of_scope": out_of_scope,
            },
        }
    )


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (Facts(kind="host", name="srv1"), None),
        (
            Facts(kind="printer", tags=("leased",), name="printer-2nd-floor"),
            "printers leased from a third party",
        ),
        (Facts(kind="printer", tags=("owned",), name="printer-1st-floor"), None),
        (Facts(kind="ups", tags=("building",), name="ups1"), "the building's electrics"),
        (Facts(kind="switch", name="core-switch"), scope.NOT_INCLUDED),  # not included
        (Facts(kind="host", name="srv1", service="website"), "the website hosted elsewhere"),
        (Facts(kind="host", name="srv1", service="mail"), None),
        (Facts(), None),  # nothing to match on
    ],
)
def test_decide(facts: Facts, expected: str | None) -> None:
    verdict = decide(contract("billable"), facts)
    assert (verdict.reason if verdict else None) == expected
    if verdict:
        assert verdict.policy == "billable"


def test_no_include_covers_everything_not_excluded() -> None:
    open_contract = contract(include=[])
    assert decide(open_contract, Facts(kind="switch", name="core-switch")) is None
    assert (
        decide(open_contract, Facts(kind="ups", tags=("building",), name="ups1")).reason
        == "the building's electrics"
    )


def test_service_is_the_target_label_else_the_service_label() -> None:
    assert scope.service_of({"target": "website", "method": "icmp"}) == "website"
    assert scope.service_of({"service": "nginx"}) == "nginx"
    assert scope.service_of({"mountpoint": "/"}) is None


# ---------------------------------------------------------------------- on a store


def seed(store, policy: str) -> dict[str, int]:
    with store.write() as conn:
        client_id = conn.execute(
            clients.insert().values(name="acme", enabled=True, created_at=T0)
        ).inserted_primary_key[0]
        site_id = conn.execute(
            sites.insert().values(client_id=client_id, name="hq", created_at=T0)
        ).inserted_primary_key[0]
        ids = {"client": client_id}
        for name, kind, tags in (
            ("srv1", "host", []),
            ("printer-2nd-floor", "printer", ["leased"]),
            ("core-switch", "switch", []),
        ):
            ids[name] = conn.execute(
                assets.insert().values(
                    client_id=client_id,
                    site_id=site_id,
                    name=name,
                    kind=kind,
                    tags=tags,
                    attributes={},
                    first_seen=T0,
                    last_seen=T0,
                )
            ).inserted_primary_key[0]
        put_contract(conn, client_id, contract(policy), source="api", actor="test", now=T0)
    return ids


def fire(
    service: IncidentService, ids: dict[str, int], asset: str, status: str = "firing", **labels: str
):
    signal = AlertSignal(
        fingerprint=f"toner-low:{asset}",
        name="toner-low",
        client_id=ids["client"],
        client="acme",
        status=status,
        ts=T0,
        site="hq",
        asset_id=ids[asset],
        asset=asset,
        labels=labels,
        priority="minor",
        summary=f"problem on {asset}",
        value=5.0,
    )
    with service.store.write() as conn:
        return service.apply_signal(conn, signal, T0)


def make_service(store) -> IncidentService:
    # No listener: the scope stage's decision carries the labels and the event.
    return IncidentService(store, CONFIG)


@pytest.mark.parametrize("policy", ["tag", "billable"])
def test_out_of_scope_incident_is_labelled_and_the_ticket_says_so(store, policy: str) -> None:
    ids = seed(store, policy)
    service = make_service(store)
    applied = fire(service, ids, "printer-2nd-floor", supply="Black Toner")
    assert applied.event == "opened"
    covered = fire(service, ids, "srv1")
    with store.read() as conn:
        row = conn.execute(sa.select(incidents).where(incidents.c.key == applied.key)).one()
        event = conn.execute(
            sa.select(incident_events).where(
                incident_events.c.incident_id == row.id, incident_events.c.type == "out_of_scope"
            )
        ).one()
        payload = conn.execute(
            sa.select(outbox.c.payload).where(outbox.c.incident_id == row.id)
        ).scalar()
        other = conn.execute(
            sa.select(incidents.c.labels).where(incidents.c.key == covered.key)
        ).scalar()
    assert row.labels == {"supply": "Black Toner", "scope": "out-of-scope", "scope_policy": policy}
    assert (
        event.data["reason"] == "printers leased from a third party"
        and event.data["policy"] == policy
    )
    assert (
        payload["labels"]["scope"] == "out-of-scope"
    )  # the ticket written with the opening shows it
    assert other == {}
    assert scope.is_billable(row.labels) == (policy == "billable")


def test_ignore_opens_no_incident_but_people_are_never_ignored(store) -> None:
    ids = seed(store, "ignore")
    service = make_service(store)
    applied = fire(service, ids, "core-switch")  # not included
    assert applied.key is None and applied.decision.action == "suppress"
    assert "not covered by the contract's scope" in applied.decision.reason
    assert fire(service, ids, "core-switch", status="resolved").key is None
    assert fire(service, ids, "srv1").event == "opened"
    key = service.report(
        client="acme", title="the switch blinks", actor="jane", asset="core-switch"
    )
    with store.read() as conn:
        labels = conn.execute(sa.select(incidents.c.labels).where(incidents.c.key == key)).scalar()
        count = conn.execute(sa.select(sa.func.count()).select_from(incidents)).scalar()
    assert labels == {"scope": "out-of-scope", "scope_policy": "tag"}
    assert count == 2


def test_scope_stage_is_registered_after_noise_control() -> None:
    names = [stage.__name__ for stage in pipeline.stages()]
    assert names.index("scope_stage") > names.index("dependency_stage")


def test_an_incident_open_before_the_policy_changed_runs_its_course(store) -> None:
    ids = seed(store, "tag")
    service = make_service(store)
    key = fire(service, ids, "core-switch").key
    with store.write() as conn:
        put_contract(
            conn, ids["client"], contract("ignore"), source="api", actor="test", now=T0 + 1
        )
    assert fire(service, ids, "core-switch").key == key  # the repeat still reaches it
    assert fire(service, ids, "core-switch", status="resolved").event == "resolved"
