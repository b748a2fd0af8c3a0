"""Running a program the agent does not trust: plugins and remediation actions.

No shell (an argv list), stdin closed, a clean environment (a fixed PATH and the C locale,
nothing of the agent's own: tokens, proxies), output bounded (the first ``max_output``
bytes kept, the rest read and dropped so the program never blocks on a full pipe), and a
timeout after which the program is killed together with everything it started: it runs
in a process group (session) of its own, and the whole group is killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from typing import IO, Any, NamedTuple

if sys.platform == "win32":
    BASE_ENV = {
        k: os.environ[k]
        for k in ("SystemRoot", "SystemDrive", "WINDIR", "PATHEXT", "COMSPEC", "TEMP", "TMP")
        if k in os.environ
    } | {"PATH": r"C:\Windows\System32;C:\Windows;C:\Windows\System32\WindowsPowerShell\v1.0"}
else:
    BASE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
BASE_ENV |= {"LC_ALL": "C", "LANG": "C"}


class BoundedRun(NamedTuple):
    """What happened: an exit code (negative: killed by that signal), or an error/timeout."""

    returncode: int | None
    stdout: str
    stderr: str
    duration: float
    timed_out: bool = False
    truncated: bool = False
    #: Why the program could not be started (not found, not executable), else None.
    error: str | None = None


def _read_bounded(stream: IO[bytes], limit: int, sink: list[bytes], flags: list[bool]) -> None:
    """Keep the first ``limit`` bytes, read and drop the rest (``flags[0]``: some dropped)."""
    kept = 0
    while chunk := stream.read(8192):
        room = limit - kept
        if room > 0:
            sink.append(chunk[:room])
            kept += min(len(chunk), room)
        if len(chunk) > room:
            flags[0] = True
    stream.close()


def kill_group(proc: subprocess.Popen) -> None:
    """Kill the program and everything it started (its own process group / session)."""
    try:
        if sys.platform == "win32":
            subprocess.run(
                ["taskkill", "/F", "/T", "/PID", str(proc.pid)], capture_output=True, check=False
            )
            proc.kill()
        else:
            os.killpg(proc.pid, signal.SIGKILL)
    except OSError:  # already gone
        pass


def run_bounded(
    argv: list[str],
    timeout: float,
    max_output: int = 16384,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
) -> BoundedRun:
    """Run ``argv`` once; never raises (a failure to start is ``error``)."""
    start = time.monotonic()
    kwargs: dict[str, Any] = {}
    if sys.platform == "win32":
        kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP
    else:
        kwargs["start_new_session"] = True
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**BASE_ENV, **(env or {})},
            cwd=cwd,
            close_fds=True,
            shell=False,
            **kwargs,
        )
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        return BoundedRun(
            None, "", "", time.monotonic() - start, error=f"cannot run {argv[0]}: {reason}"
        )
    out: list[bytes] = []
    err: list[bytes] = []
    out_flags, err_flags = [False], [False]
    assert proc.stdout is not None and proc.stderr is not None
    readers = [
        threading.Thread(
            target=_read_bounded, args=(proc.stdout, max_output, out, out_flags), daemon=True
        ),
        threading.Thread(
            target=_read_bounded, args=(proc.stderr, max_output, err, err_flags), daemon=True
        ),
    ]
    for reader in readers:
        reader.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
    # The group is killed after a normal exit too: a child left holding the pipes open (a
    # daemonised helper) must not keep the readers, or the caller, waiting.
    kill_group(proc)
    if timed_out:
        proc.wait()
    for reader in readers:
        reader.join(timeout=2.0)
    return BoundedRun(
        None if timed_out else proc.returncode,
        b"".join(out).decode("utf-8", errors="replace"),
        b"".join(err).decode("utf-8", errors="replace"),
        time.monotonic() - start,
        timed_out=timed_out,
        truncated=out_flags[0] or err_flags[0],
    )
