"""``upkeep sla compliance --client acme --period 2026-10`` and ``upkeep sla show KEY``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

sla_app = typer.Typer(help="SLA clocks and compliance (docs/sla.md).", no_args_is_help=True)

Config = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="Settings YAML file (default: $UPKEEP_CONFIG).", show_default=False
    ),
]


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"


def _target(counts: dict[str, Any]) -> str:
    return f"{counts['met']:>3} met {counts['breached']:>3} breached {counts['pending']:>3} pending {_pct(counts['percent']):>7}"


@sla_app.command("compliance")
def sla_compliance(
    client: Annotated[str, typer.Option(help="The client.")],
    period: Annotated[str, typer.Option(help="Contract period, YYYY-MM.")],
    config: Config = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON.")] = False,
) -> None:
    """Compliance per priority of the incidents detected in one contract period."""
    from collector import cli_support
    from collector.sla.queries import compliance_for_period

    @cli_support.reported
    def go() -> None:
        figures = compliance_for_period(cli_support.store_of(config), client, period)
        if as_json:
            cli_support.out.print(json.dumps(figures, default=str, indent=2), soft_wrap=True)
            return
        cli_support.out.print(
            f"SLA compliance of {figures['client']}, period {period} "
            f"({figures['start']:%Y-%m-%d} – {figures['end']:%Y-%m-%d}, {figures['timezone']})"
        )
        rows = [*figures["priorities"].items(), ("total", figures["total"])]
        for name, counts in rows:
            cli_support.out.print(
                f"{name:<10} {counts['incidents']:>4} incidents  response: {_target(counts['response'])}"
                f"  resolution: {_target(counts['resolution'])}",
                soft_wrap=True,
            )

    go()


@sla_app.command("show")
def sla_show(key: str, config: Config = None) -> None:
    """One incident's SLA clocks: due times, elapsed, breached, pauses (JSON)."""
    from collector import cli_support
    from collector.sla.queries import incident_sla

    @cli_support.reported
    def go() -> None:
        section = incident_sla(cli_support.store_of(config), key)
        if section is None:
            cli_support.out.print(
                f"{key}: no SLA target applies (no contract, or none for its priority)"
            )
            return
        cli_support.out.print(json.dumps(section, default=str, indent=2), soft_wrap=True)

    go()
