"""Fuzz the OpenAPI contract with schemathesis: whatever is sent, the API never answers 5xx.

A short run (SQLite, in process); valid tokens are sent so generated batches get past
authentication and exercise decoding, validation and storage. The schema is loaded when the
module is imported (schemathesis parametrizes at collection), so the app is built then, on a
store in a temp dir that the module fixture migrates and removes.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance
from schemathesis.core.parameters import ParameterLocation

from collector import admin
from collector.api import create_app
from collector.settings import Settings
from collector.store import Store

_DIR = Path(tempfile.mkdtemp(prefix="upkeep-fuzz-"))
_STORE = Store.from_url(f"sqlite:///{_DIR / 'fuzz.db'}")  # connects lazily
_APP = create_app(Settings.for_data_dir(_DIR), store=_STORE, migrate=False, run_retention=False)
# Every check runs. Schema-valid input the API refuses on its meaning (a date range over the
# bucket limit, an unsigned approval link) is a documented 400, not a contract breach.
_CONFIG = schemathesis.config.SchemathesisConfig.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "400", "401", "403", "404", "409"]
            }
        }
    }
)
# Known gaps (issue 12 item 11, left for the owners of these routers): their documents are
# looser than their validation, so schema-valid input is refused with 422. The management
# views' date-time query parameters (pydantic reads some numbers as epochs, others not), the
# contract body (documented as any object), a maintenance window's duration (> 0 not said).
_LOOSE_DOCUMENTS = {
    "/api/v1/management/created-resolved",
    "/api/v1/management/top-problems",
    "/api/v1/management/connectors",
    "/api/v1/management/technicians",
    "/api/v1/management/time-vs-fee",
    "/api/v1/management/points",
    "/api/v1/management/sla",
    "/api/v1/contracts/{client}",
    "/api/v1/maintenance",
}
schema = schemathesis.openapi.from_asgi("/openapi.json", _APP, config=_CONFIG)


@pytest.fixture(scope="module")
def tokens():
    _STORE.upgrade()
    admin.create_client(_STORE, "acme")
    yield {
        "agent": admin.create_token(_STORE, client="acme")[1],
        "admin": admin.create_token(_STORE, admin=True)[1],
    }
    _STORE.dispose()
    shutil.rmtree(_DIR, ignore_errors=True)


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_never_answers_5xx(case, tokens):
    kind = "agent" if case.operation.path == "/api/v1/batches" else "admin"
    # A case that mutates headers (e.g. leaves Authorization out) is sent as generated.
    negative_headers = case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER)
    headers = {} if negative_headers else {"Authorization": f"Bearer {tokens[kind]}"}
    excluded = [positive_data_acceptance] if case.operation.path in _LOOSE_DOCUMENTS else []
    case.call_and_validate(headers=headers, excluded_checks=excluded)
