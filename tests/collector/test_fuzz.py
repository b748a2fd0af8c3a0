"""Fuzz the OpenAPI contract with schemathesis against a real collector: whatever is sent,
every response passes the checks in ``CHECKS`` (at least: never a 5xx).

The run is ``schemathesis run`` in a subprocess against ``upkeep serve`` (a real uvicorn
collector with a SQLite store), with the tokens of a provisioned client (fuzz_hooks.py sends
the agent token to the ingest endpoint and the admin token elsewhere), so generated batches
get past authentication and exercise decoding, validation and storage.

Nothing schemathesis-related happens at import or collection: building the schema at
collection time (the previous version of this file) started the app's background jobs in
threads of the pytest process, and CPython 3.11's ``ast`` module keeps its recursion depth in
interpreter-wide state, so a job thread formatting a traceback while hypothesis parsed a
lambda's source failed collection with ``SystemError: AST constructor recursion depth
mismatch`` (CPython gh-106905) — 2 of 6 fresh collections. In the subprocess the app is in
another process and the only hypothesis thread is schemathesis' single worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from tests.servers.collector import CollectorProcess, free_port, provision

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
HOOKS = HERE / "fuzz_hooks.py"
CONFIG = HERE / "fuzz.toml"

# The checks every response must pass: all of schemathesis' checks, including response
# conformance (status codes, headers, bodies against the OpenAPI document). fuzz.toml says
# which schema-valid inputs the API may still refuse on their meaning (a documented 400) and
# which operations' documents are looser than their validation (positive_data_acceptance
# off for those, listed there with the reason).
CHECKS = ["all"]
MAX_EXAMPLES = 15  # per operation and phase; all phases (coverage, fuzzing, stateful) run
SEED = 1  # the same cases every run: a failure reproduces with `st replay` or this seed
# All checks over every operation take minutes on a loaded 2-core machine: bounded, but
# not tight (pytest's default 300 s per test would cut a healthy run short).
RUN_TIMEOUT = 600.0


def schemathesis_run(
    schema_url: str,
    checks: list[str],
    *,
    env: dict[str, str] | None = None,
    max_examples: int = MAX_EXAMPLES,
    timeout: float = RUN_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """``schemathesis run`` on ``schema_url`` in a fresh process; its exit code is the verdict."""
    args = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(CONFIG),
        "run",
        schema_url,
        # "all" is fuzz.toml's [checks] (see there why not `--checks all`).
        *([] if checks == ["all"] else ["--checks", ",".join(checks)]),
        "--workers",
        "1",
        "--max-examples",
        str(max_examples),
        "--seed",
        str(SEED),
        "--generation-database",
        "none",
        "--no-color",
        "--wait-for-schema",
        "30",
    ]
    return subprocess.run(
        args,
        env={**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        # schemathesis keeps a crash cache (.schemathesis/) in its working directory and
        # replays it first: a fresh temp dir keeps every run the same and the tree clean.
        cwd=tempfile.mkdtemp(prefix="upkeep-fuzz-"),
    )


REPORT_CHARS = 40_000  # bounded: a failing run's output can be megabytes (an 18 MB body)


def _report(proc: subprocess.CompletedProcess[str]) -> str:
    """The run's verdict, readable: schemathesis prints each failure in its FAILURES section,
    before the summary, so the tail alone cut the first failures off. Show that section (each
    line capped: a generated body can be megabytes) and the summary."""
    out = proc.stdout
    start = out.find("FAILURES")
    if start < 0:
        start = max(0, len(out) - REPORT_CHARS)
    lines = [
        line if len(line) <= 500 else f"{line[:500]}… ({len(line)} chars)"
        for line in out[start:].splitlines()
    ]
    body = "\n".join(lines)
    if len(body) > REPORT_CHARS:
        half = REPORT_CHARS // 2
        body = f"{body[:half]}\n… (cut) …\n{body[-half:]}"
    return f"schemathesis exited {proc.returncode}:\n{body}\n{proc.stderr[-5000:]}"


@pytest.mark.timeout(RUN_TIMEOUT + 180)
def test_api_passes_checks_under_fuzzing(tmp_path):
    # The task poll's generated `wait` (up to 3600 s) would hold each such request 25 s;
    # half a second still runs the held path (waiters.py) for every one.
    env = {"UPKEEP_TASK_POLL_MAX_WAIT": "0.5s"}
    with CollectorProcess(tmp_path / "collector", env=env) as collector:
        creds = provision(collector, "acme")
        proc = schemathesis_run(
            f"{collector.url}/openapi.json",
            CHECKS,
            env={
                "UPKEEP_FUZZ_AGENT_TOKEN": creds.agent_token,
                "UPKEEP_FUZZ_ADMIN_TOKEN": creds.admin_token,
            },
        )
        log = collector.log_tail(200)
    assert proc.returncode == 0, _report(proc)
    # It was a real run: every operation tested, none only ever refused for its token
    # (fuzz.toml fails the run on the missing_auth warning as well).
    assert "Tested: " in proc.stdout, _report(proc)
    selected = proc.stdout.split("Selected: ")[1].split("/")[0]
    tested = proc.stdout.split("Tested: ")[1].split()[0]
    assert int(selected) >= 60 and tested == selected, _report(proc)
    assert "Traceback" not in log, log


def test_harness_fails_on_a_server_error(tmp_path):
    """The harness can fail: an API that answers 500 for one input fails the run."""
    (tmp_path / "broken_api.py").write_text(
        textwrap.dedent(
            """
            from fastapi import FastAPI
            from fastapi.responses import JSONResponse

            app = FastAPI()

            @app.get("/items/{n}")
            def item(n: int) -> dict:
                if n == 0:
                    return JSONResponse({"error": "boom"}, status_code=500)
                return {"n": n}
            """
        )
    )
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "broken_api:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        proc = schemathesis_run(
            f"http://127.0.0.1:{port}/openapi.json",
            ["not_a_server_error"],
            env={"UPKEEP_FUZZ_AGENT_TOKEN": "-", "UPKEEP_FUZZ_ADMIN_TOKEN": "-"},
            max_examples=20,
            timeout=120,
        )
    finally:
        server.terminate()
        server.wait(15)
    assert proc.returncode == 1, _report(proc)
    assert "Server error" in proc.stdout and "/items/0" in proc.stdout, _report(proc)
