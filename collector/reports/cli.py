"""``upkeep report``: one client's report to a file, or every client's with a progress bar."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from collector import admin
from collector.contracts.store import get_contract
from collector.errors import InvalidArgument
from collector.reports import FORMATS, generate
from collector.reports.archive import _safe, archive
from collector.reports.period import last_completed
from collector.settings import Settings
from collector.store import Store


def _period_for(store: Store, client: str, period: str | None, now: float) -> str:
    if period is not None:
        return period
    with store.read() as conn:
        return last_completed(get_contract(conn, admin.get_client(conn, client).id), now)


def run(
    store: Store,
    settings: Settings,
    *,
    client: str | None,
    period: str | None,
    fmt: str,
    out: Path | None,
    language: str | None,
    keep: bool,
    console: Console,
) -> list[Path]:
    """Write the report(s); returns the files written (``-`` as ``out``: stdout, one client only)."""
    if fmt not in FORMATS:
        raise InvalidArgument(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    now = time.time()
    if client is not None:
        label = _period_for(store, client, period, now)
        content = generate(store, client, label, fmt, language, now=now)
        if out is not None and str(out) == "-":
            sys.stdout.buffer.write(content)
            sys.stdout.flush()
            return []
        path = (
            out
            if out is not None and not out.is_dir()
            else (out or Path.cwd()) / f"{_safe(client)}-{label}.{fmt}"
        )
        path.write_bytes(content)
        if keep:
            archive(
                store,
                settings.data_dir,
                client,
                label,
                fmt,
                language,
                actor="cli",
                now=now,
                max_bytes=settings.artefact_max_bytes,
            )
        console.print(f"{path}: {len(content)} bytes")
        return [path]
    if out is not None and (str(out) == "-" or (out.exists() and not out.is_dir())):
        raise InvalidArgument("without --client, --out is a directory (one file per client)")
    folder = out or Path.cwd()
    folder.mkdir(parents=True, exist_ok=True)
    names = [c.name for c in admin.list_clients(store) if c.enabled]
    written: list[Path] = []
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("reports", total=len(names))
        for name in names:
            progress.update(task, description=f"report {name}")
            label = _period_for(store, name, period, now)
            content = generate(store, name, label, fmt, language, now=now)
            path = folder / f"{_safe(name)}-{label}.{fmt}"
            path.write_bytes(content)
            if keep:
                archive(
                    store,
                    settings.data_dir,
                    name,
                    label,
                    fmt,
                    language,
                    actor="cli",
                    now=now,
                    max_bytes=settings.artefact_max_bytes,
                )
            written.append(path)
            progress.advance(task)
    console.print(f"{len(written)} report(s) in {folder}")
    return written
