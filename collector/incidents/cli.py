"""``upkeep incident list|show|ack|assign|comment|log-time|cause|resolve|close|reopen|wait|resume|priority|charge``.

The commands work on the store like the other admin commands; the running collector's
outbox workers deliver what they write (within a few seconds).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

incident_app = typer.Typer(
    help="Incidents: list, show, and work them as a technician.", no_args_is_help=True
)

Config = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="Settings YAML file (default: $UPKEEP_CONFIG).", show_default=False
    ),
]
By = Annotated[str, typer.Option("--by", help="Who does it (recorded in the event).")]


def _service(config: Path | None) -> Any:
    from collector import cli_support
    from collector.incidents.runtime import attach_contract_listeners
    from collector.incidents.service import IncidentService

    settings = cli_support.settings_of(config)
    service = IncidentService(
        cli_support.store_of(config),
        settings.connectors_config(),
        reopen_window=settings.incidents_reopen_window,
    )
    attach_contract_listeners(
        service, settings
    )  # the same listeners as the server (no rule metrics)
    return service


def _run(config: Path | None, key: str, action: str, by: str, **args: Any) -> None:
    from collector import cli_support

    @cli_support.reported
    def go() -> None:
        event = _service(config).act(key, action, by, **args)
        cli_support.out.print(f"{key}: {event}")

    go()


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


@incident_app.command("list")
def incident_list(
    config: Config = None,
    client: Annotated[str | None, typer.Option(help="Only this client.")] = None,
    state: Annotated[
        str | None, typer.Option(help="open, acknowledged, resolved, closed, …")
    ] = None,
    priority: Annotated[str | None, typer.Option()] = None,
    origin: Annotated[str | None, typer.Option(help="proactive, external, user_reported")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False,
) -> None:
    """List incidents, newest first."""
    from collector import cli_support

    @cli_support.reported
    def go() -> None:
        rows = _service(config).list(client=client, state=state, priority=priority, origin=origin)
        for r in rows:
            if as_json:
                cli_support.out.print(json.dumps(r, default=str), soft_wrap=True)
            else:
                cli_support.out.print(
                    f"{r['key']:<24} {r['state']:<13} {r['priority']:<9} {r['origin']:<13} "
                    f"{_when(r['opened_at'])}  {r['asset'] or '-'}  {r['title']}",
                    soft_wrap=True,
                )

    go()


@incident_app.command("show")
def incident_show(key: str, config: Config = None) -> None:
    """One incident with its events, tickets and outbox rows (JSON)."""
    from collector import cli_support

    @cli_support.reported
    def go() -> None:
        cli_support.out.print(
            json.dumps(_service(config).get(key), default=str, indent=2), soft_wrap=True
        )

    go()


@incident_app.command("ack")
def incident_ack(key: str, by: By, config: Config = None) -> None:
    """Acknowledge an open incident."""
    _run(config, key, "acknowledge", by)


@incident_app.command("assign")
def incident_assign(key: str, assignee: str, by: By, config: Config = None) -> None:
    """Assign the incident to a technician."""
    _run(config, key, "assign", by, assignee=assignee)


@incident_app.command("comment")
def incident_comment(key: str, body: str, by: By, config: Config = None) -> None:
    """Add a comment (mirrored once to the ticket systems)."""
    _run(config, key, "comment", by, body=body)


@incident_app.command("log-time")
def incident_log_time(
    key: str,
    minutes: int,
    by: By,
    config: Config = None,
    work_type: Annotated[str | None, typer.Option(help="e.g. remote, onsite.")] = None,
    note: Annotated[str, typer.Option()] = "",
) -> None:
    """Add a time entry (minutes, work type, note)."""
    _run(config, key, "time_entry", by, minutes=minutes, work_type=work_type, note=note)


@incident_app.command("cause")
def incident_cause(key: str, cause: str, by: By, config: Config = None) -> None:
    """Set the cause: wear, hardware, software, client_error, third_party, provider, unknown."""
    _run(config, key, "cause", by, cause=cause)


@incident_app.command("resolve")
def incident_resolve(
    key: str,
    by: By,
    config: Config = None,
    note: Annotated[str | None, typer.Option(help="Resolution note.")] = None,
) -> None:
    """Resolve the incident with a resolution note."""
    _run(config, key, "resolve", by, note=note)


@incident_app.command("close")
def incident_close(
    key: str, by: By, config: Config = None, note: Annotated[str | None, typer.Option()] = None
) -> None:
    """Close the incident (resolving it first if needed)."""
    _run(config, key, "close", by, note=note)


@incident_app.command("reopen")
def incident_reopen(key: str, by: By, config: Config = None) -> None:
    """Reopen a resolved or closed incident."""
    _run(config, key, "reopen", by)


_WAIT_REASONS = {
    "client": "waiting_for_client",
    "third_party": "waiting_for_third_party",
    "third-party": "waiting_for_third_party",
}


@incident_app.command("wait")
def incident_wait(
    key: str,
    by: By,
    config: Config = None,
    reason: Annotated[
        str, typer.Option(help="client or third_party (what it waits for).")
    ] = "client",
    note: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Put the incident in a waiting state: its SLA clocks pause until resume."""
    _run(config, key, "wait", by, reason=_WAIT_REASONS.get(reason, reason), note=note)


@incident_app.command("resume")
def incident_resume(
    key: str, by: By, config: Config = None, note: Annotated[str | None, typer.Option()] = None
) -> None:
    """End the wait: the incident is acknowledged again and its SLA clocks run on."""
    _run(config, key, "resume", by, note=note)


@incident_app.command("priority")
def incident_priority(
    key: str,
    priority: str,
    by: By,
    config: Config = None,
    note: Annotated[str | None, typer.Option(help="Why.")] = None,
) -> None:
    """Change the priority (critical, major, minor, technical); SLA targets follow, pauses kept."""
    _run(config, key, "priority", by, priority=priority, note=note)


@incident_app.command("charge")
def incident_charge(
    key: str,
    by: By,
    reason: Annotated[str, typer.Option(help="Why (shown on the statement).")],
    config: Config = None,
    free: Annotated[bool, typer.Option("--free", help="Charge nothing.")] = False,
    charged: Annotated[bool, typer.Option("--charged", help="Charge time × rate.")] = False,
    points: Annotated[str | None, typer.Option(help="Charge exactly this many points.")] = None,
) -> None:
    """Override the incident's points charge (free, charged, or --points N), with a reason."""
    from collector import cli_support
    from collector.contracts.model import to_centipoints
    from collector.errors import InvalidArgument

    @cli_support.reported
    def go() -> None:
        if [free, charged, points is not None].count(True) != 1:
            raise InvalidArgument("give one of --free, --charged, --points N")
        amount = None
        if points is not None:
            try:
                amount = to_centipoints(points)
            except ValueError as exc:
                raise InvalidArgument(f"--points: {exc}") from None
        mode = "free" if free else "charged" if charged else "amount"
        event = _service(config).act(
            key, "charge", by, mode=mode, centipoints=amount, reason=reason
        )
        cli_support.out.print(f"{key}: {event}")

    go()
