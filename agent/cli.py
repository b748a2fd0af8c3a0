"""``upkeep-agent``: the agent's command line (argparse: the agent stays light).

Exit codes: 0 ok, 1 runtime failure, 2 bad config or usage.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from typing import TYPE_CHECKING

from agent import __version__
from agent.yamlsource import ConfigError

if TYPE_CHECKING:
    from agent.config import LoadedConfig

EXIT_CONFIG = 2


def _load(path: str | None) -> LoadedConfig:
    from agent.config import load_config

    return load_config(path)


def cmd_check_config(args: argparse.Namespace) -> int:
    cfg = _load(args.config)
    print(f"{cfg.source}: ok ({len(cfg.checks)} checks: {', '.join(cfg.checks) or 'none'})")
    return 0


def cmd_once(args: argparse.Namespace) -> int:
    """Collect every configured check once and print one JSON object per sample."""
    from agent.host import Host
    from agent.runner import CheckRunner, build_checks

    cfg = _load(args.config)
    host = Host(cfg.agent.asset_name)
    checks = build_checks(cfg, host)
    for name, check in list(checks.items()):
        reason = check.unsupported()
        if reason:
            print(f"check {name} skipped: {reason}", file=sys.stderr)
            del checks[name]
    runner = CheckRunner(checks)
    collected: dict[str, float] = {}  # asset → its snmp_up
    try:
        # Rates and CPU percentages need two readings: prime those, wait, then collect.
        # Everything else (SNMP devices above all) is asked once.
        primed = [name for name, check in checks.items() if check.needs_previous]
        if primed:
            runner.run_group(primed)
            time.sleep(args.wait)
        out = sys.stdout
        for name, result in runner.run_group(list(checks)).items():
            if result.unsupported:
                print(f"check {name} skipped: {result.unsupported}", file=sys.stderr)
                continue
            for sample in result.samples:
                if sample.metric == "snmp_up" and sample.asset:
                    collected[sample.asset] = sample.value
                out.write(json.dumps(sample.to_wire(), separators=(",", ":")) + "\n")
            for event in result.events:
                print(f"event {event.type}: {event.message}", file=sys.stderr)
    finally:
        runner.shutdown()
    return _snmp_outcome(cfg, collected)


def _snmp_outcome(cfg: LoadedConfig, collected: dict[str, float]) -> int:
    """Exit 1 naming every configured SNMP device that gave nothing (0: all answered)."""
    snmp = cfg.snmp
    targets = [t for t in snmp.targets if t.enabled] if snmp is not None else []
    silent = [t for t in targets if collected.get(t.name) != 1.0]
    for target in silent:
        why = "no answer" if target.name in collected else "not polled before the deadline"
        print(
            f"error: snmp target {target.name} ({target.address}:{target.port}): "
            f"nothing collected ({why})",
            file=sys.stderr,
        )
    if silent:
        print(f"error: {len(silent)} of {len(targets)} SNMP devices gave nothing", file=sys.stderr)
        return 1
    return 0


def _tune_malloc() -> None:
    """Keep glibc's allocator from holding memory the agent no longer uses.

    * one arena for all threads (like MALLOC_ARENA_MAX=1): by default every thread that
      allocates gets its own arena and keeps freed memory in it;
    * a fixed 128 KiB mmap threshold: a batch body (up to a few MiB while a backlog
      drains) is then mapped and unmapped, instead of raising glibc's dynamic threshold
      and staying in the heap after it was sent.
    Must run before threads start. No-op off glibc.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-8, 1)  # M_ARENA_MAX
        libc.mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD (also disables the dynamic threshold)
        libc.mallopt(-1, 256 * 1024)  # M_TRIM_THRESHOLD: give freed heap tops back sooner
    except (OSError, AttributeError):
        pass


def cmd_run(args: argparse.Namespace) -> int:
    from agent.config import require_collector
    from agent.runner import AgentService

    _tune_malloc()
    cfg = _load(args.config)
    require_collector(cfg)
    logging.getLogger().setLevel(cfg.agent.log_level.upper())
    try:
        AgentService(cfg).run_forever()
    finally:
        _dump_modules()
    return 0


def _dump_modules() -> None:
    """Debug hook: with ``UPKEEP_AGENT_DUMP_MODULES=path`` a stopping agent writes the
    modules it had imported there, one per line — how benchmarks and tests see what
    the running service loaded (pure-Python modules never show in /proc/PID/maps)."""
    import os

    path = os.environ.get("UPKEEP_AGENT_DUMP_MODULES")
    if path:
        with open(path, "w", encoding="utf-8") as out:
            out.write("".join(f"{name}\n" for name in sorted(sys.modules)))


