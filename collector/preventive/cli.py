"""``upkeep preventive record|list|tasks``: maintenance tasks done, and the preventive record."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

preventive_app = typer.Typer(
    help="Preventive work: record maintenance tasks, list what was prevented.", no_args_is_help=True
)

Config = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="Settings YAML file (default: $UPKEEP_CONFIG).", show_default=False
    ),
]


def _when(epoch: float | None) -> str:
    return (
        datetime.fromtimestamp(epoch).astimezone().strftime("%Y-%m-%d %H:%M")
        if epoch is not None
        else "-"
    )


@preventive_app.command("record")
def preventive_record(
    client: str,
    task: Annotated[str, typer.Argument(help="The contract's task id.")],
    minutes: Annotated[int, typer.Option(help="Time spent.", min=0)],
    by: Annotated[str, typer.Option("--by", help="Who did it.")],
    note: Annotated[str, typer.Option(help="What was done.")] = "",
    config: Config = None,
) -> None:
    """Record a maintenance task of the client's contract as done; the evidence is captured now."""
    from collector import admin, cli_support, timeutil
    from collector.contracts.store import get_contract
    from collector.errors import NotFound
    from collector.preventive import record_task

    @cli_support.reported
    def go() -> None:
        with cli_support.store_of(config).write() as conn:
            found = admin.get_client(conn, client)
            contract = get_contract(conn, found.id)
            if contract is None:
                raise NotFound(
                    f"client {found.name!r} has no contract (maintenance tasks come from it)"
                )
            item = record_task(
                conn,
                found.id,
                contract,
                task,
                minutes=minutes,
                note=note,
                actor=by,
                now=timeutil.now(),
            )
        cli_support.out.print(
            f"Recorded {task!r} for {client!r}: {item['evidence']['text']}", soft_wrap=True
        )

    go()


@preventive_app.command("list")
def preventive_list(
    client: str,
    config: Config = None,
    period: Annotated[
        str | None, typer.Option(help="YYYY-MM (default: the current period).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False,
) -> None:
    """List the client's preventive items of a contract period."""
    from collector import admin, cli_support, timeutil
    from collector.contracts.store import get_contract
    from collector.preventive import items
    from collector.preventive.api import period_range

    @cli_support.reported
    def go() -> None:
        with cli_support.store_of(config).read() as conn:
            found = admin.get_client(conn, client)
            start, end = period_range(get_contract(conn, found.id), period, timeutil.now())
            rows = items(conn, found.id, start, end)
        for r in rows:
            if as_json:
                print(json.dumps(r))
            else:
                cli_support.out.print(
                    f"{_when(r['done_at'])}  {r['kind']:<8} {r['minutes']:>4} min  {r['actor']:<12} "
                    f"{r['title']} — {r['evidence']['text']}",
                    soft_wrap=True,
                )
        if not as_json:
            cli_support.out.print(f"{len(rows)} item(s), {sum(r['minutes'] for r in rows)} min")

    go()


@preventive_app.command("tasks")
def preventive_tasks(client: str, config: Config = None) -> None:
    """The contract's maintenance tasks: last done, next due, overdue."""
    from collector import admin, cli_support, timeutil
    from collector.contracts.store import get_contract
    from collector.preventive import task_status

    @cli_support.reported
    def go() -> None:
        with cli_support.store_of(config).read() as conn:
            found = admin.get_client(conn, client)
            contract = get_contract(conn, found.id)
            rows = task_status(conn, found.id, contract, timeutil.now()) if contract else []
        for r in rows:
            flag = "OVERDUE" if r["overdue"] else "ok"
            cli_support.out.print(
                f"{r['task_id']:<24} {r['every']:<9} last {_when(r['last_done_at'])}  "
                f"due {_when(r['next_due_at'])}  {flag}",
                soft_wrap=True,
            )

    go()
