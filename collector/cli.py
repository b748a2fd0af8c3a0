"""``upkeep``: the collector's command line (serve, db, client, token, demo).

Every command loads settings the same way as the server (helpers shared with the
subcommands of other packages: :mod:`collector.cli_support`) (``--config F`` or
``UPKEEP_CONFIG``, then ``UPKEEP_*`` environment), so it works on the store a running
collector uses. Domain errors become exit codes in one place, :data:`EXIT_CODES`.
``token create`` prints the token once, as the last line of stdout.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from collector import admin
from collector.cli_support import (
    DEMO_DIR,
    EXIT_CODES,
    ConfigOption,
    demo_environ,
    err,
    exit_code_for,
    out,
    reported,
    settings_of,
    store_of,
    when,
)
from collector.contracts.cli import contract_app
from collector.errors import InvalidArgument
from collector.incidents.cli import incident_app
from collector.incidents.maintenance_cli import maintenance_app
from collector.incidents.outbox_cli import outbox_app
from collector.ledger.cli import ledger_app, request_app
from collector.oncall.cli import oncall_app
from collector.preventive.cli import preventive_app
from collector.remediation.cli import tasks_app
from collector.rules.cli import rules_app
from collector.settings import load_settings
from collector.sla.cli import sla_app
from collector.store import Store
from collector.web.cli import user_app

# Re-exported: these lived here before collector.cli_support and are still imported by name.
__all__ = ["DEMO_DIR", "EXIT_CODES", "app", "demo_environ", "exit_code_for", "main"]

app = typer.Typer(
    name="upkeep",
    help="Upkeep collector: serve the API and administer clients and tokens.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The collector's database.", no_args_is_help=True)
client_app = typer.Typer(help="Clients (the service company's customers).", no_args_is_help=True)
token_app = typer.Typer(
    help="Agent tokens (per client) and admin API tokens.", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(client_app, name="client")
app.add_typer(token_app, name="token")
cluster_app = typer.Typer(
    help="Several collector replicas on one PostgreSQL (docs/cluster.md).", no_args_is_help=True
)
app.add_typer(cluster_app, name="cluster")
app.add_typer(rules_app, name="rules")
app.add_typer(incident_app, name="incident")
app.add_typer(maintenance_app, name="maintenance")
app.add_typer(outbox_app, name="outbox")
app.add_typer(sla_app, name="sla")
app.add_typer(oncall_app, name="oncall")
app.add_typer(contract_app, name="contract")
app.add_typer(preventive_app, name="preventive")
app.add_typer(ledger_app, name="ledger")
app.add_typer(request_app, name="request")
app.add_typer(user_app, name="user")
app.add_typer(tasks_app, name="tasks")

# The shared helpers under their old names, for callers written before collector.cli_support.
_reported = reported
_settings = settings_of
_store = store_of
_when = when


# ---------------------------------------------------------------------- serve, db, demo


@app.command()
@reported
def serve(
    config: ConfigOption = None,
    host: Annotated[
        str | None, typer.Option(help="Listen address (default 127.0.0.1).", show_default=False)
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Listen port (default 8427).", show_default=False)
    ] = None,
    background: Annotated[
        bool,
        typer.Option(
            "--background/--no-background",
            help="Run the periodic jobs and delivery workers (--no-background: only serve; "
            "see docs/cluster.md). Default: the 'background' setting (on).",
            show_default=False,
        ),
    ] = True,
) -> None:
    """Run the collector: migrate the store, then serve the API until SIGTERM."""
    from collector.server import serve as run  # uvicorn only when serving

    # A server's store is configured, never found: no demo lookup here.
    settings = load_settings(config, overrides={"host": host, "port": port})
    if not background:
        settings = settings.model_copy(update={"background": False})
    run(settings)


@cluster_app.command("status")
@reported
def cluster_status(config: ConfigOption = None) -> None:
    """Replicas seen, shards per replica, lease ages, hand-off queue depths."""
    from collector.cluster_cli import print_status

    settings = settings_of(config)
    store = store_of(config)
    try:
        print_status(store, settings.cluster_lease_ttl, out)
    finally:
        store.dispose()


@db_app.command("upgrade")
@reported
def db_upgrade(config: ConfigOption = None) -> None:
    """Apply pending migrations (the server also does this when it starts)."""
    settings = settings_of(config)
    store = Store.from_settings(settings)
    try:
        before = store.current_revision()
        store.upgrade()
        after = store.current_revision()
    finally:
        store.dispose()
    verb = "already at" if before == after else f"upgraded from {before or 'empty'} to"
    out.print(f"{settings.database_display}: {verb} revision {after}")


@db_app.command("current")
@reported
def db_current(config: ConfigOption = None) -> None:
    """Show the store's migration revision and the newest one this version knows."""
    store = Store.from_settings(settings_of(config))
    try:
        out.print(f"current: {store.current_revision() or 'empty'}; head: {store.head_revision()}")
    finally:
        store.dispose()


