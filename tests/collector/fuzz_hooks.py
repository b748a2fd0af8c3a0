"""Schemathesis hooks for the API fuzz run (tests/collector/test_fuzz.py), loaded by
``schemathesis run`` through ``SCHEMATHESIS_HOOKS`` in its own process, never by pytest.

Valid tokens are sent so generated requests get past authentication and exercise decoding,
validation and storage: the agent token for the ingest endpoint, the admin token elsewhere.
The tokens come from the environment the test sets (``UPKEEP_FUZZ_AGENT_TOKEN``,
``UPKEEP_FUZZ_ADMIN_TOKEN``).
"""

from __future__ import annotations

import os

import schemathesis

AGENT_PATHS = ("/api/v1/batches",)


# No caching: the token depends on the operation (the default caches the first one for 300 s).
@schemathesis.auth(refresh_interval=None)
class UpkeepTokens:
    def get(self, case, context):
        kind = "AGENT" if context.operation.path in AGENT_PATHS else "ADMIN"
        return os.environ[f"UPKEEP_FUZZ_{kind}_TOKEN"]

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}
