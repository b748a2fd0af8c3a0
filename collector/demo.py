"""``upkeep demo``: the whole product on one machine, in one command.

Creates an SQLite store under ``.upkeep-demo/``, a client ``demo`` with fresh agent and
admin tokens (the previous demo's are revoked), starts the collector on 127.0.0.1 and a
real ``upkeep-agent run`` process monitoring this machine, and prints where to look.
Ctrl-C stops both.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

from collector import admin
from collector.errors import AlreadyExists
from collector.server import build_server, tune_gc
from collector.settings import DEFAULT_PORT, Settings
from collector.store import Store

CLIENT = "demo"


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _write_secret(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")


def provision(store: Store) -> tuple[str, str]:
    """Client ``demo`` plus fresh agent and admin tokens; earlier demo tokens are revoked."""
    with contextlib.suppress(AlreadyExists):
        admin.create_client(store, CLIENT)
    for token in admin.list_tokens(store):
        if token.name in ("demo-agent", "demo-admin") and token.revoked_at is None:
            admin.revoke_token(store, token.id)
    _, agent_token = admin.create_token(store, client=CLIENT, name="demo-agent")
    _, admin_token = admin.create_token(store, admin=True, name="demo-admin")
    return agent_token, admin_token


def provision_ui_and_contract(store: Store, data_dir: Path) -> str:
    """A web UI admin ``admin`` with a fresh random password (written to ``ui-password``), and
    the sample contract for client ``demo`` (SLA clocks, points, reports have something to use)."""
    import secrets

    import yaml

    from collector import timeutil
    from collector.contracts.model import Contract
    from collector.contracts.store import put_contract
    from collector.web import auth

    password = secrets.token_urlsafe(12)
    sample = Path(__file__).resolve().parent / "contracts" / "sample-contract.yaml"
    contract = Contract.model_validate(
        {**yaml.safe_load(sample.read_text(encoding="utf-8")), "client": CLIENT}
    )
    with store.write() as conn:
        if any(u.username == "admin" for u in auth.list_users(conn)):
            auth.set_password(conn, "admin", password)
        else:
            auth.create_user(conn, "admin", password, role="admin", now=timeutil.now())
        client_id = admin.get_client(conn, CLIENT).id
        put_contract(conn, client_id, contract, source="demo", actor="demo", now=timeutil.now())
    _write_secret(data_dir / "ui-password", password)
    return password


def write_env(data_dir: Path) -> Path:
    """``<data_dir>/env``: the settings that select the demo's store, for ``upkeep`` run from
    another folder or shell (``. .upkeep-demo/env``); in this folder the CLI finds it itself."""
    import shlex

    path = data_dir / "env"
    path.write_text(
        "# written by `upkeep demo`: source it to point `upkeep` at the demo's store\n"
        f"export UPKEEP_DATA_DIR={shlex.quote(str(data_dir))}\n",
        encoding="utf-8",
    )
    return path


def agent_config(data_dir: Path, url: str, token_file: Path, interval: str) -> Path:
    """An agent config with this OS's default checks, all on ``interval``."""
    from agent.checks import registry

    path = data_dir / "agent.yaml"
    config = {
        "collector": {"url": url, "token_file": str(token_file)},
        "site": "demo-office",
        "state_dir": str(data_dir / "agent"),
        "spool": {"flush_interval": "5s"},
        "checks": {name: {"interval": interval} for name in registry.default_checks()},
    }
    path.write_text("# written by `upkeep demo`\n" + json.dumps(config, indent=2) + "\n")
    return path


def _announce(
    url: str, admin_token_file: Path, data_dir: Path, server, stop: threading.Event
) -> None:
    """Print where to look once the collector answers, then when the agent's data arrives."""
    while not server.started and not stop.wait(0.1):
        pass
    token = admin_token_file.read_text().strip()
    auth = f'-H "Authorization: Bearer $(cat {admin_token_file})"'
    print(
        f"""
Upkeep demo is running. Data: {data_dir}/ (SQLite store, agent spool, tokens)

  web UI        {url}/ui/              (user admin, password in {data_dir}/ui-password)
  collector     {url}/healthz
  API docs      {url}/docs            (the OpenAPI contract, interactive)
  metrics       {url}/metrics         (Prometheus exposition)
  assets        curl -s {auth} {url}/api/v1/assets
  agent config  {data_dir}/agent.yaml  (upkeep-agent run --config …)
  CLI           upkeep incident list   (in this folder it finds the demo's store; elsewhere:
                export UPKEEP_DATA_DIR={data_dir}   or   . {data_dir}/env)

Press Ctrl-C to stop the collector and the agent.
""",
        flush=True,
    )
    request = urllib.request.Request(
        f"{url}/api/v1/assets", headers={"Authorization": f"Bearer {token}"}
    )
    while not stop.wait(1.0):
        try:
            with urllib.request.urlopen(request, timeout=5) as resp:
                assets = json.load(resp)
        except OSError:
            continue
        if isinstance(assets, dict):
            assets = assets.get("assets", [])
        if assets:
            first = assets[0]
            print(
                f"first samples arrived from {first['name']} ({first['kind']}): "
                f"{url}/api/v1/assets/{first['id']}/latest",
                flush=True,
            )
            return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="upkeep demo", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-dir", default=".upkeep-demo", help="where the demo keeps everything"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="a free port is used if this one is taken"
    )
    parser.add_argument("--interval", default="10s", help="how often the agent's checks run")
    args = parser.parse_args(argv)

    data_dir = Path(args.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    port = args.port if _port_free(args.host, args.port) else _free_port(args.host)
    settings = Settings.for_data_dir(data_dir, host=args.host, port=port, log_level="warning")
    url = f"http://{args.host}:{port}"

    store = Store.from_settings(settings)
    store.upgrade()
    agent_token, admin_token = provision(store)
    provision_ui_and_contract(store, data_dir)
    _write_secret(data_dir / "agent.token", agent_token)
    admin_token_file = data_dir / "admin.token"
    _write_secret(admin_token_file, admin_token)
    config = agent_config(data_dir, url, data_dir / "agent.token", args.interval)
    write_env(data_dir)

    server = build_server(settings, store=store, migrate=False)
    agent = subprocess.Popen([sys.executable, "-m", "agent", "run", "--config", str(config)])
    stop = threading.Event()
    threading.Thread(
        target=_announce, args=(url, admin_token_file, data_dir, server, stop), daemon=True
    ).start()
    tune_gc()
    try:
        server.run()  # until Ctrl-C / SIGTERM
    finally:
        stop.set()
        if agent.poll() is None:
            agent.send_signal(signal.SIGTERM)
            try:
                agent.wait(20)
            except subprocess.TimeoutExpired:
                agent.kill()
        store.dispose()
        print("demo stopped; data kept in", data_dir, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
