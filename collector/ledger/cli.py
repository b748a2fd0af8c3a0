"""``upkeep ledger show|topup|adjust`` and ``upkeep request create|list|show|approve|reject|start|log-time|complete``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

ledger_app = typer.Typer(
    help="The prepaid points ledger: statements, top-ups, adjustments.", no_args_is_help=True
)
request_app = typer.Typer(
    help="Service requests: estimates, approvals, time, completion.", no_args_is_help=True
)

Config = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="Settings YAML file (default: $UPKEEP_CONFIG).", show_default=False
    ),
]
By = Annotated[str, typer.Option("--by", help="Who does it (recorded with the entry).")]
Client = Annotated[str, typer.Option("--client", help="The client's name.")]


def _ledger(config: Path | None) -> Any:
    from collector import cli_support
    from collector.ledger.runtime import Ledger

    return Ledger(cli_support.store_of(config), cli_support.settings_of(config))


def _points(value: str, name: str = "points") -> int:
    from collector.contracts.model import to_centipoints
    from collector.errors import InvalidArgument

    try:
        return to_centipoints(value)
    except ValueError as exc:
        raise InvalidArgument(f"{name}: {exc}") from None


def _run(func: Any) -> None:
    from collector import cli_support

    cli_support.reported(func)()


def _day(ts: float | None, tz: str = "UTC") -> str:
    """The day of ``ts`` in the contract's zone (a Berlin period starts 23:00 UTC the day before)."""
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d")


def render_statement(s: dict[str, Any]) -> list[str]:
    """The statement as text lines (what ``upkeep ledger show`` prints)."""
    from collector.contracts.model import format_points as p

    tz = s.get("timezone") or "UTC"
    lines = [
        f"Points statement: {s['client']}, period {s['period']}"
        + (
            f" ({_day(s['start'], tz)} to {_day(s['end'] - 1, tz)})"
            if s["start"] is not None and s["end"] is not None
            else ""
        ),
        f"  {'Opening balance':<44}{p(s['opening_balance']):>10}",
    ]
    for entry in s["entries"]:
        ref = entry["incident"] or entry["request"] or ""
        label = f"{_day(entry['ts'], tz)} {entry['kind']:<10} {ref}"
        lines.append(
            f"  {label:<44}{p(entry['centipoints']):>10}  {entry['reason']} [{entry['actor']}]"
        )
        for te in (entry["data"].get("time_entries") or []) if entry["kind"] == "charge" else []:
            what = (
                f"time entry {te['entry_id']}: {te['minutes']} min"
                if te["entry_id"] is not None
                else "minimum charge"
            )
            lines.append(
                f"      {what}, {te['work_type'] or 'default'}, billed {te['billed_seconds'] // 60} min"
                f" at {p(te['rate'])}/h = {p(te['centipoints'])}"
                + (f" — {te['note']}" if te.get("note") and te["entry_id"] is not None else "")
            )
    lines += [
        f"  {'Allotment':<44}{p(s['allotment']):>10}",
        f"  {'Rollover in / out':<44}{p(s['rollover_in']):>10} / {p(s['rollover_out'])}",
        f"  {'Charges':<44}{p(s['charged']):>10}",
        f"  {'Top-ups':<44}{p(s['topped_up']):>10}",
        f"  {'Adjustments':<44}{p(s['adjusted']):>10}",
        f"  {'Expired':<44}{p(s['expired']):>10}",
        f"  {'Closing balance':<44}{p(s['closing_balance']):>10}",
    ]
    if s["overdraft"]:
        lines.append(f"  OVERDRAFT: {p(s['overdraft_centipoints'])} points to invoice")
    return lines


@ledger_app.command("show")
def ledger_show(
    client: Client,
    config: Config = None,
    period: Annotated[
        str | None, typer.Option(help="YYYY-MM (default: the current period).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The statement as JSON.")] = False,
) -> None:
    """Print the points statement of a period."""
    from collector import cli_support

    def go() -> None:
        s = _ledger(config).statement(client, period)
        if as_json:
            cli_support.out.print(json.dumps(s, indent=2), soft_wrap=True)
            return
        for line in render_statement(s):
            cli_support.out.print(line, soft_wrap=True, markup=False)

    _run(go)


@ledger_app.command("topup")
def ledger_topup(
    points: Annotated[str, typer.Argument(help="Points bought, e.g. 10 or 2.5.")],
    client: Client,
    by: By,
    reason: Annotated[str, typer.Option(help="Why (e.g. the invoice number).")],
    config: Config = None,
) -> None:
    """Record points the client bought."""
    from collector import cli_support

    def go() -> None:
        ledger = _ledger(config)
        entry = ledger.topup(client, _points(points), by=by, reason=reason)
        balance = ledger.statement(client)["closing_balance"]
        cli_support.out.print(f"entry {entry}: top-up {points} points; balance {_fmt(balance)}")

    _run(go)


