"""A real Redmine (Debian's ``redmine`` + ``redmine-sqlite`` packages) for the connector tests.

What works here, non-interactively:

- ``DEBIAN_FRONTEND=noninteractive apt-get install redmine redmine-sqlite`` (listed in
  ``scripts/test-system-deps``) needs no ``dpkg-reconfigure``: dbconfig-common's defaults
  create and migrate an SQLite database for the ``default`` instance
  (``/var/lib/dbconfig-common/sqlite3/redmine/instances/default/redmine_default``) and load
  Redmine's default data (trackers, statuses, priorities).
- The tests never touch that database: :meth:`RedmineServer.prepare` copies it into a
  temporary directory and points Rails at the copy with ``DATABASE_URL=sqlite3:<copy>``
  (Rails merges it over ``database.yml``). Without the packaged database it migrates a
  fresh one (``rake db:migrate`` + ``redmine:load_default_data``, slower).
- ``RAILS_ENV=production bin/rails runner setup.rb`` (in ``/usr/share/redmine``) enables
  the REST API, requires login (so a bad API key is a 401, not an anonymous answer),
  creates the projects in :data:`PROJECTS`, a string custom field
  "Upkeep key", a default time-entry activity, and prints the admin's API key.
- Debian's Redmine has no application server in its Gemfile; ``Gemfile.local`` with
  ``gem "webrick"`` (the ``ruby-webrick`` package) lets ``bin/rails server -u webrick``
  serve it. Writing ``/usr/share/redmine/Gemfile.local`` needs root, once per machine.
- The server listens on a free loopback port with its own pid file (``-P``), so several
  test sessions can run at once. Startup: ~6 s for the runner, ~5 s for the server.

:meth:`stop` / :meth:`start` take Redmine away and bring it back on the same port with the
same data (outage tests). Use the session fixture ``redmine`` (imported by
``tests/collector/connectors/conftest.py``), which skips with the reason when Redmine cannot
run here (:func:`redmine_unavailable`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from tests.servers.collector import free_port

REDMINE_ROOT = Path("/usr/share/redmine")
PACKAGED_DB = Path("/var/lib/dbconfig-common/sqlite3/redmine/instances/default/redmine_default")
GEMFILE_LOCAL = 'gem "webrick"\n'
BUSY_TIMEOUT_MS = 20_000
#: Projects the tests use (identifiers): one per test client, and a default one.
PROJECTS = ("acme-support", "globex-support", "support")

SETUP_RB = """
require 'json'
Setting.rest_api_enabled = '1'
Setting.login_required = '1'
admin = User.find_by_login('admin')
admin.update_columns(must_change_passwd: false)
trackers = Tracker.all.to_a
cf = IssueCustomField.find_by_name('Upkeep key') ||
  IssueCustomField.create!(name: 'Upkeep key', field_format: 'string', is_for_all: true,
                           is_filter: true, searchable: true, trackers: trackers)
PROJECTS.each do |ident|
  Project.find_by_identifier(ident) ||
    Project.create!(name: ident, identifier: ident, is_public: false,
                    trackers: trackers, enabled_module_names: %w[issue_tracking time_tracking])
end
TimeEntryActivity.find_by_name('Maintenance') ||
  TimeEntryActivity.create!(name: 'Maintenance', active: true, is_default: true)
