"""Freshness of files in a folder: "is last night's backup there?"."""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agent.checks.base import Check, CheckConfig, MetricSpec, Sample

if TYPE_CHECKING:
    from agent.host import Host


class WatchedPath(BaseModel):
    """One folder (or file) to watch. A plain string in the config means ``{path: …}``."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1, description="folder or file; the label value path=<path>")
    pattern: str = Field(
        default="*",
        min_length=1,
        description="glob on file names, e.g. *.tar.gz (case-insensitive on Windows)",
    )
    recursive: bool = Field(default=False, description="also look in subfolders")


class FileAgeConfig(CheckConfig):
    """Options of the ``file_age`` check."""

    paths: list[WatchedPath] = Field(min_length=1)

    @field_validator("paths", mode="before")
    @classmethod
    def _strings_are_paths(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"path": item} if isinstance(item, str) else item for item in value]
        return value

    @field_validator("paths")
    @classmethod
    def _unique(cls, value: list[WatchedPath]) -> list[WatchedPath]:
        paths = [p.path for p in value]
        if dupes := sorted({p for p in paths if paths.count(p) > 1}):
            raise ValueError(f"path(s) listed twice: {', '.join(dupes)}")
        return value


class FileAgeCheck(Check):
    """Age and size of the newest matching file, and how many match.

    A missing path is a finding (``file_path_exists 0``), not a check failure: a backup
    share that is not mounted is exactly what the admin wants to hear about. A path that
    exists but cannot be read fails the check with the OS's reason.
    """

    name: ClassVar[str] = "file_age"
    Config: ClassVar[type[CheckConfig]] = FileAgeConfig
    #: Backups are daily or hourly; walking a large folder every 30s would be waste.
    default_interval: ClassVar[float | None] = 300.0
    catalog: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec("file_path_exists", "gauge", "", ("path",), "1 if the path exists, 0 if not"),
        MetricSpec("files", "gauge", "", ("path",), "Number of files matching the pattern"),
        MetricSpec(
            "file_age_seconds",
            "gauge",
            "seconds",
            ("path",),
            "Time since the newest matching file was modified (absent when no file matches)",
        ),
        MetricSpec(
            "file_newest_size_bytes",
            "gauge",
            "bytes",
            ("path",),
            "Size of the newest matching file",
        ),
    )

    config: FileAgeConfig

    def __init__(self, config: CheckConfig, host: Host) -> None:
        super().__init__(config, host)
        flags = re.IGNORECASE if host.platform == "win32" else 0
        self._patterns = {
            w.path: re.compile(fnmatch.translate(w.pattern), flags) for w in self.config.paths
        }

    def collect(self) -> Iterator[Sample]:
        now = self.host.time()
        for watched in self.config.paths:
            labels = {"path": watched.path}
            pattern = self._patterns[watched.path]
            count, newest = 0, None
            try:
                for info in self.host.iter_files(watched.path, watched.recursive):
                    if not pattern.match(os.path.basename(info.path)):
                        continue
                    count += 1
                    if newest is None or info.mtime > newest.mtime:
                        newest = info
            except FileNotFoundError:
                yield Sample("file_path_exists", 0.0, labels)
                continue
            yield Sample("file_path_exists", 1.0, labels)
            yield Sample("files", count, dict(labels))
            if newest is not None:
                # A file stamped in the future (clock skew on the machine that wrote it)
                # is as fresh as it gets, not negative seconds old.
                yield Sample("file_age_seconds", max(0.0, now - newest.mtime), dict(labels))
                yield Sample("file_newest_size_bytes", newest.size, dict(labels))
