"""Strict finite JSON at the boundary (issue 12 item 2), on SQLite and PostgreSQL: NaN and
±Infinity (also ``1e999``, which Python reads as inf) anywhere in a request body are a 422
naming the field, never a 500 or stored non-standard JSON; the agent drops a 422'd batch,
so it no longer blocks the spool. Whatever the collector stores as JSON is finite."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

BATCHES = "/api/v1/batches"


def _post(api, token, raw: str):
    return api.post(BATCHES, content=raw, headers={"Authorization": f"Bearer {token}"})


def _with_literal(body: dict, placeholder: str, literal: str) -> str:
    """The JSON text of ``body`` with the string ``placeholder`` replaced by a bare literal."""
    return json.dumps(body).replace(json.dumps(placeholder), literal)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
@pytest.mark.parametrize(
    "where,loc",
    [
        ("attributes", "assets[0].attributes"),
        ("nested", "assets[0].attributes"),
        ("event", "events[0].data"),
        ("value", "samples[0].value"),
    ],
)
def test_non_finite_numbers_in_a_batch_are_a_422_naming_the_field(
    api, acme, kit, literal, where, loc
):
    asset = {"name": "srv1", "kind": "host", "attributes": {"cores": 4}}
    event = {"asset": "srv1", "type": "reboot", "ts": kit.NOW, "data": {"uptime": 1}}
    sample = kit.sample("srv1", "cpu_percent", 1.0, kit.NOW)
    if where == "attributes":
        asset["attributes"]["temp"] = "X"
    elif where == "nested":
        asset["attributes"]["sensors"] = {"list": [1.5, "X"]}
    elif where == "event":
        event["data"]["boot_time"] = "X"
    else:
        sample["value"] = "X"
    batch = kit.make_batch([sample], assets=[asset], events=[event])
    before = kit.row_counts(api.app.state.store)
    resp = _post(api, acme.token, _with_literal(batch, "X", literal))
    assert resp.status_code == 422, resp.text
    error = resp.json()
    assert error["error"] == "invalid_batch"
    assert [f["loc"] for f in error["fields"]] == [loc]
    if where != "value":
        inner = {"attributes": "temp", "nested": "sensors.list[1]", "event": "boot_time"}[where]
        assert f"{inner}: NaN and Infinity are not JSON numbers" in error["detail"]
    assert kit.row_counts(api.app.state.store) == before


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_in_any_api_body_are_a_422_naming_the_field(api, admin_token, literal):
    auth = {"Authorization": f"Bearer {admin_token}"}
    opened = api.post(
        "/api/v1/incidents",
        json={"client": "acme", "title": "printer jams", "by": "anna"},
        headers=auth,
    )
    assert opened.status_code in (201, 404), opened.text  # the path exists either way
    body = _with_literal({"points": "X", "reason": "goodwill", "by": "anna"}, "X", literal)
    resp = api.post(
        "/api/v1/incidents/ACME-1/charge",
        content=body,
        headers={**auth, "Content-Type": "application/json"},
    )
    assert resp.status_code == 422, resp.text
    error = resp.json()
    assert (error["error"], [f["loc"] for f in error["fields"]]) == (
        "invalid_request",
        ["body.points"],
    )
    assert error["detail"] == (
        f"body.points: {literal} is not a JSON number; send a finite number or null"
    )


def test_a_good_batch_after_a_refused_one_is_stored(api, acme, kit):
    """The agent drops a 422'd batch and sends the next one: nothing else is held up."""
    bad = kit.make_batch(
        [kit.sample("srv1", "cpu_percent", 1.0, kit.NOW)],
        assets=[{"name": "srv1", "kind": "host", "attributes": {"t": "X"}}],
    )
    assert _post(api, acme.token, _with_literal(bad, "X", "NaN")).status_code == 422
    good = kit.make_batch(
        [kit.sample("srv1", "cpu_percent", 2.0, kit.NOW)],
        assets=[{"name": "srv1", "kind": "host", "attributes": {"t": 41.5}}],
        seq=2,
    )
    resp = _post(api, acme.token, json.dumps(good))
    assert resp.status_code == 200 and resp.json()["samples"] == 1


def test_the_store_never_writes_non_finite_json(store, acme):
    from collector.schema import assets

    refused = pytest.raises((sa.exc.StatementError, ValueError), match="Out of range float")
    with refused, store.write() as conn:
        conn.execute(
            assets.insert().values(
                client_id=acme.principal.client_id,
                name="x",
                kind="host",
                tags=[],
                attributes={"t": float("nan")},
                first_seen=0.0,
                last_seen=0.0,
            )
        )
