"""Disk space and inodes per mounted filesystem, skipping pseudo filesystems."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from agent.checks.base import Check, CheckConfig, MetricSpec, Sample
from agent.checks.patterns import NameFilter, NamePattern
from agent.schema import Field

if TYPE_CHECKING:
    from agent.host import Host

log = logging.getLogger(__name__)

#: Filesystems that hold no user data (kernel interfaces, RAM, container layers) or
#: are always full by design (CD/DVD images, snap packages): reporting them only
#: produces "disk full" noise.
DEFAULT_EXCLUDE_FSTYPES = (
    "autofs",
    "aufs",
    "binfmt_misc",
    "bpf",
    "cgroup*",
    "configfs",
    "debugfs",
    "devfs",
    "devpts",
    "devtmpfs",
    "efivarfs",
    "fusectl",
    "fuse.gvfsd-fuse",
    "fuse.lxcfs",
    "fuse.portal",
    "fuse.snapfuse",
    "hugetlbfs",
    "iso9660",
    "mqueue",
    "nsfs",
    "nullfs",
    "overlay",
    "proc",
    "pstore",
    "ramfs",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "squashfs",
    "sysfs",
    "tmpfs",
    "tracefs",
    "udf",
    "CDFS",
    "UDF",
)
#: Mount points below kernel/runtime trees and container runtimes' private mounts.
#: On macOS the system volumes share one APFS container with the Data volume, which is
#: the one that fills up.
DEFAULT_EXCLUDE_MOUNTPOINTS = (
    "/proc/*",
    "/sys/*",
    "/dev/*",
    "/run/*",
    "/snap/*",
    "/var/lib/docker/*",
    "/var/lib/containers/*",
    "/var/lib/kubelet/*",
    r"re:/System/Volumes/(?!Data$).*",
)


class DiskConfig(CheckConfig):
    """Options of the ``disk`` check. Patterns are globs, or regexes after ``re:``."""

    exclude_fstypes: list[NamePattern] = Field(
        default_factory=lambda: list(DEFAULT_EXCLUDE_FSTYPES)
    )
    exclude_mountpoints: list[NamePattern] = Field(
        default_factory=lambda: list(DEFAULT_EXCLUDE_MOUNTPOINTS)
    )
    #: When given, only mount points matching one of these are reported.
    include_mountpoints: list[NamePattern] = Field(default_factory=list)


class DiskCheck(Check):
    """Space and inode usage of each real filesystem, one series per mount point.

    A filesystem mounted more than once (bind mounts, btrfs subvolumes) is reported once,
    under its shortest mount point, since every mount of it shows the same numbers.
    """

    name: ClassVar[str] = "disk"
    Config: ClassVar[type[CheckConfig]] = DiskConfig
    _LABELS = ("mountpoint", "device", "fstype")
    catalog: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec("disk_total_bytes", "gauge", "bytes", _LABELS, "Size of the filesystem"),
        MetricSpec("disk_used_bytes", "gauge", "bytes", _LABELS, "Space in use"),
        MetricSpec(
            "disk_free_bytes",
            "gauge",
            "bytes",
            _LABELS,
            "Space free for unprivileged users (excludes blocks reserved for root)",
        ),
        MetricSpec(
            "disk_used_percent",
            "gauge",
            "percent",
            _LABELS,
            "Used / (used + free): the figure df shows",
        ),
        MetricSpec(
            "disk_inodes_used_percent",
            "gauge",
            "percent",
            _LABELS,
            "Share of inodes in use (only filesystems with a fixed inode table)",
        ),
    )

    config: DiskConfig

    def __init__(self, config: CheckConfig, host: Host) -> None:
        super().__init__(config, host)
        self._fstypes = NameFilter(exclude=self.config.exclude_fstypes)
        self._mountpoints = NameFilter(
            self.config.include_mountpoints, self.config.exclude_mountpoints
        )

    def collect(self) -> Iterator[Sample]:
        with_inodes = self.host.platform != "win32"
        for part in self.filesystems():
            try:
                usage = self.host.disk_usage(part.mountpoint)
            except OSError as exc:
                # Empty card readers/DVD drives, stale network mounts: nothing to report.
                log.debug("disk: skipping %s: %s", part.mountpoint, exc)
                continue
            labels = {"mountpoint": part.mountpoint, "device": part.device, "fstype": part.fstype}
            values = {
                "disk_total_bytes": usage.total,
                "disk_used_bytes": usage.used,
                "disk_free_bytes": usage.free,
                "disk_used_percent": usage.percent,
            }
            if with_inodes and (percent := self._inodes_used_percent(part.mountpoint)) is not None:
                values["disk_inodes_used_percent"] = percent
            for metric, value in values.items():
                yield Sample(metric, value, dict(labels))

    def filesystems(self) -> list[Any]:
        """The partitions to report, after filters and de-duplication."""
        by_mountpoint: dict[str, Any] = {}
        for part in self.host.disk_partitions(all=True):
            if not part.fstype or not self._fstypes.allows(part.fstype):
                continue
            if not self._mountpoints.allows(part.mountpoint):
                continue
            by_mountpoint[part.mountpoint] = part  # a later mount hides an earlier one
        by_device: dict[str, Any] = {}
        for part in sorted(by_mountpoint.values(), key=lambda p: (len(p.mountpoint), p.mountpoint)):
            # Only block devices identify a filesystem; "tmpfs" or "none" name many.
            key = part.device if part.device.startswith("/dev/") else part.mountpoint
            by_device.setdefault(key, part)
        return sorted(by_device.values(), key=lambda p: p.mountpoint)

    def _inodes_used_percent(self, mountpoint: str) -> float | None:
        try:
            st = self.host.statvfs(mountpoint)
        except OSError:
            return None
        # btrfs, vfat, NTFS via FUSE, … allocate inodes dynamically and report 0.
        if not st.f_files:
            return None
        return 100.0 * (st.f_files - st.f_ffree) / st.f_files
