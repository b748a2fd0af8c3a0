"""``upkeep contract check|apply|show|list``.

``check FILE...`` validates contract files like ``rules check``: every problem as
``file:line: field.path: message`` on stderr, exit 1 on any; when the settings' store is
reachable it also checks that each file's client exists (``--no-store`` skips that).
``apply FILE`` stores one contract (refused when another file in ``contracts_paths`` manages it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

contract_app = typer.Typer(
    help="Client contracts: validate, apply and show them.", no_args_is_help=True
)

Config = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="Settings YAML file (default: $UPKEEP_CONFIG).", show_default=False
    ),
]


def _known_clients(config: Path | None) -> tuple[list[str] | None, str]:
    """Client names from the settings' store, or None and why not (the check is then skipped)."""
    import sqlalchemy as sa

    from collector import cli_support
    from collector.schema import clients
    from collector.store import Store

    try:
        settings = cli_support.settings_of(config)
        if settings.database_url is None and not (settings.data_dir / "upkeep.db").exists():
            return None, f"no store at {settings.data_dir / 'upkeep.db'}"
        store = Store.from_settings(settings)
        try:
            if store.current_revision() is None:
                return None, "the store is empty"
            with store.read() as conn:
                return list(conn.execute(sa.select(clients.c.name)).scalars()), ""
        finally:
            store.dispose()
    except Exception as exc:  # an unreachable store only skips the client check
        return None, f"store not reachable ({type(exc).__name__})"


def _action_names(config: Path | None) -> set[str] | None:
    """The action library's names (the settings' ``actions_paths``), or None when it does
    not load (``upkeep actions`` problems are reported by the collector, not here)."""
    from collector import cli_support
    from collector.remediation.actions import load_library

    try:
        return set(load_library(cli_support.settings_of(config).actions_paths).actions)
    except Exception:  # bad settings or action files only skip this check
        return None


@contract_app.command("check")
def contract_check(
    paths: Annotated[list[Path], typer.Argument(help="Contract files or folders.")],
    config: Config = None,
    no_store: Annotated[
        bool, typer.Option("--no-store", help="Do not check that clients exist.")
    ] = False,
) -> None:
    """Validate contract files. Exit 0 when all are valid, 1 otherwise."""
    from collector.contracts.files import check

    known, why = (None, "--no-store") if no_store else _known_clients(config)
    parsed = check(paths, known, _action_names(config))
    problems = [p for item in parsed for p in item.problems]
    for problem in problems:
        typer.echo(problem, err=True)
    if not parsed:
        typer.echo("no contract files found", err=True)
        raise typer.Exit(1)
    if problems:
        typer.echo(
            f"{len(problems)} error(s) in {sum(1 for i in parsed if i.problems)} file(s)", err=True
        )
        raise typer.Exit(1)
    note = "" if known is not None else f" (clients not checked: {why})"
    typer.echo(f"OK: {len(parsed)} contract file(s){note}")


@contract_app.command("apply")
def contract_apply(
    path: Annotated[Path, typer.Argument(help="One contract file.")],
    config: Config = None,
    by: Annotated[str, typer.Option("--by", help="Who applies it (recorded).")] = "cli",
) -> None:
    """Validate one contract file and store it for its client (a running collector uses it at once)."""
    from collector import cli_support, timeutil
    from collector.contracts import service
    from collector.contracts.files import managed_files, parse_file, raise_problems

    @cli_support.reported
    def go() -> None:
        parsed = parse_file(path)
        raise_problems([parsed])
        assert parsed.contract is not None
        settings = cli_support.settings_of(config)
        with cli_support.store_of(config).write() as conn:
            version = service.apply(
                conn,
                parsed.contract,
                source=str(path.resolve()),
                actor=by,
                now=timeutil.now(),
                managed=managed_files(settings.contracts_paths),
            )
        cli_support.out.print(
            f"Applied the contract of {parsed.contract.client!r} (version {version})."
        )

    go()


@contract_app.command("show")
def contract_show(
    client: str,
    config: Config = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of YAML.")] = False,
) -> None:
    """Print a client's stored contract (YAML, or JSON with --json)."""
    import yaml

    from collector import admin, cli_support, timeutil
    from collector.contracts.store import contract_row
    from collector.errors import NotFound

    @cli_support.reported
    def go() -> None:
        with cli_support.store_of(config).read() as conn:
            found = admin.get_client(conn, client)
            row = contract_row(conn, found.id)
        if row is None:
            raise NotFound(f"client {client!r} has no contract")
        if as_json:
            print(json.dumps(row.definition, indent=2))
            return
        when = timeutil.to_datetime(row.updated_at)
        print(
            f"# version {row.version}, from {row.source}, by {row.updated_by} at {when:%Y-%m-%d %H:%M} UTC"
        )
        print(yaml.safe_dump(row.definition, sort_keys=False, allow_unicode=True), end="")

    go()


@contract_app.command("list")
def contract_list(config: Config = None) -> None:
    """List stored contracts: client, plan, version, where they come from."""
    from rich.table import Table

    from collector import cli_support, timeutil
    from collector.contracts.files import managed_files
    from collector.contracts.store import list_contracts

    @cli_support.reported
    def go() -> None:
        managed = managed_files(cli_support.settings_of(config).contracts_paths)
        with cli_support.store_of(config).read() as conn:
            rows = list_contracts(conn)
        table = Table("client", "plan", "version", "source", "updated")
        for r in rows:
            source = f"file {r.source}" if r.source in managed else r.source
            table.add_row(
                r.client,
                (r.definition.get("plan") or {}).get("name", ""),
                str(r.version),
                source,
                f"{timeutil.to_datetime(r.updated_at):%Y-%m-%d %H:%M} by {r.updated_by}",
            )
        cli_support.out.print(table)

    go()
