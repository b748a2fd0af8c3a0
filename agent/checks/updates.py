"""Pending OS updates and security updates: apt, dnf, Windows Update.

The parsers are pure functions of the tools' text output, tested with recorded output
(Windows Update cannot run here). The check never refreshes package lists itself: that
needs root and the network, and the OS already does it (apt's daily timer,
dnf-makecache.timer, Windows Update); the counts are as fresh as those lists.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import ClassVar

from agent.checks.base import Check, CheckConfig, MetricSpec, Sample
from agent.durations import Duration
from agent.schema import Field

#: Debian/Ubuntu create this file when an installed update needs a reboot.
APT_REBOOT_REQUIRED = "/var/run/reboot-required"
#: apt-get -s prints one "Inst" line per package it would install or upgrade:
#: "Inst bash [5.2.15-2+b8] (5.2.15-2+b13 Debian:12.15/oldstable [amd64])".
_APT_INST = re.compile(r"^Inst \S+ (?:\[[^\]]*\] )?\((?P<origins>[^)]*)\)")
_DNF_UPDATES_AVAILABLE = 100  # dnf check-update's exit status when there are updates
#: The "Security Updates" category of Windows Update. Its ID is the same on every
#: Windows; its name is translated ("Sicherheitsupdates"), so it is matched by ID.
WINDOWS_SECURITY_CATEGORY = "0fa1201d-4330-4fa8-8ae9-b877473b6441"
WINDOWS_UPDATE_SCRIPT = f"""
$ErrorActionPreference = 'Stop'
$session = New-Object -ComObject Microsoft.Update.Session
$result = $session.CreateUpdateSearcher().Search("IsInstalled=0 and IsHidden=0 and Type='Software'")
$security = 0
foreach ($update in $result.Updates) {{
  foreach ($category in $update.Categories) {{
    if ($category.CategoryID -eq '{WINDOWS_SECURITY_CATEGORY}') {{ $security++; break }}
  }}
}}
$reboot = Test-Path 'HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\WindowsUpdate\\Auto Update\\RebootRequired'
"pending=$($result.Updates.Count)"
"security=$security"
"reboot_required=$([int]$reboot)"
"""


class UpdatesConfig(CheckConfig):
    """Options of the ``updates`` check."""

    #: A Windows Update search regularly takes minutes; dnf reads large metadata.
    timeout: Duration | None = Field(default=600.0, gt=0)


class UpdatesCheck(Check):
    """How many OS updates are pending, how many of them fix security issues, and
    whether an installed update waits for a reboot."""

    name: ClassVar[str] = "updates"
    Config: ClassVar[type[CheckConfig]] = UpdatesConfig
    #: Counting updates costs seconds of CPU; the package lists change daily at most.
    default_interval: ClassVar[float | None] = 6 * 3600.0
    catalog: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec(
            "os_updates_pending", "gauge", "", (), "OS package updates available but not installed"
        ),
        MetricSpec(
            "os_security_updates_pending",
            "gauge",
            "",
            (),
            "Pending updates that fix security issues",
        ),
        MetricSpec(
            "os_reboot_required",
            "gauge",
            "",
            (),
            "1 if installed updates wait for a reboot (where the OS tells)",
        ),
    )

    config: UpdatesConfig

    def _manager(self) -> str | None:
        if self.host.platform == "win32":
            return "windows"
        if self.host.platform != "linux":
            return None
        # apt first: Debian ships a "dnf" package, RHEL-likes never have apt-get.
        for tool, manager in (("apt-get", "apt"), ("dnf", "dnf")):
            if self.host.which(tool):
                return manager
        return None

    def unsupported(self) -> str | None:
        if self._manager() is None:
            return (
                f"no supported package manager (apt, dnf, Windows Update) on {self.host.platform}"
            )
        return None

    def collect(self) -> Iterator[Sample]:
        manager = self._manager()
        reboot: bool | None  # dnf cannot always tell
        if manager == "apt":
            pending, security, reboot = self._apt()
        elif manager == "dnf":
            pending, security, reboot = self._dnf()
        else:
            pending, security, reboot = self._windows()
        yield Sample("os_updates_pending", pending)
        yield Sample("os_security_updates_pending", security)
        if reboot is not None:
            yield Sample("os_reboot_required", 1.0 if reboot else 0.0)

    def _run(self, argv: list[str], ok: tuple[int, ...] = (0,)) -> tuple[int, str]:
        result = self.host.run(argv, timeout=self.config.effective_timeout(), env={"LC_ALL": "C"})
        if result.returncode not in ok:
            detail = (result.stderr or result.stdout).strip()[-500:]
            raise RuntimeError(f"{argv[0]} exited with {result.returncode}: {detail}")
        return result.returncode, result.stdout

    def _apt(self) -> tuple[int, int, bool]:
        # dist-upgrade, not upgrade: held-back packages (new dependencies, kernels) are
        # pending too. NoLocking: a simulation must not fail while apt runs elsewhere.
        _, out = self._run(["apt-get", "-s", "-o", "Debug::NoLocking=true", "dist-upgrade"])
        pending, security = parse_apt_simulation(out)
        return pending, security, self.host.path_exists(APT_REBOOT_REQUIRED)

    def _dnf(self) -> tuple[int, int, bool | None]:
        # -C: read the system's metadata cache (kept fresh by dnf-makecache.timer); without
        # it an unprivileged agent would download all metadata into its own cache.
        status, out = self._run(["dnf", "-q", "-C", "check-update"], ok=(0, _DNF_UPDATES_AVAILABLE))
        packages = parse_dnf_check_update(out) if status == _DNF_UPDATES_AVAILABLE else set()
        security: set[str] = set()
        if packages:
            _, out = self._run(
                ["dnf", "-q", "-C", "updateinfo", "list", "--security", "--available"]
            )
            security = parse_dnf_updateinfo(out) & packages
        reboot = None
        if self.host.which("needs-restarting"):
            # needs-restarting -r exits 1 when a reboot is needed, 0 when not.
            code, _ = self._run(["needs-restarting", "-r"], ok=(0, 1))
            reboot = code == 1
        return len(packages), len(security), reboot

    def _windows(self) -> tuple[int, int, bool]:
        _, out = self._run(
            [
                "powershell.exe",
                "-NoProfile",
                "-NonInteractive",
                "-ExecutionPolicy",
                "Bypass",
                "-Command",
                WINDOWS_UPDATE_SCRIPT,
            ]
        )
        return parse_windows_update(out)


def parse_apt_simulation(text: str) -> tuple[int, int]:
    """(pending, security) from ``apt-get -s dist-upgrade`` output.

    A package counts as a security update when one of the archives it comes from is a
    security archive (``Debian-Security:…``, ``Ubuntu:22.04/jammy-security``).
    """
    pending = security = 0
    for line in text.splitlines():
        if (match := _APT_INST.match(line)) is None:
            continue
        pending += 1
        if "security" in match["origins"].lower():
            security += 1
    return pending, security


def parse_dnf_check_update(text: str) -> set[str]:
    """``name.arch`` of each package ``dnf check-update`` lists as upgradable.

    Lines are ``name.arch  version  repo``; dnf wraps a long name onto its own line and
    continues with an indented ``version repo`` line. The "Obsoleting Packages" section
    repeats packages already listed, so parsing stops there.
    """
    packages: set[str] = set()
    record: list[str] = []
    for line in text.splitlines():
        if line.startswith("Obsoleting Packages"):
            break
        if not line[:1].isspace():
            record = []  # an unindented line starts a new package
        record.extend(line.split())
        if len(record) == 3 and "." in record[0]:
            packages.add(record[0])
            record = []
    return packages


def parse_dnf_updateinfo(text: str) -> set[str]:
    """``name.arch`` of each package in ``dnf updateinfo list --security`` output.

    Lines are ``ADVISORY  Severity/Sec.  name-version-release.arch``; one package can
    appear under several advisories.
    """
    packages: set[str] = set()
    for line in text.splitlines():
        fields = line.split()
        if len(fields) != 3 or "." not in fields[2] or fields[2].count("-") < 2:
            continue
        nevra = fields[2]
        name = nevra.rsplit("-", 2)[0]
        arch = nevra.rsplit(".", 1)[1]
        packages.add(f"{name}.{arch}")
    return packages


def parse_windows_update(text: str) -> tuple[int, int, bool]:
    """(pending, security, reboot_required) from the ``key=value`` lines of the script."""
    values = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep:
            values[key] = value.strip()
    try:
        return int(values["pending"]), int(values["security"]), values["reboot_required"] == "1"
    except (KeyError, ValueError):
        raise ValueError(
            f"unexpected output from the Windows Update query: {text.strip()[:300]!r}"
        ) from None
