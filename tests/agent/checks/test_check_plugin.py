"""The ``plugin`` check against Debian's real monitoring-plugins and a plugin that misbehaves.

Real plugins (``monitoring-plugins-basic``/``-standard``, scripts/test-system-deps) run
against loopback servers started here; the misbehaving plugin is a Python script written
by the test (hangs with a child, floods its output, prints garbage perfdata).
"""

from __future__ import annotations

import http.server
import os
import socket
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from agent.boundedrun import run_bounded
from agent.checks.perfdata import parse_output, parse_perfdata, split_output
from agent.checks.plugin import PluginCheck
from agent.config import ConfigError, check_configs, load_config
from agent.host import Host
from tests.agent.checks.recorded import assert_conforms

PLUGINS = Path("/usr/lib/nagios/plugins")
needs_plugins = pytest.mark.skipif(
    not (PLUGINS / "check_dummy").exists(),
    reason="monitoring-plugins not installed (scripts/test-system-deps)",
)


def run(items: list[dict], **options) -> tuple[dict, list]:
    """Run the check once; (samples by (metric, label or ''), events)."""
    cfg = check_configs({"plugin": {"items": items, **options}}, None)["plugin"]
    check = PluginCheck(cfg, Host("test-host"))
    result = check.run()
    assert result.ok, result.events
    assert_conforms(PluginCheck, result.samples)
    samples = {
        (s.metric, s.labels["name"], s.labels.get("label", ""), s.labels.get("level", ""))
        + ((s.labels["bound"],) if "bound" in s.labels else ()): s.value
        for s in result.samples
        if "name" in s.labels
    }
    return samples, result.events


def texts(events: list) -> dict[str, str]:
    return {e.data["name"]: e.data["text"] for e in events if e.type == "plugin_output"}


# ------------------------------------------------------------------ the parser


def test_split_output_long_text_and_perfdata_on_later_lines() -> None:
    text, long_text, perf = split_output(
        "DISK OK - free | /=10MB;20;30\nline two\nline three | 'a b'=1s\nc=2%\n\n"
    )
    assert text == "DISK OK - free"
    assert long_text == ["line two", "line three"]
    assert perf == "/=10MB;20;30 'a b'=1s c=2%"


@pytest.mark.parametrize(
    ("perf", "label", "value", "kind"),
    [
        ("time=0.5s", "time", 0.5, "seconds"),
        ("rta=12.445ms;100;500;0", "rta", 0.012445, "seconds"),
        ("t=250us", "t", 0.00025, "seconds"),
        ("'used space'=2.5GB;;;0;10", "used space", 2.5 * 2**30, "bytes"),
        ("x=3KB", "x", 3072, "bytes"),
        ("x=1TB", "x", 2**40, "bytes"),
        ("pl=0%", "pl", 0, "percent"),
        ("'it''s'=7c", "it's", 7, "counter"),
        ("users=3", "users", 3, ""),
        ("temp=-4.5", "temp", -4.5, ""),
        ("x=1e3B", "x", 1000, "bytes"),
    ],
)
def test_units_become_base_units(perf: str, label: str, value: float, kind: str) -> None:
    [item], invalid = parse_perfdata(perf)
    assert invalid == []
    assert (item.label, item.kind) == (label, kind)
    assert item.value == pytest.approx(value)


def test_ranges_and_empty_fields() -> None:
    values, invalid = parse_perfdata("a=5;10;20;; b=5;10:;~:20 c=1;@5:10;3:8;0;100 d=1;;;;")
    assert invalid == []
    a, b, c, d = values
    assert (a.warning.low, a.warning.high, a.critical.high, a.min, a.max) == (0, 10, 20, None, None)
    assert (b.warning.low, b.warning.high, b.critical.low, b.critical.high) == (10, None, None, 20)
    assert c.warning.inside and (c.critical.low, c.critical.high) == (3, 8)
    assert (c.min, c.max) == (0, 100)
    assert d.warning is None and d.critical is None


def test_garbage_is_skipped_and_counted_never_fatal() -> None:
    values, invalid = parse_perfdata(
        "ok=1 =3 x= y=abc z=1;2;3;4;5;6 'unclosed=4 w=2;9:1 u=U last=2"
    )
    assert [v.label for v in values] == ["ok", "last"]
    assert (
        len(invalid) == 6
    )  # =3, x=, y=abc, z (6 fields), 'unclosed=4, w (9 above 1); U is skipped
    assert parse_output("").text == ""
    assert parse_output("\x00\xff|||").perfdata == []


# ------------------------------------------------------------------ real plugins


@needs_plugins
def test_check_dummy_states_and_text() -> None:
    items = [
        {
            "name": f"dummy{code}",
            "command": [str(PLUGINS / "check_dummy"), str(code), f"say {code}"],
        }
        for code in range(4)
    ]
    samples, events = run(items)
    for code in range(4):
        assert samples[("plugin_state", f"dummy{code}", "", "")] == code
    said = texts(events)
    assert said["dummy1"] == "WARNING: say 1"
    assert said["dummy2"] == "CRITICAL: say 2"
    assert said["dummy3"] == "UNKNOWN: say 3"
    assert said["dummy0"] == "OK: say 0"  # sent once: the state is new