@ledger_app.command("adjust")
def ledger_adjust(
    points: Annotated[str, typer.Argument(help="Points to add (or -N to take away).")],
    client: Client,
    by: By,
    reason: Annotated[str, typer.Option(help="Why.")],
    config: Config = None,
) -> None:
    """Record a correction (who and why)."""
    from collector import cli_support

    def go() -> None:
        ledger = _ledger(config)
        entry = ledger.adjust(client, _points(points), by=by, reason=reason)
        balance = ledger.statement(client)["closing_balance"]
        cli_support.out.print(f"entry {entry}: adjustment {points} points; balance {_fmt(balance)}")

    _run(go)


def _fmt(centipoints: int | None) -> str:
    from collector.contracts.model import format_points

    return "-" if centipoints is None else format_points(centipoints)


# ---------------------------------------------------------------------- requests


def _print_request(r: dict[str, Any]) -> None:
    from collector import cli_support

    cli_support.out.print(
        f"{r['key']}: {r['state']} — {r['title']} (estimate {_fmt(r['estimate_centipoints'])}, "
        f"approved {_fmt(r['approved_centipoints'])}, charged {_fmt(r.get('charged_centipoints'))})",
        soft_wrap=True,
        markup=False,
    )


@request_app.command("create")
def request_create(
    client: Client,
    title: str,
    by: By,
    requested_by: Annotated[str, typer.Option(help="Who at the client asked.")],
    config: Config = None,
    description: Annotated[str, typer.Option()] = "",
    standard: Annotated[
        bool,
        typer.Option(
            "--standard/--non-standard", help="Standard requests are free, need no approval."
        ),
    ] = False,
    work_type: Annotated[str | None, typer.Option(help="e.g. remote, onsite.")] = None,
    estimate_minutes: Annotated[
        int | None, typer.Option(help="Needed for a non-standard request.")
    ] = None,
) -> None:
    """Create a service request (non-standard: estimated and sent for approval)."""
    _run(
        lambda: _print_request(
            _ledger(config).create_request(
                client=client,
                title=title,
                requested_by=requested_by,
                standard=standard,
                actor=by,
                description=description,
                work_type=work_type,
                estimate_minutes=estimate_minutes,
            )
        )
    )


@request_app.command("list")
def request_list(
    config: Config = None,
    client: Annotated[str | None, typer.Option()] = None,
    state: Annotated[str | None, typer.Option()] = None,
) -> None:
    """List service requests, newest first."""

    def go() -> None:
        for r in _ledger(config).list_requests(client=client, state=state):
            _print_request(r)

    _run(go)


@request_app.command("show")
def request_show(key: str, config: Config = None) -> None:
    """One request with its events and time entries (JSON)."""
    from collector import cli_support

    _run(
        lambda: cli_support.out.print(
            json.dumps(_ledger(config).get_request(key), default=str, indent=2), soft_wrap=True
        )
    )


@request_app.command("approve")
def request_approve(
    key: str,
    by: Annotated[str, typer.Option("--by", help="Who at the client approved.")],
    config: Config = None,
    via: Annotated[str, typer.Option(help="phone, api, portal.")] = "phone",
    cap: Annotated[
        str | None, typer.Option(help="Approve up to this many points (default: the estimate).")
    ] = None,
    note: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Record the client's approval (default --via phone); --cap approves more."""
    _run(
        lambda: _print_request(
            _ledger(config).approve(
                key,
                by=by,
                via=via,
                cap=_points(cap, "--cap") if cap is not None else None,
                note=note,
            )
        )
    )


@request_app.command("reject")
def request_reject(
    key: str,
    by: Annotated[str, typer.Option("--by", help="Who at the client rejected.")],
    config: Config = None,
    via: Annotated[str, typer.Option()] = "phone",
    note: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Record the client's rejection."""
    _run(lambda: _print_request(_ledger(config).reject(key, by=by, via=via, note=note)))


@request_app.command("start")
def request_start(key: str, by: By, config: Config = None) -> None:
    """Start work (only once approved)."""
    _run(lambda: _print_request(_ledger(config).start_request(key, by=by)))


@request_app.command("log-time")
def request_log_time(
    key: str,
    minutes: int,
    by: By,
    config: Config = None,
    work_type: Annotated[str | None, typer.Option()] = None,
    note: Annotated[str, typer.Option()] = "",
) -> None:
    """Add a time entry (refused before approval)."""
    _run(
        lambda: _print_request(
            _ledger(config).log_time(key, by=by, minutes=minutes, work_type=work_type, note=note)
        )
    )


@request_app.command("complete")
def request_complete(key: str, by: By, config: Config = None) -> None:
    """Complete the request: charge the actual time, capped at the approval."""
    _run(lambda: _print_request(_ledger(config).complete(key, by=by)))