def cmd_install_service(args: argparse.Namespace) -> int:
    """Validate the config, then write and enable the service (systemd or Windows)."""
    from pathlib import Path

    from agent import service

    cfg = _load(args.config)
    if sys.platform == "win32":  # pragma: no cover - Windows
        service.install_windows(service.windows_plan(cfg, Path(args.config).absolute()))
        return 0
    installer = service.SystemdInstaller(root=Path(args.root), enable=not args.no_enable)
    installer.install(cfg, Path(args.config))
    return 0


def cmd_uninstall_service(args: argparse.Namespace) -> int:
    from pathlib import Path

    from agent import service

    if sys.platform == "win32":  # pragma: no cover - Windows
        service.uninstall_windows()
        return 0
    service.SystemdInstaller(root=Path(args.root), enable=not args.no_enable).uninstall()
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from pathlib import Path

    from agent import service

    if sys.platform == "win32":  # pragma: no cover - Windows
        return service.status_windows()
    return service.SystemdInstaller(root=Path(args.root), enable=not args.no_enable).status()


def cmd_discover(args: argparse.Namespace) -> int:
    """Probe an address range for SNMP devices; print an ``snmp:`` config snippet."""
    from agent.snmp.discover import RangeError, addresses, config_snippet, discover
    from agent.snmp.engine import SnmpLoop

    try:
        hosts = addresses(args.cidr, force=args.force)
    except RangeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    communities = args.community or ["public"]
    print(f"probing {len(hosts)} address(es) on UDP port {args.port} ...", file=sys.stderr)
    snmp = SnmpLoop()
    try:
        found = snmp.call(
            discover(
                snmp, hosts, args.port, communities, args.snmp_version, args.timeout, args.retries
            )
        )
    finally:
        snmp.close()
    print(f"{len(found)} SNMP device(s) found", file=sys.stderr)
    if args.community_file:
        print(f"# put the community in {args.community_file} (mode 0600, readable by the agent)")
    sys.stdout.write(config_snippet(found, args.port, args.snmp_version, args.community_file))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="upkeep-agent", description="Upkeep monitoring agent")
    parser.add_argument("--version", action="version", version=f"upkeep-agent {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="service mode: collect on schedule and push to the collector")
    run.add_argument("--config", "-c", required=True, help="agent config YAML")
    run.set_defaults(func=cmd_run)

    once = sub.add_parser(
        "once", help="collect every check once; --print writes samples as JSON lines"
    )
    once.add_argument(
        "--config", "-c", help="agent config YAML (default: the default checks for this OS)"
    )
    once.add_argument(
        "--print", action="store_true", required=True, help="print samples to stdout, send nothing"
    )
    once.add_argument(
        "--wait", type=float, default=1.0, help="seconds between the priming and the real reading"
    )
    once.set_defaults(func=cmd_once)

    check = sub.add_parser("check-config", help="validate a config file and exit")
    check.add_argument("--config", "-c", required=True)
    check.set_defaults(func=cmd_check_config)

    disc = sub.add_parser(
        "discover", help="find SNMP devices in an address range; print an snmp: config snippet"
    )
    disc.add_argument(
        "cidr", help="address range, e.g. 192.168.1.0/24 (larger than /22 needs --force)"
    )
    disc.add_argument(
        "--community", action="append", help="SNMP community to try (repeatable; default: public)"
    )
    disc.add_argument(
        "--community-file",
        help="write community_file: PATH in the snippet instead of the community",
    )
    disc.add_argument(
        "--snmp-version", choices=["1", "2c"], default="2c", help="default: %(default)s"
    )
    disc.add_argument("--port", type=int, default=161, help="UDP port (default: %(default)s)")
    disc.add_argument(
        "--timeout", type=float, default=1.0, help="seconds per request (default: %(default)s)"
    )
    disc.add_argument("--retries", type=int, default=1, help="default: %(default)s")
    disc.add_argument("--force", action="store_true", help="allow ranges larger than /22")
    disc.set_defaults(func=cmd_discover)

    for name, func, text in (
        (
            "install-service",
            cmd_install_service,
            "install and start the agent as a service (systemd / Windows)",
        ),
        (
            "uninstall-service",
            cmd_uninstall_service,
            "stop and remove the service (keeps the spool)",
        ),
        (
            "status",
            cmd_status,
            "is the service installed and running (exit 0 running, 3 stopped, 4 absent)",
        ),
    ):
        cmd = sub.add_parser(name, help=text)
        if name == "install-service":
            cmd.add_argument(
                "--config",
                "-c",
                default="/etc/upkeep/agent.yaml",
                help="agent config YAML the service runs with (default: %(default)s)",
            )
        cmd.add_argument(
            "--root",
            default="/",
            help="write below this directory instead of / (image builds, tests)",
        )
        cmd.add_argument(
            "--no-enable",
            action="store_true",
            help="only write files; print the systemctl/sysusers commands instead of running them",
        )
        cmd.set_defaults(func=func)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return args.func(args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
