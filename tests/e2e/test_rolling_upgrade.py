"""A rolling upgrade on PostgreSQL (docs/cluster.md): a replica of this release keeps serving
while a newer release has migrated the database, as long as the newer schema is declared
backward compatible (expand only); it refuses a schema that is not, with a message that says
what to do.

The "newer release" is real: this release's migrations copied, plus one more revision file,
applied by ``Store.upgrade`` exactly as that release's ``upkeep db upgrade`` would. The old
replica is a real ``upkeep serve`` subprocess.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from collector.store import MIGRATIONS_DIR, Store
from tests.conftest import _postgres_schema_url, postgres_unavailable
from tests.servers.collector import CollectorProcess

pytestmark = pytest.mark.postgres

EXPAND = '''
"""A newer release's expand step: a new table the old code never touches."""
import sqlalchemy as sa
from alembic import op

revision = "9001"
down_revision = "{down}"
branch_labels = None
depends_on = None
BACKWARD_COMPATIBLE = True


def upgrade() -> None:
    op.create_table("future_things", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    op.drop_table("future_things")
'''

CONTRACT = '''
"""A newer release's contract step: drops what the old code still reads."""
from alembic import op

revision = "9002"
down_revision = "9001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("future_things")


def downgrade() -> None:
    pass
'''


@pytest.fixture
def pg_url() -> Iterator[str]:
    reason = postgres_unavailable()
    if reason:
        pytest.skip(reason)
    yield from _postgres_schema_url()


def newer_release(tmp_path: Path, *files: tuple[str, str]) -> Path:
    """This release's migrations plus ``files`` (name, text): a newer release's migrations."""
    target = tmp_path / f"migrations-{uuid.uuid4().hex[:6]}"
    shutil.copytree(MIGRATIONS_DIR, target, ignore=shutil.ignore_patterns("__pycache__"))
    for name, text in files:
        (target / "versions" / name).write_text(textwrap.dedent(text))
    return target


def upgrade_as(migrations: Path, url: str) -> None:
    """``Store.upgrade`` of the release whose migrations are in ``migrations`` (a process of
    its own, as that release's ``upkeep db upgrade``)."""
    script = (
        "import sys\nfrom pathlib import Path\nimport collector.store as s\n"
        "s.MIGRATIONS_DIR = Path(sys.argv[1])\nstore = s.Store.from_url(sys.argv[2])\n"
        "store.upgrade()\nprint(store.current_revision())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(migrations), url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def health(collector: CollectorProcess) -> httpx.Response:
    return httpx.get(f"{collector.url}/healthz", timeout=10)


def wait_status(collector: CollectorProcess, status: int, timeout: float = 30) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        answer = health(collector)
        if answer.status_code == status or time.monotonic() > deadline:
            return answer
        time.sleep(0.2)


def test_an_old_replica_serves_on_a_compatible_newer_schema_and_refuses_an_incompatible_one(
    tmp_path: Path, pg_url: str
) -> None:
    head = Store.head_revision()
    expand = newer_release(tmp_path, ("9001_expand.py", EXPAND.format(down=head)))
    contract = newer_release(
        tmp_path, ("9001_expand.py", EXPAND.format(down=head)), ("9002_contract.py", CONTRACT)
    )
    with CollectorProcess(tmp_path / "old", database_url=pg_url) as old:
        assert health(old).status_code == 200
        admin_token = old.cli("token", "create", "--admin").stdout.strip().splitlines()[-1]

        upgrade_as(expand, pg_url)  # the first replica of the newer release migrated
        store = Store.from_url(pg_url)
        try:
            assert store.current_revision() == "9001"
            assert store.compatible_with_schema()[:2] == ["9001", head]
        finally:
            store.dispose()
        answer = health(old)
        assert answer.status_code == 200, answer.text  # still in the load balancer
        listed = httpx.get(
            f"{old.url}/api/v1/clients",
            headers={"Authorization": f"Bearer {admin_token}"},
            timeout=10,
        )
        assert listed.status_code == 200  # and still working

        upgrade_as(contract, pg_url)  # a contract step: the old code may no longer run
        refused = wait_status(old, 503)
        assert refused.status_code == 503
        detail = refused.json()["detail"]
        assert "database schema at 9002 is newer than this collector" in detail
        assert f"knows up to {head}" in detail and "upgrade this replica" in detail

    # Started on the incompatible schema, the old release refuses to serve at all.
    again = CollectorProcess(tmp_path / "again", database_url=pg_url, startup_timeout=60)
    with pytest.raises(RuntimeError) as failed:
        again.start()
    again.stop()
    assert "database schema at 9002 is newer than this collector" in str(failed.value)