@db_app.command("backup")
@reported
def db_backup(
    dest: Annotated[
        Path, typer.Argument(help="Backup file, or a directory for upkeep-<UTC time>.db files.")
    ],
    keep: Annotated[
        int | None,
        typer.Option(
            help="With a directory: keep only the newest N backups.", min=1, show_default=False
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Copy the SQLite store while the collector runs (SQLite's online backup API)."""
    from collector.backup import backup_sqlite

    result = backup_sqlite(settings_of(config), dest, keep=keep)
    for old in result.removed:
        out.print(f"removed {old}")
    out.print(f"{result.path}: {result.bytes} bytes in {result.seconds:.1f}s")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def demo(ctx: typer.Context) -> None:
    """Run a self-contained demo (collector + agent + sample data); arguments pass through."""
    from collector import demo as demo_module  # written separately; imports what it needs

    code = demo_module.main(list(ctx.args))
    raise typer.Exit(code or 0)


# ---------------------------------------------------------------------- clients


@client_app.command("add")
@reported
def client_add(
    name: Annotated[str, typer.Argument(help="Unique client name.")], config: ConfigOption = None
) -> None:
    """Create a client."""
    client = admin.create_client(store_of(config), name)
    out.print(f"Created client {client.name!r} (id {client.id}).")


@client_app.command("list")
@reported
def client_list(config: ConfigOption = None) -> None:
    """List clients."""
    table = Table("id", "name", "enabled", "created")
    for c in admin.list_clients(store_of(config)):
        table.add_row(str(c.id), c.name, "yes" if c.enabled else "no", when(c.created_at))
    out.print(table)


@client_app.command("disable")
@reported
def client_disable(name: str, config: ConfigOption = None) -> None:
    """Disable a client: its agents' batches are refused (403) until enabled again."""
    admin.set_client_enabled(store_of(config), name, False)
    out.print(f"Disabled client {name!r}.")


@client_app.command("enable")
@reported
def client_enable(name: str, config: ConfigOption = None) -> None:
    """Enable a disabled client again."""
    admin.set_client_enabled(store_of(config), name, True)
    out.print(f"Enabled client {name!r}.")


# ---------------------------------------------------------------------- tokens


@token_app.command("create")
@reported
def token_create(
    client: Annotated[
        str | None, typer.Option(help="Create an agent token for this client.")
    ] = None,
    admin_token: Annotated[
        bool, typer.Option("--admin", help="Create an admin API token.")
    ] = False,
    alertmanager: Annotated[
        bool,
        typer.Option(
            "--alertmanager",
            help="Create a token for Alertmanager's webhook (POST /api/v1/alertmanager only).",
        ),
    ] = False,
    name: Annotated[str, typer.Option(help="A label, e.g. the host the token is for.")] = "",
    config: ConfigOption = None,
) -> None:
    """Create a token. It is printed once, as the last line of stdout, and stored hashed."""
    if [client is not None, admin_token, alertmanager].count(True) != 1:
        raise InvalidArgument("give either --client NAME (agent token), --admin or --alertmanager")
    info, token = admin.create_token(
        store_of(config), client=client, admin=admin_token, alertmanager=alertmanager, name=name
    )
    owner = f"for client {info.client!r}" if info.client else f"({info.kind})"
    out.print(
        f"Created {info.kind} token {info.id} {owner}. It is shown once, below; store it now."
    )
    sys.stdout.flush()
    print(token, flush=True)  # plain print: no wrapping or markup, always the last line


@token_app.command("list")
@reported
def token_list(
    client: Annotated[str | None, typer.Option(help="Only this client's tokens.")] = None,
    config: ConfigOption = None,
) -> None:
    """List tokens (prefixes only; tokens themselves are not stored)."""
    table = Table("id", "kind", "client", "name", "prefix", "created", "last used", "revoked")
    for t in admin.list_tokens(store_of(config), client):
        table.add_row(
            str(t.id),
            t.kind,
            t.client or "-",
            t.name or "-",
            t.prefix + "…",
            when(t.created_at),
            when(t.last_used_at),
            when(t.revoked_at),
        )
    out.print(table)


@token_app.command("revoke")
@reported
def token_revoke(
    token_id: Annotated[int, typer.Argument(metavar="ID", help="Token id from 'token list'.")],
    config: ConfigOption = None,
) -> None:
    """Revoke a token at once."""
    admin.revoke_token(store_of(config), token_id)
    out.print(f"Revoked token {token_id}.")


# ---------------------------------------------------------------------- reports


@app.command("report")
@reported
def report(
    client: Annotated[
        str | None,
        typer.Option(help="This client only (default: every enabled client).", show_default=False),
    ] = None,
    period: Annotated[
        str | None,
        typer.Option(
            help="YYYY-MM (default: each client's last completed period).", show_default=False
        ),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="html, pdf, json or csv.")] = "html",
    output: Annotated[
        Path | None,
        typer.Option(
            "--out", help="File (one client; '-' for stdout) or directory.", show_default=False
        ),
    ] = None,
    language: Annotated[
        str | None, typer.Option(help="en or ru (default: the contract's).", show_default=False)
    ] = None,
    keep: Annotated[
        bool, typer.Option("--archive", help="Also archive it in <data_dir>/reports.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Generate the monthly client report (docs/reports.md)."""
    from collector.reports.cli import run  # matplotlib, WeasyPrint: only for this command

    settings = settings_of(config)
    to_stdout = output is not None and str(output) == "-"
    run(
        store_of(config),
        settings,
        client=client,
        period=period,
        fmt=fmt,
        out=output,
        language=language,
        keep=keep,
        console=err if to_stdout else out,
    )


@app.command("report-publish")
@_reported
def report_publish(
    report_id: Annotated[
        int,
        typer.Argument(
            help="The archived report's id (GET /api/v1/reports, or the web UI's archive)."
        ),
    ],
    by: Annotated[str, typer.Option(help="Who publishes it (recorded).")] = "cli",
    config: ConfigOption = None,
) -> None:
    """Release a draft report (of a period not over yet) to the client's viewers."""
    from collector.reports.archive import publish

    done = publish(_store(config), report_id, actor=by)
    out.print(
        f"report {done.id} ({done.client} {done.period} {done.format}): "
        + ("published" if done.published_at is not None else "not a draft")
    )


def main() -> None:
    """Console entry point ``upkeep``."""
    app()


if __name__ == "__main__":
    main()
