"""file_age against real files whose times are set with os.utime."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from agent.checks.file_age import FileAgeCheck, FileAgeConfig
from agent.host import Host


def touch(path: Path, age: float, size: int = 10) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))


@pytest.fixture
def backups(tmp_path: Path) -> Path:
    root = tmp_path / "backups"
    touch(root / "db-1.tar.gz", age=7 * 3600, size=100)
    touch(root / "db-2.tar.gz", age=3600, size=200)
    touch(root / "notes.txt", age=10)
    touch(root / "old" / "db-0.tar.gz", age=60, size=300)
    (root / "loop").symlink_to(root, target_is_directory=True)  # must not be followed
    return root


def collect(paths: list, now_tolerance: float = 30.0) -> dict[tuple[str, str], float]:
    result = FileAgeCheck(FileAgeConfig.model_validate({"paths": paths}), Host("test")).run()
    assert result.ok, [e.message for e in result.events]
    return {
        (s.metric, s.labels.get("path", "")): s.value for s in result.samples if "path" in s.labels
    }


def test_newest_matching_file_in_a_folder(backups: Path) -> None:
    values = collect([{"path": str(backups), "pattern": "*.tar.gz"}])
    key = str(backups)
    assert values[("file_path_exists", key)] == 1
    assert values[("files", key)] == 2
    assert values[("file_age_seconds", key)] == pytest.approx(3600, abs=30)
    assert values[("file_newest_size_bytes", key)] == 200


def test_recursive_finds_subfolders_but_not_through_symlinks(backups: Path) -> None:
    values = collect([{"path": str(backups), "pattern": "*.tar.gz", "recursive": True}])
    assert values[("files", str(backups))] == 3
    assert values[("file_age_seconds", str(backups))] == pytest.approx(60, abs=30)
    assert values[("file_newest_size_bytes", str(backups))] == 300


def test_missing_path_and_single_file_and_empty_folder(tmp_path: Path) -> None:
    touch(tmp_path / "dump.sql", age=26 * 3600, size=42)
    (tmp_path / "empty").mkdir()
    missing, single, empty = (
        str(tmp_path / "nope"),
        str(tmp_path / "dump.sql"),
        str(tmp_path / "empty"),
    )
    values = collect([missing, single, empty])
    assert values == pytest.approx(
        {
            ("file_path_exists", missing): 0,
            ("file_path_exists", single): 1,
            ("files", single): 1,
            ("file_age_seconds", single): 26 * 3600,
            ("file_newest_size_bytes", single): 42,
            ("file_path_exists", empty): 1,
            ("files", empty): 0,
        },
        abs=30,
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every folder")
def test_an_unreadable_subfolder_is_skipped(backups: Path) -> None:
    locked = backups / "locked"
    touch(locked / "new.tar.gz", age=0)
    locked.chmod(0)
    try:
        values = collect([{"path": str(backups), "pattern": "*.tar.gz", "recursive": True}])
        assert values[("files", str(backups))] == 3
    finally:
        locked.chmod(0o755)


def test_config_shorthand_and_validation() -> None:
    config = FileAgeConfig.model_validate(
        {"paths": ["/srv/backup", {"path": "/srv/db", "recursive": True}]}
    )
    assert [(p.path, p.pattern, p.recursive) for p in config.paths] == [
        ("/srv/backup", "*", False),
        ("/srv/db", "*", True),
    ]
    with pytest.raises(ValidationError, match="listed twice"):
        FileAgeConfig.model_validate({"paths": ["/a", {"path": "/a", "pattern": "*.gz"}]})
    with pytest.raises(ValidationError, match="at least 1 item"):
        FileAgeConfig.model_validate({"paths": []})
