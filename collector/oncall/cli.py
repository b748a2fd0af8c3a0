"""``upkeep oncall who [--at T]``, ``upkeep oncall check FILE…`` and ``upkeep oncall override
add|list|delete`` (docs/oncall.md). Times are shown in each rotation's time zone."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

oncall_app = typer.Typer(
    help="On-call rotations, overrides and who is on call (docs/oncall.md).", no_args_is_help=True
)
override_app = typer.Typer(help="Overrides: swaps and vacation covers.", no_args_is_help=True)
oncall_app.add_typer(override_app, name="override")

Config = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="Settings YAML file (default: $UPKEEP_CONFIG).", show_default=False
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="JSON.")]


def _oncall(config: Path | None) -> Any:
    from collector import cli_support as cli
    from collector.incidents.service import IncidentService
    from collector.oncall.service import Oncall

    settings = cli.settings_of(config)
    store = cli.store_of(config)
    return Oncall(store, settings, IncidentService(store))


def _moment(text: str, tz: str = "UTC") -> float:
    from collector.errors import InvalidArgument

    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidArgument(
            f"{text!r} is not a date and time (use 2026-03-02T09:00+01:00)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(tz))
    return moment.timestamp()


def _local(value: datetime | None, tz: str) -> str:
    return "-" if value is None else value.astimezone(ZoneInfo(tz)).strftime("%a %Y-%m-%d %H:%M %Z")


@oncall_app.command("who")
def who(
    at: Annotated[
        str | None,
        typer.Option("--at", help="The moment (ISO 8601; without a zone: the rotation's)."),
    ] = None,
    config: Config = None,
    as_json: AsJson = False,
) -> None:
    """Who is on call now (or at --at) and who is next, per rotation."""
    from collector import cli_support as cli

    @cli.reported
    def go() -> None:
        oncall = _oncall(config)
        if not oncall.config.rotations:
            cli.err.print("no rotations configured (oncall_paths)")
            raise typer.Exit(1)
        rows: list[dict[str, Any]] = []
        for name, rotation in oncall.config.rotations.items():
            moment = None if at is None else _moment(at, rotation.timezone)
            rows.extend(r for r in oncall.who(moment) if r["rotation"] == name)
        if as_json:
            cli.out.print(json.dumps(rows, default=str, indent=2), soft_wrap=True)
            return
        for r in rows:
            tz = r["timezone"]
            person = r["person"]["name"] if r["person"] else "nobody"
            via = (
                f" (override: {r['override']['reason'] or 'by ' + r['override']['created_by']})"
                if r["override"]
                else ""
            )
            cli.out.print(f"{r['rotation']}: {person}{via} — at {_local(r['at'], tz)}")
            if r["next"]:
                nxt = r["next"]["person"]["name"] if r["next"]["person"] else "nobody"
                cli.out.print(f"  next: {nxt} from {_local(r['next']['at'], tz)}")

    go()


@oncall_app.command("check")
def check(
    paths: Annotated[list[Path], typer.Argument(help="On-call files or folders.")],
) -> None:
    """Validate on-call files (problems as file:line:column)."""
    from collector import cli_support as cli
    from collector.oncall.model import load

    @cli.reported
    def go() -> None:
        found = load(paths)
        cli.out.print(
            f"ok: {len(found.people)} people, {len(found.rotations)} rotations, "
            f"{len(found.policies)} policies, {len(found.channels)} channels"
        )

    go()


@override_app.command("add")
def override_add(
    rotation: Annotated[str, typer.Option(help="The rotation.")],
    person: Annotated[str, typer.Option(help="Who is on call instead.")],
    start: Annotated[str, typer.Option(help="From (ISO 8601; without a zone: the rotation's).")],
    end: Annotated[str, typer.Option(help="Until.")],
    by: Annotated[str, typer.Option("--by", help="Who makes the override (recorded).")],
    replaces: Annotated[
        str | None, typer.Option(help="Only while this person would be on call.")
    ] = None,
    reason: Annotated[str, typer.Option(help="Why (vacation, swap, …).")] = "",
    config: Config = None,
) -> None:
    """Put someone on call in a rotation for a while."""
    from collector import cli_support as cli

    @cli.reported
    def go() -> None:
        oncall = _oncall(config)
        tz = (
            oncall.config.rotations[rotation].timezone
            if rotation in oncall.config.rotations
            else "UTC"
        )
        made = oncall.add_override(
            rotation=rotation,
            person=person,
            start=_moment(start, tz),
            end=_moment(end, tz),
            replaces=replaces,
            reason=reason,
            actor=by,
        )
        cli.out.print(
            f"override {made['id']}: {person} in {rotation}, {_local(made['start'], tz)} – {_local(made['end'], tz)}"
        )

    go()


@override_app.command("list")
def override_list(
    config: Config = None,
    as_json: AsJson = False,
    past: Annotated[bool, typer.Option("--past", help="Also overrides that ended.")] = False,
) -> None:
    """Overrides that have not ended (files and API/CLI/UI)."""
    from collector import cli_support as cli

    @cli.reported
    def go() -> None:
        oncall = _oncall(config)
        rows = oncall.list_overrides(include_past=past)
        if as_json:
            cli.out.print(json.dumps(rows, default=str, indent=2), soft_wrap=True)
            return
        for r in rows:
            tz = (
                oncall.config.rotations[r["rotation"]].timezone
                if r["rotation"] in oncall.config.rotations
                else "UTC"
            )
            cli.out.print(
                f"{r['id']:>6} {r['rotation']}: {r['person']}"
                f"{' for ' + r['replaces'] if r['replaces'] else ''} {_local(r['start'], tz)} – {_local(r['end'], tz)}"
                f" ({r['reason'] or '-'}; by {r['created_by'] or '-'})"
            )

    go()


@override_app.command("delete")
def override_delete(
    number: Annotated[int, typer.Argument(help="The override's id.")],
    by: Annotated[str, typer.Option("--by", help="Who deletes it (recorded).")],
    config: Config = None,
) -> None:
    """Withdraw an override made through the API/CLI/UI (file overrides: edit the file)."""
    from collector import cli_support as cli

    @cli.reported
    def go() -> None:
        _oncall(config).delete_override(number, by)
        cli.out.print(f"override {number} deleted")

    go()