@pytest.fixture
def listening_port():
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.listen(8)
        yield server.getsockname()[1]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@needs_plugins
def test_check_tcp_open_and_closed_port(listening_port: int) -> None:
    closed = closed_port()
    samples, events = run(
        [
            {
                "name": "open",
                "command": [
                    str(PLUGINS / "check_tcp"),
                    "-H",
                    "127.0.0.1",
                    "-p",
                    str(listening_port),
                ],
            },
            {
                "name": "closed",
                "command": [str(PLUGINS / "check_tcp"), "-H", "127.0.0.1", "-p", str(closed)],
            },
        ]
    )
    assert samples[("plugin_state", "open", "", "")] == 0
    assert 0 <= samples[("plugin_perfdata_seconds", "open", "time", "")] < 5
    assert samples[("plugin_state", "closed", "", "")] == 2
    assert f"port {closed}: Connection refused" in texts(events)["closed"]


@pytest.fixture
def http_server():
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@needs_plugins
def test_check_http_against_a_loopback_server(http_server: int) -> None:
    samples, _ = run(
        [
            {
                "name": "web",
                "command": [
                    str(PLUGINS / "check_http"),
                    "-H",
                    "127.0.0.1",
                    "-p",
                    str(http_server),
                    "-u",
                    "/",
                ],
            }
        ]
    )
    assert samples[("plugin_state", "web", "", "")] == 0
    assert samples[("plugin_perfdata_seconds", "web", "time", "")] >= 0
    assert samples[("plugin_perfdata_bytes", "web", "size", "")] > 0


@needs_plugins
def test_check_disk_bytes_match_the_filesystem(tmp_path: Path) -> None:
    samples, _ = run(
        [
            {
                "name": "disk",
                "command": [
                    str(PLUGINS / "check_disk"),
                    "-w",
                    "1%",
                    "-c",
                    "0%",
                    "-p",
                    str(tmp_path),
                ],
            }
        ]
    )
    assert samples[("plugin_state", "disk", "", "")] == 0
    mount = next(k for k in samples if k[0] == "plugin_perfdata_bytes")[2]
    usage = psutil.disk_usage(str(tmp_path))
    used = samples[("plugin_perfdata_bytes", "disk", mount, "")]
    assert abs(used - usage.used) < max(64 * 2**20, usage.total * 0.02)
    assert samples[("plugin_perfdata_threshold", "disk", mount, "max", "high")] == pytest.approx(
        usage.total, rel=0.01
    )
    assert ("plugin_perfdata_threshold", "disk", mount, "warning", "high") in samples


@needs_plugins
def test_check_procs_counts_processes() -> None:
    samples, _ = run([{"name": "procs", "command": [str(PLUGINS / "check_procs"), "-w", "100000"]}])
    assert samples[("plugin_state", "procs", "", "")] == 0
    assert samples[("plugin_perfdata", "procs", "procs", "")] >= 1


# ------------------------------------------------------------------ a plugin that misbehaves

BAD_PLUGIN = """\
import os, sys, time, subprocess
mode = sys.argv[1]
if mode == "hang":
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    open(sys.argv[2], "w").write(str(child.pid))
    print("starting", flush=True)
    time.sleep(300)
elif mode == "flood":
    chunk = "x" * 65536 + "\\n"
    for _ in range(160):  # 10 MiB
        sys.stdout.write(chunk)
    sys.exit(1)
elif mode == "garbage":
    print("GARBAGE WARNING - see perfdata | a=1 =2 b=zz c=1;2;3;4;5;6 'd d'=4MB")
    sys.exit(1)
elif mode == "env":
    print("ENV OK | vars=%d" % len(os.environ))
    print("\\n".join(sorted(os.environ)))
elif mode == "stderr":
    sys.stderr.write("only on stderr\\n")
    sys.exit(2)
"""


@pytest.fixture
def bad_plugin(tmp_path: Path) -> Path:
    path = tmp_path / "bad_plugin"
    path.write_text(f"#!{sys.executable}\n{BAD_PLUGIN}")
    path.chmod(0o755)
    return path