puts "UPKEEP-SETUP " + JSON.dump({api_key: admin.api_key, custom_field_id: cf.id})
"""


def redmine_unavailable() -> str | None:
    """None if Redmine can run here, else why not (the skip reason)."""
    if not (REDMINE_ROOT / "bin" / "rails").exists():
        return "Redmine is not installed (Debian packages redmine, redmine-sqlite: scripts/test-system-deps)"
    local = REDMINE_ROOT / "Gemfile.local"
    if not local.exists() or "webrick" not in local.read_text():
        try:
            local.write_text(GEMFILE_LOCAL)
        except OSError as exc:
            return f'cannot write {local} (gem "webrick" for bin/rails server): {exc.strerror}'
    return None


class RedmineServer:
    """Redmine on ``http://127.0.0.1:<port>`` with its database in ``workdir``."""

    def __init__(self, workdir: str | Path, *, startup_timeout: float = 90.0) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.db_path = self.workdir / "redmine.sqlite3"
        self.pid_path = self.workdir / "server.pid"
        self.log_path = self.workdir / "redmine.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.startup_timeout = startup_timeout
        self.api_key = ""
        self.custom_field_id = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.env = {
            **os.environ,
            "RAILS_ENV": "production",
            # Webrick serves requests in threads: without a busy timeout, a read that meets
            # the connector's write fails at once with SQLite3::BusyException (HTTP 500).
            "DATABASE_URL": f"sqlite3:{self.db_path}?timeout={BUSY_TIMEOUT_MS}",
            "RAILS_LOG_TO_STDOUT": "1",
        }

    def connector_config(
        self, project_by_client: dict[str, str] | None = None, **extra: object
    ) -> dict[str, object]:
        """A ``redmine`` connector's settings pointing at this server (projects ``support``
        by default, ``project_by_client`` per client), with ``extra`` on top."""
        raw: dict[str, object] = {
            "type": "redmine",
            "url": self.url,
            "api_key": self.api_key,
            "default_project": "support",
            "key_custom_field_id": self.custom_field_id,
            "timeout": 15,
        }
        if project_by_client is not None:
            raw["project_by_client"] = project_by_client
        return {**raw, **extra}

    def _run(self, *args: str, timeout: float = 180) -> str:
        result = subprocess.run(
            args, cwd=REDMINE_ROOT, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}"
            )
        return result.stdout

    def prepare(self) -> None:
        """A private copy of the database, set up for the tests (REST API, projects, …)."""
        if PACKAGED_DB.exists():
            shutil.copyfile(PACKAGED_DB, self.db_path)
        else:
            self._run("bin/rake", "db:migrate")
            self.env["REDMINE_LANG"] = "en"
            self._run("bin/rake", "redmine:load_default_data")
        script = self.workdir / "setup.rb"
        script.write_text(f"PROJECTS = {json.dumps(list(PROJECTS))}\n{SETUP_RB}")
        out = self._run("bin/rails", "runner", str(script))
        line = next(ln for ln in out.splitlines() if ln.startswith("UPKEEP-SETUP "))
        setup = json.loads(line.removeprefix("UPKEEP-SETUP "))
        self.api_key = setup["api_key"]
        self.custom_field_id = int(setup["custom_field_id"])

    def start(self) -> None:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.pid_path.unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [
                "bin/rails",
                "server",
                "-u",
                "webrick",
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-P",
                str(self.pid_path),
            ],
            cwd=REDMINE_ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"Redmine exited with {self.process.returncode}; see {self.log_path}"
                )
            try:
                request = urllib.request.Request(
                    f"{self.url}/issue_statuses.json", headers={"X-Redmine-API-Key": self.api_key}
                )
                with urllib.request.urlopen(request, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(
            f"Redmine did not answer within {self.startup_timeout} s; see {self.log_path}"
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        """Call Redmine's REST API as the admin (test assertions)."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.url}/{path.lstrip('/')}",
            data=data,
            method=method,
            headers={"X-Redmine-API-Key": self.api_key, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
        return json.loads(raw) if raw.strip() else {}


@pytest.fixture(scope="session")
def redmine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedmineServer]:
    """One prepared, started Redmine for the session (skips with the reason if it cannot run)."""
    reason = redmine_unavailable()
    if reason:
        pytest.skip(reason)
    server = RedmineServer(tmp_path_factory.mktemp("redmine"))
    server.prepare()
    server.start()
    try:
        yield server
    finally:
        server.stop()
