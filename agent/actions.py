"""What the agent can do when the collector asks (remediation actions), one function each.

The collector's action library (``actions/*.yaml``) names one of these *kinds*; the signed
task carries the kind and its parameters, which are checked again here (the agent trusts
the signature, not the shape). Commands are argv lists built here — never a shell string
— and run through :func:`agent.boundedrun.run_bounded` (timeout, clean environment,
bounded output, process group killed). File work (clean-temp, rotate-logs) is done in
Python, so it behaves the same on every OS and reports exactly what it removed.

Windows commands are PowerShell argv lists; their arguments are validated names, so the
one quoted string they contain cannot be broken out of. They are unit-tested against the
generated argv (tests/agent/test_actions.py) and not run here.
"""

from __future__ import annotations

import fnmatch
import gzip
import os
import re
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.boundedrun import run_bounded

_SERVICE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,199}$")
_SCRIPT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
POWERSHELL = ["powershell.exe", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass"]


class ActionError(ValueError):
    """The task's parameters are not acceptable here (refused before anything runs)."""


@dataclass(slots=True)
class ActionResult:
    """What an action did: exit code, bounded output, and the before/after evidence."""

    exit_code: int
    output: str = ""
    #: metric → {"before": x, "after": y, "labels": {...}}: what the action expects to change.
    measured: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Facts for the record ("files_removed": 12411, "bytes_removed": …).
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ActionContext:
    """The agent's side of the rules: its OS, its scripts folder, its output bound."""

    platform: str = sys.platform
    scripts_dir: Path | None = None
    max_output: int = 16384
    timeout: float = 600.0
    run: Callable[..., Any] = run_bounded


def _text(params: dict[str, Any], key: str, pattern: re.Pattern[str] | None = None) -> str:
    value = params.get(key)
    if not isinstance(value, str) or not value:
        raise ActionError(f"params.{key}: required text")
    if pattern is not None and not pattern.match(value):
        raise ActionError(f"params.{key}: {value!r} is not a plain name")
    return value


def _number(params: dict[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ActionError(f"params.{key}: a number from {low:g} to {high:g}")
    return float(value)


def _folder(params: dict[str, Any], key: str = "path") -> Path:
    text = _text(params, key)
    path = Path(text)
    if not path.is_absolute() or ".." in path.parts or path == Path(path.anchor):
        raise ActionError(f"params.{key}: {text!r} must be an absolute folder, not a root")
    return path


# ---------------------------------------------------------------------- argv builders


def restart_service_argv(name: str, platform: str) -> list[str]:
    if not _SERVICE.match(name):
        raise ActionError(f"params.service: {name!r} is not a service name")
    if platform == "win32":
        return [*POWERSHELL, "-Command", f"Restart-Service -Name '{name}' -Force -ErrorAction Stop"]
    return ["systemctl", "restart", "--", name]


def clear_spooler_argv(platform: str) -> list[str]:
    if platform == "win32":
        return [
            *POWERSHELL,
            "-Command",
            "Stop-Service -Name Spooler -Force -ErrorAction Stop; "
            'Remove-Item -Path "$env:SystemRoot\\System32\\spool\\PRINTERS\\*" -Force '
            "-ErrorAction SilentlyContinue; Start-Service -Name Spooler -ErrorAction Stop",
        ]
    return ["cancel", "-a", "-x"]  # CUPS: cancel and purge every job on every queue


def script_argv(path: Path, args: list[str], platform: str) -> list[str]:
    if platform == "win32" and path.suffix.lower() == ".ps1":
        return [*POWERSHELL, "-File", str(path), *args]
    return [str(path), *args]


# ---------------------------------------------------------------------- actions


def _command(ctx: ActionContext, argv: list[str]) -> ActionResult:
    run = ctx.run(argv, ctx.timeout, ctx.max_output)
    if run.error is not None:
        return ActionResult(127, run.error)
    output = (run.stdout + run.stderr)[: ctx.max_output]
    if run.timed_out:
        return ActionResult(124, f"timed out after {ctx.timeout:g}s (killed)\n{output}")
    return ActionResult(run.returncode if run.returncode is not None else 1, output)


def restart_service(params: dict[str, Any], ctx: ActionContext) -> ActionResult:
    return _command(ctx, restart_service_argv(_text(params, "service"), ctx.platform))


def clear_print_spooler(params: dict[str, Any], ctx: ActionContext) -> ActionResult:
    return _command(ctx, clear_spooler_argv(ctx.platform))


def run_script(params: dict[str, Any], ctx: ActionContext) -> ActionResult:
    if ctx.scripts_dir is None:
        raise ActionError("run-script: the agent has no actions.scripts_dir")
    name = _text(params, "script", _SCRIPT)
    args = params.get("args", [])
    if not isinstance(args, list) or not all(isinstance(a, str) and "\0" not in a for a in args):
        raise ActionError("params.args: a list of texts")
    root = ctx.scripts_dir.resolve()
    path = (root / name).resolve()
    if path.parent != root or not path.is_file():
        raise ActionError(f"params.script: no script {name!r} in {root}")
    return _command(ctx, script_argv(path, args, ctx.platform))


def _free(path: Path) -> float | None:
    try:
        return float(shutil.disk_usage(path).free)
    except OSError:
        return None


def clean_temp(params: dict[str, Any], ctx: ActionContext) -> ActionResult:
    """Remove regular files older than ``older_than_days`` under ``path`` (symlinks are not
    followed, folders are kept); report files and bytes removed and free space before/after."""
    folder = _folder(params)
    days = _number(params, "older_than_days", 7, 0, 3650)
    pattern = params.get("pattern", "*")
    if not isinstance(pattern, str) or not pattern:
        raise ActionError("params.pattern: a file name pattern")
    if not folder.is_dir():
        return ActionResult(1, f"{folder} is not a folder")
    cutoff = time.time() - days * 86400
    free_before = _free(folder)
    removed = removed_bytes = errors = 0
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]
        for name in files:
            if not fnmatch.fnmatch(name, pattern):
                continue
            path = os.path.join(root, name)
            try:
                info = os.lstat(path)
                if not os.path.isfile(path) or os.path.islink(path) or info.st_mtime > cutoff:
                    continue
                os.unlink(path)
            except OSError:
                errors += 1
                continue
            removed += 1
            removed_bytes += info.st_size
    free_after = _free(folder)
    labels = {"path": str(folder)}
    measured = {}
    if free_before is not None and free_after is not None:
        measured["disk_free_bytes"] = {"before": free_before, "after": free_after, "labels": labels}
    return ActionResult(
        0 if errors == 0 else 1,
        f"removed {removed} files ({removed_bytes} bytes) older than {days:g} days from {folder}"
        + (f"; {errors} could not be removed" if errors else ""),
        measured,
        {"files_removed": removed, "bytes_removed": removed_bytes, "errors": errors},
    )


def rotate_logs(params: dict[str, Any], ctx: ActionContext) -> ActionResult:
    """Compress (gzip) log files under ``path`` older than ``older_than_days`` and remove
    compressed ones older than ``delete_after_days``; report bytes before and after."""
    folder = _folder(params)
    days = _number(params, "older_than_days", 1, 0, 3650)
    delete_after = _number(params, "delete_after_days", 30, 1, 3650)
    pattern = params.get("pattern", "*.log")
    if not isinstance(pattern, str) or not pattern:
        raise ActionError("params.pattern: a file name pattern")
    if not folder.is_dir():
        return ActionResult(1, f"{folder} is not a folder")
    now = time.time()
    free_before = _free(folder)
    compressed = deleted = errors = 0
    for path in sorted(folder.iterdir()):
        try:
            info = path.lstat()
            if path.is_symlink() or not path.is_file():
                continue
            if path.suffix == ".gz":
                if info.st_mtime < now - delete_after * 86400:
                    path.unlink()
                    deleted += 1
                continue
            if not fnmatch.fnmatch(path.name, pattern) or info.st_mtime > now - days * 86400:
                continue
            target = path.with_name(path.name + ".gz")
            with path.open("rb") as src, gzip.open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.utime(target, (info.st_atime, info.st_mtime))
            path.unlink()
            compressed += 1
        except OSError:
            errors += 1
    free_after = _free(folder)
    measured = {}
    if free_before is not None and free_after is not None:
        measured["disk_free_bytes"] = {
            "before": free_before,
            "after": free_after,
            "labels": {"path": str(folder)},
        }
    return ActionResult(
        0 if errors == 0 else 1,
        f"compressed {compressed} and deleted {deleted} log files in {folder}"
        + (f"; {errors} errors" if errors else ""),
        measured,
        {"files_compressed": compressed, "files_deleted": deleted, "errors": errors},
    )


#: The one table of action kinds the agent knows: kind → function.
KINDS: dict[str, Callable[[dict[str, Any], ActionContext], ActionResult]] = {
    "restart-service": restart_service,
    "clean-temp": clean_temp,
    "rotate-logs": rotate_logs,
    "clear-print-spooler": clear_print_spooler,
    "run-script": run_script,
}


def perform(kind: str, params: dict[str, Any], ctx: ActionContext) -> ActionResult:
    """Run one action; ActionError when the kind or its parameters are not acceptable."""
    func = KINDS.get(kind)
    if func is None:
        raise ActionError(f"unknown action kind {kind!r} (known: {', '.join(sorted(KINDS))})")
    if not isinstance(params, dict):
        raise ActionError("params must be a mapping")
    return func(params, ctx)
