"""disk: filters, patterns, and how a bad pattern is reported at config load."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.checks.disk import (
    DEFAULT_EXCLUDE_FSTYPES,
    DEFAULT_EXCLUDE_MOUNTPOINTS,
    DiskCheck,
    DiskConfig,
)
from agent.checks.patterns import NameFilter
from agent.config import ConfigError, load_config
from agent.host import Host


@pytest.mark.parametrize(
    ("name", "allowed"),
    [
        ("/", True),
        ("/boot/efi", True),
        ("/srv/data", True),
        ("/System/Volumes/Data", True),
        ("/proc/sys/fs/binfmt_misc", False),
        ("/run/user/1000", False),
        ("/snap/core22/1380", False),
        ("/var/lib/docker/overlay2/ab/merged", False),
        ("/System/Volumes/Preboot", False),
    ],
)
def test_default_mountpoint_exclusions(name: str, allowed: bool) -> None:
    assert NameFilter(exclude=DEFAULT_EXCLUDE_MOUNTPOINTS).allows(name) is allowed


@pytest.mark.parametrize(
    ("fstype", "allowed"),
    [
        ("ext4", True),
        ("xfs", True),
        ("zfs", True),
        ("nfs4", True),
        ("cifs", True),
        ("NTFS", True),
        ("tmpfs", False),
        ("cgroup2", False),
        ("overlay", False),
        ("squashfs", False),
        ("CDFS", False),
    ],
)
def test_default_fstype_exclusions(fstype: str, allowed: bool) -> None:
    assert NameFilter(exclude=DEFAULT_EXCLUDE_FSTYPES).allows(fstype) is allowed


def test_patterns_match_whole_names() -> None:
    only = NameFilter(include=["sd*", "re:nvme\\d+n\\d+"], exclude=["sdz"])
    assert only.allows("sda") and only.allows("nvme0n1")
    assert not only.allows("nvme0n1p1"), "a regex matches the whole name, not a prefix"
    assert not only.allows("xsda") and not only.allows("sdz")
    assert NameFilter().allows("anything")


def test_a_broken_regex_is_a_config_error_with_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(
        "site: test\nchecks:\n  disk:\n    exclude_mountpoints:\n      - /mnt/*\n      - 're:(unclosed'\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    [problem] = caught.value.problems
    assert problem.startswith(f"{path}:6: checks.disk.exclude_mountpoints[1]:")
    assert "not a valid regular expression" in problem


def test_real_host_reports_no_pseudo_filesystem() -> None:
    result = DiskCheck(DiskConfig(), Host("test")).run()
    assert result.ok
    excluded = NameFilter(exclude=DEFAULT_EXCLUDE_FSTYPES)
    for sample in result.samples:
        if sample.metric.startswith("disk_"):
            assert excluded.allows(sample.labels["fstype"]), sample.labels
        if sample.metric == "disk_used_percent":
            assert 0.0 <= sample.value <= 100.0
