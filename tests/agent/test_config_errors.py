"""Config errors are exactly what they were with pydantic: the same lines, the same order.

The agent validates its config with ``agent.schema`` (no pydantic in its run path); this
table was produced with the pydantic models before the switch and must stay unchanged.
``FILE`` stands for the config file's path; ``None`` means the file loads.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from agent.config import load_config
from agent.yamlsource import ConfigError

TABLE = [
    (
        "site: a\nspool:\n  max_mb: lots\n",
        [
            "FILE:3: spool.max_mb: Input should be a valid number, unable to parse string as a number"
        ],
    ),
    (
        "site: a\nchecks:\n  cpu: {interval: soon}\n",
        [
            "FILE:3: checks.cpu.interval: 'soon' is not a duration (use e.g. '30s', '5m', '26h', '7d')"
        ],
    ),
    (
        "site: a\nchecks:\n  cpu: {}\n  disk:\n    intervall: 5m\n",
        ["FILE:5: checks.disk.intervall: unknown key"],
    ),
    (
        "site: a\nchecks:\n  cpu: {}\n  teleport: {}\n",
        [
            "FILE:2: checks: unknown check 'teleport' (known: cpu, disk, diskio, dns, file_age, http, load, memory, netio, ping, plugin, process, service, smart, tcp, temperature, tls, updates, uptime)"
        ],
    ),
    (
        "colector:\n  url: http://x\n",
        ["FILE:1: colector: unknown key"],
    ),
    (
        "collector:\n  url: ftp://x\n  token: t\n",
        ["FILE:2: collector.url: String should match pattern '^https?://[^\\s/]+(/.*)?$'"],
    ),
    (
        "collector:\n  url: http://x\n  token: a\n  token_file: /b\n",
        ["FILE:1: collector: give either token or token_file, not both"],
    ),
    (
        "site: a\nspool: {max_mb: 1\n  other: b: c\n",
        [
            "FILE:2:8: invalid YAML: the '{' opened here is never closed (expected ',' or '}', but got ':' at 3:8)"
        ],
    ),
    (
        "site: a\nchecks:\n  cpu: {interval: -1}\n",
        ["FILE:3: checks.cpu.interval: a duration cannot be negative"],
    ),
    (
        "spool: {max_mb: 0}\n",
        ["FILE:1: spool.max_mb: Input should be greater than 0"],
    ),
    (
        "site: ''\n",
        ["FILE:1: site: String should have at least 1 character"],
    ),
    (
        "site: 5\nlog_level: loud\ntags: nope\n",
        [
            "FILE:1: site: Input should be a valid string",
            "FILE:3: tags: Input should be a valid list",
            "FILE:2: log_level: String should match pattern '^(?i)(debug|info|warning|error)$'",
        ],
    ),
    (
        "tags: [a, 3]\nmetrics: {enabled: maybe, listen: 'nohost'}\n",
        [
            "FILE:1: tags[1]: Input should be a valid string",
            "FILE:2: metrics.enabled: Input should be a valid boolean, unable to interpret input",
            "FILE:2: metrics.listen: must be HOST:PORT (e.g. 127.0.0.1:9427), got 'nohost'",
        ],
    ),
    (
        "metrics: {listen: '127.0.0.1:99999', port: 3}\n",
        [
            "FILE:1: metrics.listen: must be HOST:PORT (e.g. 127.0.0.1:9427), got '127.0.0.1:99999'",
            "FILE:1: metrics.port: unknown key",
        ],
    ),
    (
        "spool: {batch_max_samples: 0, max_age: 1.5x, flush_interval: 0s}\n",
        [
            "FILE:1: spool.max_age: '1.5x' is not a duration (use e.g. '30s', '5m', '26h', '7d')",
            "FILE:1: spool.batch_max_samples: Input should be greater than or equal to 1",
            "FILE:1: spool.flush_interval: Input should be greater than 0",
        ],
    ),
    (
        "spool: {batch_max_samples: 20001, path: 5}\n",
        [
            "FILE:1: spool.path: Input is not a valid path for <class 'pathlib.Path'>",
            "FILE:1: spool.batch_max_samples: Input should be less than or equal to 20000",
        ],
    ),
    (
        "state_dir: [1]\nasset_name: ''\n",
        [
            "FILE:2: asset_name: String should have at least 1 character",
            "FILE:1: state_dir: Input is not a valid path for <class 'pathlib.Path'>",
        ],
    ),
    (
        "collector: {token: x}\n",
        ["FILE:1: collector.url: Field required"],
    ),
    (
        "collector: 'http://x'\n",
        ["FILE:1: collector: Input should be a valid dictionary or instance of CollectorConfig"],
    ),
    (
        "checks: [cpu]\n",
        ["FILE:1: checks: Input should be a valid dictionary"],
    ),
    (
        "checks:\n  cpu: {per_cpu: perhaps, timeout: 0}\n  memory: {enabled: 'no'}\n",
        [
            "FILE:2: checks.cpu.timeout: Input should be greater than 0",
            "FILE:2: checks.cpu.per_cpu: Input should be a valid boolean, unable to interpret input",
        ],
    ),
    (
        "checks:\n  file_age: {paths: []}\n",
        ["FILE:2: checks.file_age.paths: List should have at least 1 item after validation, not 0"],
    ),
    (
        "checks:\n  file_age: {paths: [/a, /a, {path: ''}, {path: /b, recursive: x, extra: 1}]}\n",
        [
            "FILE:2: checks.file_age.paths[2].path: String should have at least 1 character",
            "FILE:2: checks.file_age.paths[3].recursive: Input should be a valid boolean, unable to interpret input",
            "FILE:2: checks.file_age.paths[3].extra: unknown key",
        ],
    ),
    (
        "checks:\n  file_age: {}\n",
        ["FILE:2: checks.file_age.paths: Field required"],
    ),
    (
        "checks:\n  process: {names: [{name: a, process_name: b, cmdline: c}, {name: a}, {name: b, cmdline: '('}]}\n",
        [
            "FILE:2: checks.process.names[0]: give either process_name or cmdline, not both",
            "FILE:2: checks.process.names[2].cmdline: not a valid regular expression: missing ), unterminated subpattern at position 0",
        ],
    ),
    (
        "checks:\n  service: {services: ['-x', 'ok', 'a*']}\n",
        [
            "FILE:2: checks.service.services: '-x' is not a service name (no patterns, no leading '-')"
        ],
    ),
    (
        "checks:\n  http: {targets: [{name: a, url: 'ftp://x'}, {name: b, url: 'http://x', expected_status: [99], method: PUT}]}\n",
        [
            "FILE:2: checks.http.targets[0].url: String should match pattern '^https?://'",
            "FILE:2: checks.http.targets[1].method: Input should be 'GET' or 'HEAD'",
            "FILE:2: checks.http.targets[1].expected_status: not HTTP status codes: [99]",
        ],
    ),
    (
        "checks:\n  http: {targets: [{name: a, url: 'http://x', body_regex: '['}, {name: a, url: 'http://y'}]}\n",
        [
            "FILE:2: checks.http.targets[0].body_regex: not a valid regular expression: unterminated character set at position 0"
        ],
    ),
    (
        "checks:\n  tcp: {targets: [{name: a, address: h, port: 0}, {name: b}]}\n",
        [
            "FILE:2: checks.tcp.targets[0].port: Input should be greater than or equal to 1",
            "FILE:2: checks.tcp.targets[1].address: Field required",
            "FILE:2: checks.tcp.targets[1].port: Field required",
        ],
    ),
    (
        "checks:\n  ping: {targets: [{name: a, address: h, timeout: 100}], count: 50}\n",
        [
            "FILE:2: checks.ping.targets[0].timeout: Input should be less than or equal to 60",
            "FILE:2: checks.ping.count: Input should be less than or equal to 20",
        ],
    ),
    (
        "checks:\n  dns: {targets: [{name: a, query: '', family: ipv5}]}\n",
        [
            "FILE:2: checks.dns.targets[0].query: String should have at least 1 character",
            "FILE:2: checks.dns.targets[0].family: Input should be 'any', 'ipv4' or 'ipv6'",
        ],
    ),
    (
        "checks:\n  tls: {targets: [{name: a, address: h, port: 70000}]}\n",
        ["FILE:2: checks.tls.targets[0].port: Input should be less than or equal to 65535"],
    ),
    (
        "checks:\n  disk: {exclude_fstypes: ['re:(']}\n",
        [
            "FILE:2: checks.disk.exclude_fstypes[0]: 're:(' is not a valid regular expression: missing ), unterminated subpattern at position 0"
        ],
    ),
    (
        "checks:\n  smart: {devices: ['', {name: /dev/sda, type: ''}], use_sudo: 7}\n",
        [
            "FILE:2: checks.smart.devices[0].name: String should have at least 1 character",
            "FILE:2: checks.smart.devices[1].type: String should have at least 1 character",
            "FILE:2: checks.smart.use_sudo: Input should be a valid boolean, unable to interpret input",
        ],
    ),
    (
        "checks:\n  uptime: {state_file: 5}\n",
        ["FILE:2: checks.uptime.state_file: Input is not a valid path for <class 'pathlib.Path'>"],
    ),
    (
        "checks:\n  updates: {timeout: 0}\n",
        ["FILE:2: checks.updates.timeout: Input should be greater than 0"],
    ),
    (
        "checks:\n  netio: {include_interfaces: 'eth0'}\n",
        ["FILE:2: checks.netio.include_interfaces: Input should be a valid list"],
    ),
    (
        "snmp:\n  targets:\n    - {name: p1, address: 10.0.0.1, port: 0, version: '4', retries: 11}\n",
        [
            "FILE:3: snmp.targets[0].port: Input should be greater than or equal to 1",
            "FILE:3: snmp.targets[0].version: Input should be '1', '2c' or '3'",
            "FILE:3: snmp.targets[0].retries: Input should be less than or equal to 10",
        ],
    ),
    (
        "snmp:\n  targets:\n    - {name: p1, address: 10.0.0.1, profile: nope}\n    - {name: p1, address: 10.0.0.2}\n",
        [
            "FILE:3: snmp.targets[0]: version 2c needs community or community_file",
            "FILE:4: snmp.targets[1]: version 2c needs community or community_file",
        ],
    ),
    (
        "snmp:\n  timeout: 100\n  concurrency: 0\n  max_repetitions: 0\n  interval: 0\n  targets: x\n",
        [
            "FILE:6: snmp.targets: Input should be a valid list",
            "FILE:5: snmp.interval: Input should be greater than 0",
            "FILE:2: snmp.timeout: Input should be less than or equal to 60",
            "FILE:4: snmp.max_repetitions: Input should be greater than or equal to 1",
            "FILE:3: snmp.concurrency: Input should be greater than or equal to 1",
        ],
    ),
    (
        "snmp:\n  targets:\n    - {name: p1, address: 10.0.0.1, version: '3'}\n    - {name: p2, address: 10.0.0.2, version: 3, user: u, auth_protocol: rot13}\n",
        [
            "FILE:3: snmp.targets[0]: version 3 needs user",
            "FILE:4: snmp.targets[1].auth_protocol: Input should be 'md5', 'sha', 'sha224', 'sha256', 'sha384' or 'sha512'",
        ],
    ),
    (
        "snmp:\n  targets:\n    - {name: p1, address: 10.0.0.1, community: a, community_file: /x}\n    - {name: '', address: ''}\n",
        [
            "FILE:3: snmp.targets[0]: give either community or community_file, not both",
            "FILE:4: snmp.targets[1].name: String should have at least 1 character",
            "FILE:4: snmp.targets[1].address: String should have at least 1 character",
        ],
    ),
    (
        "snmp:\n  targets:\n    - {name: p1, address: 10.0.0.1, community_file: /nonexistent/x}\n",
        [
            "FILE:3: snmp.targets[0].community_file: cannot read /nonexistent/x: No such file or directory"
        ],
    ),
    (
        "snmp: [1]\n",
        ["FILE:1: snmp: Input should be a valid dictionary"],
    ),
    (
        "- a\n",
        ["FILE:1: the config must be a mapping of keys (collector, site, checks, …)"],
    ),
    (
        "",
        None,
    ),
]


@pytest.mark.parametrize(("text", "expected"), TABLE)
def test_config_errors_are_unchanged(tmp_path, text, expected):
    path = tmp_path / "agent.yaml"
    path.write_text(text)
    try:
        load_config(path)
    except ConfigError as exc:
        got = [line.replace(str(path), "FILE") for line in exc.problems]
    else:
        got = None
    assert got == expected


def test_check_config_prints_them_and_exits_2(tmp_path):
    text, expected = TABLE[22]
    path = tmp_path / "agent.yaml"
    path.write_text(text)
    proc = subprocess.run(
        [sys.executable, "-m", "agent", "check-config", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    for line in expected:
        assert line.replace("FILE", str(path)) in proc.stderr
