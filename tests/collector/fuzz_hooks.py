"""Schemathesis hooks for the API fuzz run (tests/collector/test_fuzz.py), loaded by
``schemathesis run`` through ``SCHEMATHESIS_HOOKS`` in its own process, never by pytest.

Valid tokens are sent so generated requests get past authentication and exercise decoding,
validation and storage: the agent token for the agent's endpoints, the admin token elsewhere.
The tokens come from the environment the test sets (``UPKEEP_FUZZ_AGENT_TOKEN``,
``UPKEEP_FUZZ_ADMIN_TOKEN``).
"""

from __future__ import annotations

import os

import schemathesis

# The agent's own endpoints: batches and the remediation task channel (collector.remediation).
AGENT_PATHS = (
    "/api/v1/batches",
    "/api/v1/agent/tasks/poll",
    "/api/v1/agent/tasks/{task_id}/result",
)


# No caching: the token depends on the operation (the default caches the first one for 300 s).
@schemathesis.auth(refresh_interval=None)
class UpkeepTokens:
    def get(self, case, context):
        kind = "AGENT" if context.operation.path in AGENT_PATHS else "ADMIN"
        return os.environ[f"UPKEEP_FUZZ_{kind}_TOKEN"]

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


def _without_nul(value):
    if isinstance(value, str):
        return value.replace("\x00", "\x01")
    if isinstance(value, dict):
        return {_without_nul(key): _without_nul(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    return value


# A batch with a NUL anywhere (the store cannot hold one) is refused whole with 422
# ``nul_character``, as the Batch document says; the free-form ``attributes``/``data`` values
# cannot carry that as a pattern, so generated batches get U+0001 instead (the same length,
# and as outside every pattern of the contract as NUL: a case that breaks one still does).
# tests/collector/test_api.py asserts the 422 for NUL itself.
@schemathesis.hook("map_body").apply_to(path="/api/v1/batches")
def batch_without_nul(context, body):
    return _without_nul(body)
