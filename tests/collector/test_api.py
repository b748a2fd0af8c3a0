"""The HTTP API in process (FastAPI TestClient): answers, error bodies, nothing changes on 4xx."""

from __future__ import annotations

import gzip
import json

import pytest

from collector import admin

BATCHES = "/api/v1/batches"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _post(api, token, body, **headers):
    if not isinstance(body, bytes | str):
        body = json.dumps(body)
    return api.post(BATCHES, content=body, headers={**_auth(token), **headers})


def _error(resp, status, code, detail_part=""):
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error"] == code, body
    assert detail_part in body["detail"], body
    return body


def test_batch_gzip_and_duplicate(api, acme, kit):
    batch = kit.make_batch([kit.sample("srv1", "cpu_percent", 12.5, kit.HOUR0)])
    resp = _post(
        api, acme.token, gzip.compress(json.dumps(batch).encode()), **{"Content-Encoding": "gzip"}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "batch_id": batch["batch_id"],
        "seq": 1,
        "duplicate": False,
        "samples": 1,
        "events": 0,
        "assets": 1,
        "refused": [],
    }
    again = _post(api, acme.token, batch)
    assert again.status_code == 200
    assert again.json()["duplicate"] is True and again.json()["samples"] == 1


@pytest.fixture
def stored_state(api, store, acme, kit):
    """One batch stored first; returns a function that says whether anything changed since."""
    assert (
        _post(
            api, acme.token, kit.make_batch([kit.sample("srv1", "m", 1.0, kit.HOUR0)])
        ).status_code
        == 200
    )
    before = kit.row_counts(store)
    return lambda: kit.row_counts(store) == before


def test_malformed_json_is_400(api, acme, stored_state):
    _error(_post(api, acme.token, b'{"batch_id": '), 400, "malformed_body", "not valid JSON")
    assert stored_state()


def test_wrong_type_is_422_naming_the_field(api, acme, kit, stored_state):
    batch = kit.make_batch([kit.sample("srv1", "m", 1.0, kit.HOUR0 + i) for i in range(5)])
    batch["samples"][3]["value"] = "high"
    body = _error(_post(api, acme.token, batch), 422, "invalid_batch", "samples[3].value: ")
    assert body["fields"][0]["loc"] == "samples[3].value"
    assert stored_state()


def test_missing_field_is_422_naming_it(api, acme, kit, stored_state):
    batch = kit.make_batch([kit.sample("srv1", "m", 1.0, kit.HOUR0 + 1)])
    del batch["agent"]["id"]
    del batch["samples"][0]["ts"]
    body = _error(_post(api, acme.token, batch), 422, "invalid_batch", "agent.id: Field required")
    assert {f["loc"] for f in body["fields"]} == {"agent.id", "samples[0].ts"}
    assert stored_state()


def test_unknown_asset_is_422(api, acme, kit, stored_state):
    batch = kit.make_batch(
        [kit.sample("srv1", "m", 1.0, kit.HOUR0 + 1), kit.sample("nope", "m", 1, kit.HOUR0)],
        assets=["srv1"],
    )
    _error(
        _post(api, acme.token, batch),
        422,
        "invalid_batch",
        "samples[1].asset: unknown asset 'nope'",
    )
    assert stored_state()


def test_oversized_body_is_413(store, settings, acme, kit):
    from fastapi.testclient import TestClient

    from collector.api import create_app

    small = settings.model_copy(update={"max_body_bytes": 2000, "max_decompressed_bytes": 5000})
    with TestClient(create_app(small, store=store, migrate=False, run_retention=False)) as api:
        big = kit.make_batch([kit.sample("srv1", "m", 1.0, kit.HOUR0 + i) for i in range(100)])
        _error(_post(api, acme.token, big), 413, "body_too_large", "limit of 2000")
        # Small as sent, too big inflated: refused without inflating it all.
        packed = gzip.compress(json.dumps(big).encode())
        assert len(packed) < 2000
        _error(
            _post(api, acme.token, packed, **{"Content-Encoding": "gzip"}),
            413,
            "body_too_large",
            "decompressed body is over the limit of 5000",
        )
        assert kit.row_counts(store)["samples"] == 0


def test_gzip_bomb_is_413_at_the_default_limit(api, acme, store, kit):
    bomb = gzip.compress(
        b" " * (40 * 1024 * 1024), compresslevel=9
    )  # 40 MiB of spaces, ~40 KiB sent
    _error(
        _post(api, acme.token, bomb, **{"Content-Encoding": "gzip"}),
        413,
        "body_too_large",
        "decompressed",
    )


