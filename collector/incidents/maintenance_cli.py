"""``upkeep maintenance list|add|delete``: maintenance windows defined in the database.

Windows of the maintenance file (``maintenance_file``) are listed too; they change in the
file (and take effect on SIGHUP). A window added here takes effect at once in a running
collector (the stage reads the table on every alert).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

maintenance_app = typer.Typer(
    help="Maintenance windows: no incidents for what they cover while open.", no_args_is_help=True
)

Config = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="Settings YAML file (default: $UPKEEP_CONFIG).", show_default=False
    ),
]
Names = Annotated[list[str] | None, typer.Option(show_default=False)]


def _open(config: Path | None) -> Any:
    """The store, with the maintenance file of the settings loaded (for listings and name clashes)."""
    from collector import cli_support
    from collector.incidents import noise

    settings = cli_support.settings_of(config)
    noise.configure(noise.NoiseControl(settings.maintenance_file))
    return cli_support.store_of(config)


def _span(span: tuple[float, float] | None) -> str:
    if span is None:
        return "-"
    start, end = (
        datetime.fromtimestamp(t).astimezone().strftime("%Y-%m-%d %H:%M %Z") for t in span
    )
    return f"{start} .. {end}"


@maintenance_app.command("list")
def maintenance_list(
    config: Config = None,
    client: Annotated[str | None, typer.Option(help="Only this client.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False,
) -> None:
    """List maintenance windows (file and database) with their open or next occurrence."""
    from collector import cli_support, timeutil
    from collector.incidents import noise

    @cli_support.reported
    def go() -> None:
        with _open(config).read() as conn:
            listed = noise.list_windows(conn, timeutil.now(), client)
        for w in listed:
            if as_json:
                cli_support.out.print(
                    json.dumps(
                        {
                            "id": w.id,
                            "source": w.source,
                            "open_now": w.current is not None,
                            "window": w.window.model_dump(mode="json", exclude_defaults=True),
                        }
                    ),
                    soft_wrap=True,
                )
            else:
                state = "OPEN" if w.current is not None else "next"
                cli_support.out.print(
                    f"{w.id if w.id is not None else '-':<5} {w.source:<5} {w.window.client:<16} "
                    f"{w.window.name:<24} {state:<5} {_span(w.next)}",
                    soft_wrap=True,
                )

    go()


@maintenance_app.command("add")
def maintenance_add(
    client: Annotated[str, typer.Option(help="The client the window belongs to.")],
    name: Annotated[str, typer.Option(help="Unique per client.")],
    config: Config = None,
    start: Annotated[
        str | None, typer.Option(help="One-off: start (ISO 8601; no zone: the window's zone).")
    ] = None,
    end: Annotated[str | None, typer.Option(help="One-off: end.")] = None,
    cron: Annotated[
        str | None, typer.Option(help="Recurring: 5-field cron, e.g. '0 22 * * 2'.")
    ] = None,
    rrule: Annotated[str | None, typer.Option(help="Recurring: RFC 5545 RRULE.")] = None,
    duration: Annotated[
        str | None, typer.Option(help="Length of each recurring occurrence, e.g. 2h.")
    ] = None,
    timezone: Annotated[
        str | None, typer.Option(help="IANA zone (default: the client's, else UTC).")
    ] = None,
    site: Names = None,
    asset: Names = None,
    tag: Names = None,
    rule: Names = None,
    comment: Annotated[str, typer.Option()] = "",
) -> None:
    """Add a maintenance window (selectors --site/--asset/--tag/--rule may repeat; none: the whole client)."""
    from pydantic import ValidationError

    from collector import cli_support, timeutil
    from collector.errors import InvalidArgument
    from collector.incidents import noise
    from collector.incidents.maintenance import MaintenanceWindow

    @cli_support.reported
    def go() -> None:
        values = {
            "client": client,
            "name": name,
            "start": start,
            "end": end,
            "cron": cron,
            "rrule": rrule,
            "duration": duration,
            "timezone": timezone,
            "sites": site,
            "assets": asset,
            "tags": tag,
            "rules": rule,
            "comment": comment,
        }
        try:
            window = MaintenanceWindow.model_validate(
                {k: v for k, v in values.items() if v is not None}
            )
        except ValidationError as exc:
            problems = [
                f"{'.'.join(map(str, e['loc'])) or 'window'}: {e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors(include_url=False, include_input=False)
            ]
            raise InvalidArgument("; ".join(problems)) from None
        with _open(config).write() as conn:
            window_id = noise.add_window(conn, window, timeutil.now())
        cli_support.out.print(
            f"Added maintenance window {window_id} {name!r} for client {client!r}."
        )

    go()


@maintenance_app.command("delete")
def maintenance_delete(window_id: int, config: Config = None) -> None:
    """Delete a window added with ``add`` or the API (by its id from ``list``)."""
    from collector import cli_support
    from collector.incidents import noise

    @cli_support.reported
    def go() -> None:
        with _open(config).write() as conn:
            noise.delete_window(conn, window_id)
        cli_support.out.print(f"Deleted maintenance window {window_id}.")

    go()