def test_a_hung_plugin_is_killed_with_its_children(bad_plugin: Path, tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    start = time.monotonic()
    samples, events = run(
        [{"name": "hang", "command": [str(bad_plugin), "hang", str(pidfile)], "timeout": "2s"}]
    )
    assert time.monotonic() - start < 10
    assert samples[("plugin_state", "hang", "", "")] == 3
    assert texts(events)["hang"] == "timed out after 2s (killed)"
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 10
    while psutil.pid_exists(child) and psutil.Process(child).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the plugin's child survived"
        time.sleep(0.05)


def test_a_flood_is_bounded(bad_plugin: Path) -> None:
    run_ = run_bounded([str(bad_plugin), "flood"], timeout=30, max_output=4096)
    assert run_.returncode == 1 and run_.truncated
    assert len(run_.stdout) == 4096
    samples, events = run(
        [{"name": "flood", "command": [str(bad_plugin), "flood"]}], max_output_bytes=4096
    )
    assert samples[("plugin_state", "flood", "", "")] == 1
    assert texts(events)["flood"].endswith("(output truncated)")
    assert len(texts(events)["flood"]) <= 1000


def test_garbage_perfdata_keeps_the_rest(bad_plugin: Path) -> None:
    samples, events = run([{"name": "g", "command": [str(bad_plugin), "garbage"]}])
    assert samples[("plugin_state", "g", "", "")] == 1
    assert samples[("plugin_perfdata", "g", "a", "")] == 1
    assert samples[("plugin_perfdata_bytes", "g", "d d", "")] == 4 * 2**20
    assert samples[("plugin_perfdata_invalid", "g", "", "")] == 3
    assert texts(events)["g"] == "GARBAGE WARNING - see perfdata"


def test_the_environment_is_clean(bad_plugin: Path, monkeypatch) -> None:
    monkeypatch.setenv("UPKEEP_AGENT_TOKEN", "secret-token")
    result = run_bounded([str(bad_plugin), "env"], timeout=30)
    names = set(result.stdout.splitlines()[1:])
    assert "UPKEEP_AGENT_TOKEN" not in names and "secret-token" not in result.stdout
    assert names <= {"PATH", "LC_ALL", "LANG", "LC_CTYPE", "PWD"}


def test_no_start_odd_exit_and_stderr(bad_plugin: Path, tmp_path: Path) -> None:
    noexec = tmp_path / "noexec"
    noexec.write_text("#!/bin/sh\nexit 0\n")
    samples, events = run(
        [
            {"name": "missing", "command": [str(tmp_path / "nope")]},
            {"name": "noexec", "command": [str(noexec)]},
            {"name": "odd", "command": [sys.executable, "-c", "print('hm'); raise SystemExit(9)"]},
            {"name": "stderr", "command": [str(bad_plugin), "stderr"]},
        ]
    )
    said = texts(events)
    assert samples[("plugin_state", "missing", "", "")] == 3
    assert "No such file or directory" in said["missing"]
    assert "Permission denied" in said["noexec"]
    assert said["odd"] == "exit code 9 is not a plugin state (0-3): hm"
    assert said["stderr"] == "only on stderr"


def test_items_run_on_their_own_interval(bad_plugin: Path) -> None:
    cfg = check_configs(
        {
            "plugin": {
                "interval": "1m",
                "items": [
                    {
                        "name": "fast",
                        "command": [sys.executable, "-c", "print('OK')"],
                        "interval": "10s",
                    },
                    {
                        "name": "slow",
                        "command": [sys.executable, "-c", "print('OK')"],
                        "interval": "5m",
                    },
                ],
            }
        },
        None,
    )["plugin"]
    assert cfg.interval == 10.0  # the check wakes for its most frequent item
    check = PluginCheck(cfg, Host("h"))
    first = {s.labels["name"] for s in check.run().samples if s.metric == "plugin_state"}
    second = {s.labels["name"] for s in check.run().samples if s.metric == "plugin_state"}
    assert first == {"fast", "slow"}
    assert second == set()  # neither is due yet
    check._last_run = {k: v - 11 for k, v in check._last_run.items()}
    third = {s.labels["name"] for s in check.run().samples if s.metric == "plugin_state"}
    assert third == {"fast"}


# ------------------------------------------------------------------ config errors


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (
            "{name: smtp, command: [/bin/true], intervall: 5m}",
            "checks.plugin.items[0].intervall: unknown key",
        ),
        ("{name: smtp, command: '/bin/true -x'}", "checks.plugin.items[0].command"),
        ("{name: smtp, command: ['check_smtp -H 127.0.0.1']}", "looks like a shell command line"),
        ("{name: 'bad name', command: [/bin/true]}", "checks.plugin.items[0].name"),
        ("{name: smtp, command: []}", "checks.plugin.items[0].command"),
    ],
)
def test_a_bad_item_is_named_with_its_line(tmp_path: Path, item: str, message: str) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(f"site: x\nchecks:\n  plugin:\n    items:\n      - {item}\n")
    with pytest.raises(ConfigError) as excinfo:
        load_config(path)
    text = "\n".join(excinfo.value.problems)
    assert f"{path}:5" in text and message in text, text


def test_duplicate_names_refused() -> None:
    with pytest.raises(ConfigError, match="two items are named 'a'"):
        check_configs(
            {
                "plugin": {
                    "items": [{"name": "a", "command": ["x"]}, {"name": "a", "command": ["y"]}]
                }
            },
            None,
        )


def test_the_agent_does_not_import_anything_heavy_for_plugins() -> None:
    code = (
        "import sys; from agent.config import check_configs; from agent.checks.plugin import PluginCheck;"
        "from agent.host import Host;"
        "c = check_configs({'plugin': {'items': [{'name': 'a', 'command': ['/bin/true']}]}}, None)['plugin'];"
        "PluginCheck(c, Host('h')).run();"
        "bad = [m for m in ('pydantic', 'cryptography', 'requests', 'apscheduler') if m in sys.modules];"
        "print(','.join(bad))"
    )
    import subprocess

    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=os.getcwd()
    )
    assert out.stdout.strip() == ""