def test_bad_gzip_is_400(api, acme, kit, stored_state):
    _error(
        _post(api, acme.token, b"certainly not gzip", **{"Content-Encoding": "gzip"}),
        400,
        "malformed_body",
        "not valid gzip",
    )
    packed = gzip.compress(
        json.dumps(kit.make_batch([kit.sample("srv1", "m", 2.0, kit.HOUR0 + 5)])).encode()
    )
    _error(
        _post(api, acme.token, packed[:-12], **{"Content-Encoding": "gzip"}),
        400,
        "malformed_body",
        "truncated",
    )
    assert stored_state()


def test_unsupported_encoding_is_415(api, acme, kit, stored_state):
    _error(
        _post(api, acme.token, b"xx", **{"Content-Encoding": "br"}),
        415,
        "unsupported_encoding",
        "'br'",
    )
    assert stored_state()


@pytest.mark.parametrize(
    "header", [None, "Bearer", "Basic dXNlcjpwYXNz", "Bearer upk_not-a-real-token"]
)
def test_missing_malformed_or_unknown_token_is_401(api, kit, stored_state, header):
    batch = kit.make_batch([kit.sample("srv1", "m", 3.0, kit.HOUR0 + 9)])
    resp = api.post(
        BATCHES, content=json.dumps(batch), headers={"Authorization": header} if header else {}
    )
    _error(resp, 401, "unauthenticated")
    assert resp.headers["www-authenticate"] == "Bearer"
    assert stored_state()


def test_revoked_token_is_401(api, store, acme, kit, stored_state):
    info = admin.list_tokens(store, "acme")[0]
    admin.revoke_token(store, info.id)
    _error(
        _post(api, acme.token, kit.make_batch([kit.sample("srv1", "m", 3.0, kit.HOUR0 + 9)])),
        401,
        "unauthenticated",
        "revoked",
    )
    assert stored_state()


def test_a_cached_token_revoked_elsewhere_is_refused_at_once(api, store, acme, kit, stored_state):
    """The collector caches agent tokens across requests (stored_state's batch cached this
    one); a revocation by any process (here: another connection, as the CLI's) holds from
    the next batch on: 401, also before a body error, and nothing is stored."""
    assert api.app.state.ingestor.cached_principal(acme.token) is not None
    info = admin.list_tokens(store, "acme")[0]
    admin.revoke_token(store, info.id)
    _error(_post(api, acme.token, b'{"batch_id": '), 401, "unauthenticated", "revoked")
    batch = kit.make_batch([kit.sample("srv1", "m", 3.0, kit.HOUR0 + 9)])
    _error(_post(api, acme.token, batch), 401, "unauthenticated", "revoked")
    # A duplicate of the stored batch is no exception.
    _error(_post(api, acme.token, batch), 401, "unauthenticated", "revoked")
    assert api.app.state.ingestor.cached_principal(acme.token) is None
    assert stored_state()


def test_a_cached_token_of_a_client_disabled_since_is_403(api, store, acme, kit, stored_state):
    assert api.app.state.ingestor.cached_principal(acme.token) is not None
    admin.set_client_enabled(store, "acme", False)
    batch = kit.make_batch([kit.sample("srv1", "m", 3.0, kit.HOUR0 + 9)])
    _error(_post(api, acme.token, batch), 403, "forbidden", "disabled")
    assert stored_state()
    admin.set_client_enabled(store, "acme", True)
    assert _post(api, acme.token, batch).status_code == 200


def test_admin_token_cannot_ingest(api, admin_token, kit, stored_state):
    _error(
        _post(api, admin_token, kit.make_batch([kit.sample("srv1", "m", 3.0, kit.HOUR0 + 9)])),
        403,
        "forbidden",
        "admin token",
    )
    assert stored_state()


def test_disabled_client_cannot_ingest(api, store, acme, kit, stored_state):
    admin.set_client_enabled(store, "acme", False)
    _error(
        _post(api, acme.token, kit.make_batch([kit.sample("srv1", "m", 3.0, kit.HOUR0 + 9)])),
        403,
        "forbidden",
        "disabled",
    )
    assert stored_state()
    admin.set_client_enabled(store, "acme", True)
    assert (
        _post(
            api, acme.token, kit.make_batch([kit.sample("srv1", "m", 3.0, kit.HOUR0 + 9)])
        ).status_code
        == 200
    )


