"""Files in deploy/ parse, and the files they reference exist.

No Docker engine runs here: compose.yaml and the Dockerfiles are checked structurally
(parsed; build contexts, Dockerfiles, bind mounts and COPY sources exist; final stages run
as a non-root user; third-party images are pinned). The Ansible role's template is rendered
with Jinja2 and the result validated as an agent config.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jinja2
import pytest
import yaml

from agent.config import load_config

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def _yaml_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.suffix in (".yml", ".yaml"))


@pytest.mark.parametrize("path", _yaml_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_yaml_parses(path):
    list(yaml.safe_load_all(path.read_text()))


def test_agent_example_config_is_valid():
    load_config(DEPLOY / "agent.example.yaml")


# ---------------------------------------------------------------------- docker


def _compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker" / "compose.yaml").read_text())


def test_compose_references_existing_files_and_pinned_images():
    compose = _compose()
    base = DEPLOY / "docker"
    assert set(compose["services"]) >= {"collector", "postgres", "prometheus", "grafana"}
    for name, service in compose["services"].items():
        if "build" in service:
            context = (base / service["build"]["context"]).resolve()
            assert (context / service["build"]["dockerfile"]).is_file(), name
        else:
            image = service["image"]
            assert ":" in image and not image.endswith(":latest"), f"{name}: pin {image}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (base / source).exists(), f"{name}: {source} does not exist"
        for secret in service.get("secrets", []):
            assert secret in compose["secrets"], f"{name}: undeclared secret {secret}"
    readme = (base / "secrets" / "README").read_text()
    for secret in compose["secrets"].values():
        assert Path(secret["file"]).name in readme  # created by the admin, documented
    # the collector reads its database URL from a secret, never from the environment in clear
    collector = compose["services"]["collector"]
    assert collector["environment"] == {"UPKEEP_DATABASE_URL_FILE": "/run/secrets/database_url"}
    # Prometheus mounts deploy/prometheus with its config and rules
    assert "../prometheus:/etc/prometheus:ro" in compose["services"]["prometheus"]["volumes"]


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    lines, current = [], ""
    for raw in dockerfile.read_text().splitlines():
        if raw.lstrip().startswith("#") and not current:
            continue
        current += raw.rstrip("\\").strip() + " "
        if not raw.endswith("\\"):
            if current.strip():
                word, _, rest = current.strip().partition(" ")
                lines.append((word.upper(), rest))
            current = ""
    return lines


@pytest.mark.parametrize("name", ["collector.Dockerfile", "agent.Dockerfile"])
def test_dockerfile_is_small_non_root_and_copies_what_exists(name):
    dockerfile = DEPLOY / "docker" / name
    instructions = _instructions(dockerfile)
    stages = [i for i, (word, _) in enumerate(instructions) if word == "FROM"]
    assert len(stages) == 2, "a build stage and a slim runtime stage"
    final = instructions[stages[-1] :]
    assert "slim" in final[0][1]
    users = [rest for word, rest in final if word == "USER"]
    assert users and not users[-1].startswith(("0", "root"))
    assert not any(word == "ADD" for word, _ in instructions)
    ignore = (DEPLOY / "docker" / f"{name}.dockerignore").read_text().splitlines()
    for word, rest in instructions:
        if word == "COPY" and "--from=" not in rest:
            for source in rest.split()[:-1]:
                assert (ROOT / source).exists(), f"COPY {source}: missing"
                assert (
                    f"!{source.rstrip('/')}" in ignore or f"!{source.rstrip('/')}/**" in ignore
                ), f"{source} is excluded by the .dockerignore"


# ---------------------------------------------------------------------- grafana


def test_grafana_dashboards_and_provisioning():
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/upkeep.yaml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    datasource = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/prometheus.yaml").read_text()
    )
    assert datasource["datasources"][0]["type"] == "prometheus"
    uids = set()
    for path in sorted((DEPLOY / "grafana/dashboards").glob("*.json")):
        dashboard = json.loads(path.read_text())
        uids.add(dashboard["uid"])
        ids = [p["id"] for p in dashboard["panels"]]
        assert len(ids) == len(set(ids)), path.name
        assert all(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    assert uids == {"upkeep-health", "upkeep-client-overview"}


def dashboard_expressions() -> list[str]:
    """Every panel and variable query, with Grafana's variables replaced (for a real Prometheus)."""
    exprs = []
    for path in sorted((DEPLOY / "grafana/dashboards").glob("*.json")):
        dashboard = json.loads(path.read_text())
        exprs += [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    out = []
    for expr in exprs:
        for var, value in (
            ("$__rate_interval", "1m"),
            ("$client", ".*"),
            ("$site", ".*"),
            ("$asset", ".*"),
            ("$job", ".*"),
        ):
            expr = expr.replace(var, value)
        out.append(expr)
    return out


# ---------------------------------------------------------------------- ansible and install script


def _render_agent_template(**values) -> str:
    role = DEPLOY / "ansible/roles/upkeep_agent"
    defaults = yaml.safe_load((role / "defaults/main.yml").read_text())
    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["to_json"] = json.dumps
    return env.from_string((role / "templates/agent.yaml.j2").read_text()).render(
        {**defaults, **values}
    )


def test_ansible_role_renders_a_valid_agent_config(tmp_path):
    role = DEPLOY / "ansible/roles/upkeep_agent"
    tasks = yaml.safe_load((role / "tasks/main.yml").read_text())
    templates = [
        t["ansible.builtin.template"]["src"] for t in tasks if "ansible.builtin.template" in t
    ]
    assert all((role / "templates" / src).is_file() for src in templates)
    handlers = {h["name"] for h in yaml.safe_load((role / "handlers/main.yml").read_text())}
    notified = {t["notify"] for t in tasks if "notify" in t} | {
        h["notify"]
        for h in yaml.safe_load((role / "handlers/main.yml").read_text())
        if "notify" in h
    }
    assert notified <= handlers
    assert (
        yaml.safe_load((DEPLOY / "ansible/site.yml").read_text())[0]["roles"][0]["role"]
        == "upkeep_agent"
    )

    config = tmp_path / "agent.yaml"
    config.write_text(
        _render_agent_template(
            upkeep_agent_collector_url="https://collector.example.net",
            upkeep_agent_token="upk_x",
            upkeep_agent_site="office-a",
            upkeep_agent_ca_bundle="/etc/upkeep/ca.pem",
            upkeep_agent_checks={
                "cpu": {"interval": "30s"},
                "file_age": {"paths": ["/srv/backup"]},
            },
            upkeep_agent_metrics_enabled=True,
        )
    )
    cfg = load_config(config)
    assert cfg.agent.site == "office-a" and cfg.agent.metrics.enabled
    assert str(cfg.agent.collector.ca_bundle) == "/etc/upkeep/ca.pem"
    assert set(cfg.checks) == {"cpu", "file_age"}
    config.write_text(
        _render_agent_template(
            upkeep_agent_collector_url="https://c.example.net", upkeep_agent_token="upk_x"
        )
    )
    assert load_config(config).agent.collector.ca_bundle is None


def test_install_script_passes_shellcheck():
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck not installed (Debian package; scripts/test-system-deps)")
    proc = subprocess.run(
        [shellcheck, "-s", "sh", str(DEPLOY / "install/install-agent.sh")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout


def test_install_script_dry_run(tmp_path):
    script = DEPLOY / "install/install-agent.sh"
    subprocess.run(["sh", "-n", str(script)], check=True)
    env = {**os.environ, "PYTHON": sys.executable, "UPKEEP_AGENT_TOKEN": "upk_x"}
    proc = subprocess.run(
        [
            "sh",
            str(script),
            "--dry-run",
            "--url",
            "https://c.example.net",
            "--site",
            "s1",
            "--prefix",
            str(tmp_path / "venv"),
            "--etc",
            str(tmp_path / "etc"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert f"+ {sys.executable} -m venv {tmp_path / 'venv'}" in lines
    assert (
        f"+ {tmp_path / 'venv'}/bin/upkeep-agent install-service --config {tmp_path / 'etc'}/agent.yaml"
        in lines
    )
    missing = subprocess.run(
        ["sh", str(script), "--dry-run", "--etc", str(tmp_path / "etc")],
        env={**env, "UPKEEP_AGENT_TOKEN": ""},
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 1 and "--url is required" in missing.stderr