def test_agent_of_another_client_is_403(api, store, acme, tenant_factory, kit, stored_state):
    globex = tenant_factory("globex")
    batch = kit.make_batch([kit.sample("srv1", "m", 3.0, kit.HOUR0 + 9)])
    assert _post(api, acme.token, batch).status_code == 200
    before = kit.row_counts(store)
    batch2 = kit.make_batch(
        [kit.sample("srv1", "m", 4.0, kit.HOUR0 + 10)], agent_id=batch["agent"]["id"]
    )
    _error(_post(api, globex.token, batch2), 403, "forbidden", "registered to another client")
    assert kit.row_counts(store) == before


def test_read_api_lists_assets_and_latest_per_client(api, store, tenant_factory, admin_token, kit):
    acme, globex = tenant_factory("acme"), tenant_factory("globex")
    t = kit.HOUR0 + 30
    assert (
        _post(
            api,
            acme.token,
            kit.make_batch(
                [
                    kit.sample("srv1", "cpu_percent", 11, t),
                    kit.sample("srv1", "disk_used_percent", 40, t, mount="/"),
                ],
                site="hq",
            ),
        ).status_code
        == 200
    )
    assert (
        _post(
            api, globex.token, kit.make_batch([kit.sample("srv1", "cpu_percent", 99, t)])
        ).status_code
        == 200
    )

    everything = api.get("/api/v1/assets", headers=_auth(admin_token)).json()
    assert sorted((a["client"], a["name"]) for a in everything) == [
        ("acme", "srv1"),
        ("globex", "srv1"),
    ]
    (acme_srv1,) = api.get(
        "/api/v1/assets", params={"client": "acme"}, headers=_auth(admin_token)
    ).json()
    assert (acme_srv1["site"], acme_srv1["kind"]) == ("hq", "host")
    assert acme_srv1["last_seen"].endswith("Z") or acme_srv1["last_seen"].endswith("+00:00")
    (globex_srv1,) = api.get(
        "/api/v1/assets", params={"client": "globex"}, headers=_auth(admin_token)
    ).json()

    acme_latest = api.get(
        f"/api/v1/assets/{acme_srv1['id']}/latest", headers=_auth(admin_token)
    ).json()
    assert [(x["metric"], x["labels"], x["value"]) for x in acme_latest] == [
        ("cpu_percent", {}, 11.0),
        ("disk_used_percent", {"mount": "/"}, 40.0),
    ]
    globex_latest = api.get(
        f"/api/v1/assets/{globex_srv1['id']}/latest", headers=_auth(admin_token)
    ).json()
    assert [(x["metric"], x["value"]) for x in globex_latest] == [("cpu_percent", 99.0)]

    clients = api.get("/api/v1/clients", headers=_auth(admin_token)).json()
    assert [c["name"] for c in clients] == ["acme", "globex"]
    _error(
        api.get("/api/v1/assets", params={"client": "initech"}, headers=_auth(admin_token)),
        404,
        "not_found",
        "initech",
    )
    _error(api.get("/api/v1/assets/999999/latest", headers=_auth(admin_token)), 404, "not_found")


@pytest.mark.parametrize("path", ["/api/v1/assets", "/api/v1/clients", "/api/v1/assets/1/latest"])
def test_agent_tokens_cannot_read_and_anonymous_is_401(api, acme, path):
    _error(api.get(path, headers=_auth(acme.token)), 403, "forbidden")
    _error(api.get(path), 401, "unauthenticated")


def test_healthz_and_metrics(api, acme, kit):
    assert api.get("/healthz").json() == {"status": "ok"}
    _post(api, acme.token, kit.make_batch([kit.sample("srv1", "m", 1.0, kit.HOUR0)]))
    _post(api, acme.token, b"{")
    text = api.get("/metrics").text
    assert "upkeep_ingest_batches_total 1.0" in text
    assert "upkeep_ingest_samples_total 1.0" in text
    assert 'upkeep_ingest_rejected_batches_total{reason="malformed_body"} 1.0' in text
    assert "upkeep_ingest_request_bytes_bucket" in text


def test_openapi_documents_the_batch_body_and_errors(api):
    schema = api.get("/openapi.json").json()
    op = schema["paths"]["/api/v1/batches"]["post"]
    assert op["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Batch"
    }
    components = schema["components"]["schemas"]
    assert {
        "Batch",
        "Sample",
        "Asset",
        "AgentInfo",
        "Event",
        "BatchAccepted",
        "WireError",
    } <= components.keys()
    assert components["Batch"]["properties"]["samples"]["items"] == {
        "$ref": "#/components/schemas/Sample"
    }
    assert {"400", "401", "403", "413", "422"} <= op["responses"].keys()


def test_openapi_documents_422_and_4xx_as_wire_errors(api, admin_token):
    """Issue 12 item 11: the document says what the answers are."""
    schema = api.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    assert "HTTPValidationError" not in components and "ValidationError" not in components
    wire_error = {"application/json": {"schema": {"$ref": "#/components/schemas/WireError"}}}
    for path, item in schema["paths"].items():
        for method, op in item.items():
            page = not path.startswith("/api/")  # the signed-link pages refuse in HTML (400)
            for code, answer in op["responses"].items():
                if code.startswith("4") and not (page and code == "400"):
                    assert answer.get("content") == wire_error, (method, path, code)
    latest = schema["paths"]["/api/v1/assets/{asset_id}/latest"]["get"]["responses"]
    assert {"401", "403", "404", "422"} <= latest.keys()
    # ... and a 422 is one: the project's error format.
    resp = api.get("/api/v1/assets/0/latest", headers=_auth(admin_token))
    assert resp.status_code == 422 and set(resp.json()) == {"error", "detail", "fields"}


def test_405_names_every_method_of_the_path_in_allow(api, admin_token):
    # GET, PUT and DELETE of a contract are three routes of one path.
    resp = api.post("/api/v1/contracts/acme", headers=_auth(admin_token))
    _error(resp, 405, "method_not_allowed")
    assert resp.headers["allow"] == "DELETE, GET, PUT"
    resp = api.delete("/healthz")
    assert resp.status_code == 405 and resp.headers["allow"] == "GET"


def test_values_the_store_cannot_hold_are_422_not_500(api, acme, admin_token, kit, stored_state):
    batch = kit.make_batch([kit.sample("srv1", "m", 1.0, kit.HOUR0 + 3)])
    batch["assets"][0]["description"] = "nul \u0000 inside"
    _error(_post(api, acme.token, batch), 422, "invalid_batch", "NUL")
    batch = kit.make_batch([kit.sample("srv1", "m", 1.0, kit.HOUR0 + 3)], seq=2**64)
    _error(_post(api, acme.token, batch), 422, "invalid_batch", "seq: ")
    _error(
        api.get(f"/api/v1/assets/{2**63}/latest", headers=_auth(admin_token)),
        422,
        "invalid_request",
        "asset_id",
    )
    _error(
        api.get("/api/v1/assets", params={"client": "a\x00b"}, headers=_auth(admin_token)),
        422,
        "invalid_request",
        "client",
    )
    assert stored_state()
    # An escaped backslash before "u0000" is just text, and is stored.
    batch = kit.make_batch([kit.sample("srv1", "m", 1.0, kit.HOUR0 + 3)])
    batch["assets"][0]["description"] = "C:\\u0000dir"
    assert _post(api, acme.token, batch).status_code == 200


@pytest.mark.parametrize("period", ["0001-01", "9999-12"])
def test_a_report_period_out_of_range_is_422_naming_it(api, acme, admin_token, period):
    """Year 1 overflowed the period's bounds to a 500 (schemathesis found it)."""
    resp = api.post(
        "/api/v1/reports",
        json={"client": "acme", "period": period, "format": "json"},
        headers=_auth(admin_token),
    )
    _error(resp, 422, "invalid_request", "period")


def test_openapi_carries_the_bounds_the_validation_enforces(api):
    """A bound the API enforces is in the document (pydantic drops a ``Field`` bound placed
    after a ``BeforeValidator`` into raw ``ge``/``gt`` keys no JSON Schema tool reads)."""
    schema = api.get("/openapi.json").json()

    def raw_keys(node, path=""):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("ge", "gt", "le", "lt"):
                    yield f"{path}/{key}"
                yield from raw_keys(value, f"{path}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                yield from raw_keys(value, f"{path}[{i}]")

    assert list(raw_keys(schema)) == []
    seq = schema["components"]["schemas"]["Batch"]["properties"]["seq"]
    assert seq["minimum"] == 0 and seq["maximum"] == 2**63 - 1
